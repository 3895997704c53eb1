package etcd

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/etcdplay/etcdplay/engine"
)

// Inventory variables of installing etcd from its release tarballs.
const (
	VarVersion    = "etcd_version"     // the release to install, e.g. v3.6.16
	VarReleaseURL = "etcd_release_url" // where releases are: BASE/VERSION/FILE; default DefaultReleaseURL
)

// DefaultReleaseURL is where etcd publishes its releases: each release's
// files are at DefaultReleaseURL/VERSION/FILE.
const DefaultReleaseURL = "https://github.com/etcd-io/etcd/releases/download"

// EnvCacheDir names the directory of the control machine's cache
// (default the user's cache directory, ~/.cache/etcdplay); release
// tarballs are kept under its releases/VERSION/, the sums of binaries
// install_etcd read from etcd_src under sha256/.
const EnvCacheDir = "ETCDPLAY_CACHE_DIR"

// sumsFile is the file of a release that lists its files' SHA-256.
const sumsFile = "SHA256SUMS"

// maxTarball bounds a download: etcd's tarballs are tens of megabytes.
const maxTarball = 512 << 20

// releaseArchs maps what uname -m says to the architecture in etcd's
// release names: the Linux builds etcd publishes.
var releaseArchs = map[string]string{
	"x86_64":  "amd64",
	"amd64":   "amd64",
	"aarch64": "arm64",
	"arm64":   "arm64",
	"ppc64le": "ppc64le",
	"s390x":   "s390x",
}

// ReleaseArch is the architecture etcd's release tarballs name the
// machine uname -m calls machine (x86_64: amd64, aarch64: arm64); false
// when etcd publishes no Linux build for it.
func ReleaseArch(machine string) (string, bool) {
	a, ok := releaseArchs[strings.TrimSpace(machine)]
	return a, ok
}

var releaseVersionRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)$`)

// ReleaseVersion reads a release's name as etcd tags it: "v3.6.16", or
// "3.6.16" (the v is added). Anything else is an error saying what is
// expected.
func ReleaseVersion(s string) (string, error) {
	m := releaseVersionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", fmt.Errorf("%q is not a release of etcd: want one such as v3.6.16", s)
	}
	return "v" + m[1], nil
}

// ReleaseTarball is the name of a release's Linux tarball for arch:
// etcd-v3.6.16-linux-amd64.tar.gz.
func ReleaseTarball(version, arch string) string {
	return "etcd-" + version + "-linux-" + arch + ".tar.gz"
}

// ParseSums reads a sha256sum-format file (SHA256SUMS of a release): one
// "HEX  NAME" a line ("*NAME" for binary mode), blank lines ignored. It
// returns the SHA-256 of each name; a line of another form is an error
// naming it.
func ParseSums(text string) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || len(f[0]) != sha256.Size*2 {
			return nil, fmt.Errorf("line %d: %q is not \"SHA-256  FILE\"", n, line)
		}
		if _, err := hex.DecodeString(f[0]); err != nil {
			return nil, fmt.Errorf("line %d: %q is not a hex SHA-256", n, f[0])
		}
		sums[strings.TrimPrefix(f[1], "*")] = strings.ToLower(f[0])
	}
	return sums, sc.Err()
}

// releaseArchsIn are the Linux architectures a release's SHA256SUMS has
// tarballs of, for messages.
func releaseArchsIn(sums map[string]string, version string) []string {
	var archs []string
	prefix := "etcd-" + version + "-linux-"
	for name := range sums {
		if a, ok := strings.CutPrefix(name, prefix); ok {
			if a, ok := strings.CutSuffix(a, ".tar.gz"); ok {
				archs = append(archs, a)
			}
		}
	}
	slices.Sort(archs)
	return archs
}

// Release is a release tarball on the control machine, verified against
// its release's SHA256SUMS.
type Release struct {
	Version string // v3.6.16
	Arch    string // amd64
	Path    string // the tarball in the cache
	SHA256  string
	// From is where it was fetched from this time, "" when the cache had
	// it.
	From string
}

// ReleaseCacheDir is where the control machine keeps release tarballs:
// $ETCDPLAY_CACHE_DIR/releases, else etcdplay/releases in the user's
// cache directory.
func ReleaseCacheDir() (string, error) {
	d, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for release tarballs (set %s): %w", EnvCacheDir, err)
	}
	return filepath.Join(d, "releases"), nil
}

// CacheDir is the root of the control machine's cache: EnvCacheDir, else
// etcdplay in the user's cache directory.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "etcdplay"), nil
}

// CachedReleases are the versions with a Linux tarball for arch in the
// cache that verify against the SHA256SUMS cached with them, newest
// first.
func CachedReleases(arch string) []string {
	dir, err := ReleaseCacheDir()
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir(dir)
	var out []Version
	names := map[Version]string{}
	for _, e := range entries {
		if _, err := cachedRelease(dir, e.Name(), arch); err == nil {
			if v, ok := ParseVersion(e.Name()); ok {
				out = append(out, v)
				names[v] = e.Name()
			}
		}
	}
	slices.SortFunc(out, func(a, b Version) int { return b.Compare(a) })
	var vs []string
	for _, v := range out {
		vs = append(vs, names[v])
	}
	return vs
}

// fetchLocks keeps two calls of one run (its hosts are planned in
// parallel) from fetching one tarball twice.
var fetchLocks = struct {
	sync.Mutex
	m map[string]*sync.Mutex
}{m: map[string]*sync.Mutex{}}

func fetchLock(key string) *sync.Mutex {
	fetchLocks.Lock()
	defer fetchLocks.Unlock()
	if fetchLocks.m[key] == nil {
		fetchLocks.m[key] = &sync.Mutex{}
	}
	return fetchLocks.m[key]
}

// FetchRelease returns the tarball of release version for arch: from the
// control machine's cache when it is there and matches the SHA256SUMS
// cached with it, else fetched from base (BASE/VERSION/FILE; http, https
// or file URLs) with the release's SHA256SUMS, verified, and cached. A
// release that cannot be shown to be the one asked for (no such release
// or architecture at base, a checksum that differs) is refused, naming
// what was expected; nothing is cached then. progress, if not nil, is
// told of a download.
func FetchRelease(ctx context.Context, base, version, arch string, progress func(format string, args ...any)) (*Release, error) {
	version, err := ReleaseVersion(version)
	if err != nil {
		return nil, engine.BadInput("%s: %v", VarVersion, err)
	}
	if base == "" {
		base = DefaultReleaseURL
	}
	root, err := ReleaseCacheDir()
	if err != nil {
		return nil, err
	}
	mu := fetchLock(version + "/" + arch)
	mu.Lock()
	defer mu.Unlock()
	if r, err := cachedRelease(root, version, arch); err == nil {
		return r, nil
	}

	name := ReleaseTarball(version, arch)
	dir := strings.TrimRight(base, "/") + "/" + version + "/"
	sumsText, err := fetchSmall(ctx, dir+sumsFile)
	if err != nil {
		var nf notFound
		if errors.As(err, &nf) {
			return nil, engine.Refuse("no etcd release %s at %s (%s: %v): check %s (a release such as v3.6.16) and %s; nothing was installed",
				version, base, dir+sumsFile, err, VarVersion, VarReleaseURL)
		}
		return nil, engine.Refuse("the release %s cannot be checked: %v; nothing was installed", version, err)
	}
	sums, err := ParseSums(sumsText)
	if err != nil {
		return nil, engine.Refuse("%s%s: %v; nothing was installed", dir, sumsFile, err)
	}
	want, ok := sums[name]
	if !ok {
		return nil, engine.Refuse("etcd %s has no Linux build for %s: %s%s lists no %s (it has %s); nothing was installed",
			version, arch, dir, sumsFile, name, orWord(strings.Join(releaseArchsIn(sums, version), ", "), "no Linux tarball"))
	}
	vdir := filepath.Join(root, version)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return nil, err
	}
	if progress != nil {
		progress("fetching %s from %s", name, dir)
	}
	tmp, got, err := download(ctx, dir+name, vdir)
	if err != nil {
		var nf notFound
		if errors.As(err, &nf) {
			return nil, engine.Refuse("%s%s lists %s, but %s%s: %v; nothing was installed", dir, sumsFile, name, dir, name, err)
		}
		return nil, engine.Refuse("%s cannot be fetched: %v; nothing was installed", dir+name, err)
	}
	if got != want {
		os.Remove(tmp)
		return nil, engine.Refuse("%s from %s has SHA-256 %s, and the release's %s says %s: the download is damaged or not etcd's release; nothing was installed",
			name, dir, got, sumsFile, want)
	}
	final := filepath.Join(vdir, name)
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(vdir, sumsFile), []byte(sumsText), 0o600); err != nil {
		return nil, err
	}
	return &Release{Version: version, Arch: arch, Path: final, SHA256: got, From: dir}, nil
}

// cachedRelease is the cached tarball of version for arch when it matches
// the SHA256SUMS cached with it.
func cachedRelease(root, version, arch string) (*Release, error) {
	name := ReleaseTarball(version, arch)
	vdir := filepath.Join(root, version)
	b, err := os.ReadFile(filepath.Join(vdir, sumsFile))
	if err != nil {
		return nil, err
	}
	sums, err := ParseSums(string(b))
	if err != nil {
		return nil, err
	}
	want, ok := sums[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	p := filepath.Join(vdir, name)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	// Each host's install asks: the tarball is hashed once a run while
	// it stays as it was.
	key := verifiedKey{p, want, fi.Size(), fi.ModTime().UnixNano()}
	verified.Lock()
	ok = verified.m[key]
	verified.Unlock()
	if !ok {
		got, err := FileSHA256(p)
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, fmt.Errorf("%s: SHA-256 %s, %s says %s", p, got, sumsFile, want)
		}
		verified.Lock()
		verified.m[key] = true
		verified.Unlock()
	}
	return &Release{Version: version, Arch: arch, Path: p, SHA256: want}, nil
}

// verified are the cached tarballs whose sum this run checked: path, the
// sum, size and modification time.
var verified = struct {
	sync.Mutex
	m map[verifiedKey]bool
}{m: map[verifiedKey]bool{}}

type verifiedKey struct {
	path, sum   string
	size, mtime int64
}

// FileSHA256 is the hex SHA-256 of a file on the control machine.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// notFound is a release file the server says it does not have.
type notFound struct{ status string }

func (e notFound) Error() string { return e.status }

// httpClient fetches release files: a server that does not answer within
// 30s is an error; a body may take as long as it takes (ctx ends it).
var httpClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}()}

// open opens a release file at an http, https or file URL.
func open(ctx context.Context, u string) (io.ReadCloser, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	switch pu.Scheme {
	case "file":
		f, err := os.Open(pu.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound{"no such file"}
		}
		return f, err
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
				return nil, notFound{"HTTP " + resp.Status}
			}
			return nil, fmt.Errorf("HTTP %s", resp.Status)
		}
		return resp.Body, nil
	}
	return nil, engine.BadInput("%s %q: want an http, https or file URL", VarReleaseURL, u)
}

// fetchSmall reads a small release file (SHA256SUMS) whole.
func fetchSmall(ctx context.Context, u string) (string, error) {
	r, err := open(ctx, u)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	return string(b), err
}

// download writes the file at u into a temporary file in dir, hashing it
// as it comes, and returns the file and its SHA-256.
func download(ctx context.Context, u, dir string) (string, string, error) {
	r, err := open(ctx, u)
	if err != nil {
		return "", "", err
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, maxTarball+1))
	if err == nil && n > maxTarball {
		err = fmt.Errorf("larger than %d MB", maxTarball>>20)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", err
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}
