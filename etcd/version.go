package etcd

import (
	"cmp"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is an etcd release version, major.minor.patch.
type Version struct {
	Major, Minor, Patch int
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads "3.6.16", "v3.6.16" or "3.6" (patch 0).
func ParseVersion(s string) (Version, bool) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, false
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, true
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// MinorString is "3.6".
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// SameMinor reports whether v and w are one release line (3.6.x).
func (v Version) SameMinor(w Version) bool { return v.Major == w.Major && v.Minor == w.Minor }

// Compare is -1, 0 or +1 as v is older than, the same as or newer than w.
func (v Version) Compare(w Version) int {
	return cmp.Or(cmp.Compare(v.Major, w.Major), cmp.Compare(v.Minor, w.Minor), cmp.Compare(v.Patch, w.Patch))
}

// VersionStep is what taking a cluster from one etcd version to another
// is.
type VersionStep int

const (
	NoStep         VersionStep = iota // the same version
	PatchUpgrade                      // a newer patch release of the same minor
	MinorUpgrade                      // the next minor release
	MinorDowngrade                    // the previous minor, by etcd's downgrade procedure
)

func (s VersionStep) String() string {
	return [...]string{"no change", "patch upgrade", "minor upgrade", "downgrade"}[s]
}

// upgradeFloor is, for a minor upgrade, the oldest patch release of the
// minor upgraded from that etcd's upgrade guide lets upgrade: older ones
// carry bugs that break the upgrade (3.5.1 to 3.5.19 may turn voters into
// learners, etcd issue 19557, fixed in 3.5.20; the guide now asks for
// 3.5.26, whose patches 3.5.24 to 3.5.26 fix more upgrade blockers).
var upgradeFloor = map[string]Version{
	"3.5": {3, 5, 26},
	"3.6": {3, 6, 11},
}

// downgradeFrom are the minors etcd downgrades by its downgrade procedure
// (etcdctl downgrade validate and enable, then each member's binary
// replaced): from 3.6 on, to the minor before.
var downgradeFrom = Version{3, 6, 0}

// VersionStepOf says what taking a cluster whose members run from to to is, or,
// when etcd does not support that step, why not and what to do instead.
// Upgrades go one minor at a time, or to a newer patch of the same minor;
// a minor upgrade starts from a patch release the upgrade guide names; a
// downgrade goes to the previous minor only where etcd's downgrade
// procedure supports it (3.6 to 3.5), to a patch release that could
// upgrade again.
func VersionStepOf(from, to Version) (VersionStep, error) {
	switch {
	case from == to:
		return NoStep, nil
	case from.Major != to.Major:
		return 0, fmt.Errorf("etcd %s to %s changes the major version, which etcd supports by no rolling procedure", from, to)
	case from.Minor == to.Minor && to.Patch > from.Patch:
		return PatchUpgrade, nil
	case from.Minor == to.Minor:
		return 0, fmt.Errorf("etcd %s to %s goes back a patch release, for which etcd has no procedure (its downgrade procedure goes to the previous minor); stay on %s, or install a newer patch", from, to, from)
	case to.Minor == from.Minor+1:
		if floor, ok := upgradeFloor[from.MinorString()]; ok && from.Compare(floor) < 0 {
			return 0, fmt.Errorf("etcd %s to %s: etcd's upgrade guide asks every member to run %s or later first (earlier %s releases have bugs that break the upgrade): upgrade to the latest %s.x first",
				from, to, floor, from.MinorString(), from.MinorString())
		}
		return MinorUpgrade, nil
	case to.Minor > from.Minor:
		next := Version{from.Major, from.Minor + 1, 0}
		return 0, fmt.Errorf("etcd %s to %s skips a minor version: etcd upgrades one minor at a time; upgrade to the latest %s.x first, then to %s",
			from, to, next.MinorString(), to.MinorString())
	case to.Minor == from.Minor-1 && from.Compare(downgradeFrom) >= 0:
		if floor, ok := upgradeFloor[to.MinorString()]; ok && to.Compare(floor) < 0 {
			return 0, fmt.Errorf("etcd %s to %s: downgrade to %s or later, a %s release that can be upgraded again", from, to, floor, to.MinorString())
		}
		return MinorDowngrade, nil
	case to.Minor == from.Minor-1:
		return 0, fmt.Errorf("etcd %s to %s is a downgrade that etcd's downgrade procedure does not support (it starts at %s); restore a snapshot taken before the upgrade instead (etcdplay run restore)",
			from, to, downgradeFrom.MinorString())
	}
	return 0, fmt.Errorf("etcd %s to %s goes back more than one minor version: etcd downgrades one minor at a time", from, to)
}

// etcdVersionModules are the modules whose version is etcd's in a binary
// built from the module proxy: version.Version lives in the api module.
var etcdVersionModules = []string{"go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3"}

// BinaryVersion is the etcd version of an etcd, etcdctl or etcdutl binary
// on the control machine: from its Go build information when it was built
// as a user of the etcd modules (as make etcd builds it), else from
// running it with --version when it is built for this machine (a release
// binary). "" when neither tells.
//
// A run asks for each host: the answer is kept while the file's size and
// modification time stay (running a release's etcd takes some 20 ms).
func BinaryVersion(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := binaryKey{path, fi.Size(), fi.ModTime().UnixNano()}
	binaryVersions.Lock()
	v, ok := binaryVersions.m[key]
	binaryVersions.Unlock()
	if ok {
		return v.version, v.err
	}
	version, err := binaryVersion(path)
	binaryVersions.Lock()
	binaryVersions.m[key] = versionResult{version, err}
	binaryVersions.Unlock()
	return version, err
}

type binaryKey struct {
	path        string
	size, mtime int64
}

type versionResult struct {
	version string
	err     error
}

var binaryVersions = struct {
	sync.Mutex
	m map[binaryKey]versionResult
}{m: map[binaryKey]versionResult{}}

func binaryVersion(path string) (string, error) {
	if info, err := buildinfo.ReadFile(path); err == nil {
		if v := buildVersion(info); v != "" {
			return v, nil
		}
	}
	if !runsHere(path) {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	return versionLine(string(out)), nil
}

// buildVersion is the version of an etcd module in the binary's build
// information, "" when it has none that is a release.
func buildVersion(info *debug.BuildInfo) string {
	mods := []debug.Module{info.Main}
	for _, d := range info.Deps {
		mods = append(mods, *d)
	}
	for _, want := range etcdVersionModules {
		for _, m := range mods {
			if m.Path != want || m.Version == "(devel)" || strings.Contains(m.Version, "-0.") {
				continue
			}
			if v, ok := ParseVersion(m.Version); ok {
				return v.String()
			}
		}
	}
	return ""
}

// runsHere reports whether an ELF binary is for this machine.
func runsHere(path string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	switch runtime.GOARCH {
	case "amd64":
		return f.Machine == elf.EM_X86_64
	case "arm64":
		return f.Machine == elf.EM_AARCH64
	}
	return false
}

// versionLine finds the version in etcd --version output ("etcd Version:
// 3.6.16"), etcdctl's ("etcdctl version: 3.6.16") or etcdutl's.
func versionLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.Contains(strings.ToLower(k), "version") || strings.Contains(strings.ToLower(k), "api") || strings.Contains(strings.ToLower(k), "go ") {
			continue
		}
		if pv, ok := ParseVersion(v); ok {
			return pv.String()
		}
	}
	return ""
}

// VersionFromOutput reads the version in what etcd --version printed.
func VersionFromOutput(out string) string { return versionLine(out) }

// Versions are what a member says of versions at its client URL's
// /version: its own (the server's) and the cluster's, the version the
// cluster runs at (the lowest of its members', as major.minor.0, once
// every member has said).
type Versions struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// Versions reads /version of the member at client URL u, by the route the
// session dials u (a member's /version needs no authentication).
func (s *Session) Versions(ctx context.Context, u string) (Versions, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
		return Versions{}, fmt.Errorf("client URL %q: /version is read over http or https only", u)
	}
	r, paths := s.route(u), s.paths
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return r.dial(ctx, paths, addr)
		},
		DisableKeepAlives: true,
	}
	if s.TLS != nil {
		tr.TLSClientConfig = s.TLS.Clone()
	}
	defer tr.CloseIdleConnections()
	rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimRight(u, "/")+"/version", nil)
	if err != nil {
		return Versions{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Versions{}, fmt.Errorf("%s/version: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Versions{}, fmt.Errorf("%s/version: HTTP %s", u, resp.Status)
	}
	var v Versions
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v); err != nil {
		return Versions{}, fmt.Errorf("%s/version: %w", u, err)
	}
	return v, nil
}
