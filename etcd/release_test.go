package etcd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/etcdplay/etcdplay/engine"
)

func TestReleaseArch(t *testing.T) {
	for machine, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x\n"} {
		got, ok := ReleaseArch(machine)
		if !ok || got != strings.TrimSpace(want) {
			t.Errorf("ReleaseArch(%q) = %q, %v; want %q", machine, got, ok, want)
		}
	}
	for _, machine := range []string{"armv7l", "i686", "riscv64", ""} {
		if got, ok := ReleaseArch(machine); ok {
			t.Errorf("ReleaseArch(%q) = %q: etcd publishes no Linux build for it", machine, got)
		}
	}
}

func TestReleaseVersion(t *testing.T) {
	for in, want := range map[string]string{"v3.6.16": "v3.6.16", "3.6.16": "v3.6.16", " v3.5.35 ": "v3.5.35", "v3.6.0-rc.1": "v3.6.0-rc.1"} {
		got, err := ReleaseVersion(in)
		if err != nil || got != want {
			t.Errorf("ReleaseVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"3.6", "latest", "v3.6.16/../x", "v3.6.16 v3.6.15", ""} {
		if got, err := ReleaseVersion(in); err == nil {
			t.Errorf("ReleaseVersion(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseSums(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("CD", 32)
	sums, err := ParseSums(a + "  etcd-v3.6.16-linux-amd64.tar.gz\n\n" + b + " *etcd-v3.6.16-linux-arm64.tar.gz\n")
	if err != nil {
		t.Fatal(err)
	}
	if sums["etcd-v3.6.16-linux-amd64.tar.gz"] != a || sums["etcd-v3.6.16-linux-arm64.tar.gz"] != strings.ToLower(b) || len(sums) != 2 {
		t.Errorf("sums = %v", sums)
	}
	if got := releaseArchsIn(sums, "v3.6.16"); strings.Join(got, ",") != "amd64,arm64" {
		t.Errorf("archs = %v", got)
	}
	for _, bad := range []string{"abc  file\n", a + "\n", strings.Repeat("zz", 32) + "  file\n", "<html>Not Found</html>\n"} {
		if _, err := ParseSums(bad); err == nil {
			t.Errorf("ParseSums(%q): want an error", bad)
		}
	}
}

// releaseDir lays out a release as etcd publishes one: DIR/VERSION/ with
// the tarball and SHA256SUMS; sum overrides the listed checksum.
func releaseDir(t *testing.T, version, arch string, tarball []byte, sum string) string {
	t.Helper()
	dir := t.TempDir()
	vdir := filepath.Join(dir, version)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := ReleaseTarball(version, arch)
	if sum == "" {
		h := sha256.Sum256(tarball)
		sum = hex.EncodeToString(h[:])
	}
	os.WriteFile(filepath.Join(vdir, name), tarball, 0o644)
	os.WriteFile(filepath.Join(vdir, "SHA256SUMS"), []byte(fmt.Sprintf("%s  %s\n%s  etcd-%s-windows-amd64.zip\n", sum, name, strings.Repeat("0", 64), version)), 0o644)
	return dir
}

// serve serves dir over HTTP on loopback and counts the requests.
func serve(t *testing.T, dir string) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	fs := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fs.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), &n
}

func TestFetchRelease(t *testing.T) {
	ctx := context.Background()
	tarball := []byte("a release tarball")
	base, requests := serve(t, releaseDir(t, "v3.6.16", "amd64", tarball, ""))

	t.Run("fetched, then from the cache", func(t *testing.T) {
		t.Setenv(EnvCacheDir, t.TempDir())
		r, err := FetchRelease(ctx, base, "3.6.16", "amd64", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(r.Path); string(b) != string(tarball) || r.From == "" || r.Version != "v3.6.16" {
			t.Fatalf("release %+v holds %q", r, b)
		}
		before := requests.Load()
		again, err := FetchRelease(ctx, base, "v3.6.16", "amd64", nil)
		if err != nil || again.From != "" || again.Path != r.Path {
			t.Fatalf("second fetch: %+v, %v; want the cache's", again, err)
		}
		if requests.Load() != before {
			t.Errorf("the cached release was fetched again")
		}
		if got := CachedReleases("amd64"); len(got) != 1 || got[0] != "v3.6.16" {
			t.Errorf("CachedReleases = %v", got)
		}
		// A cached tarball that no longer matches is fetched again.
		os.WriteFile(r.Path, []byte("damaged"), 0o644)
		if len(CachedReleases("amd64")) != 0 {
			t.Errorf("a damaged tarball is offered from the cache")
		}
		if fixed, err := FetchRelease(ctx, base, "v3.6.16", "amd64", nil); err != nil || fixed.From == "" {
			t.Fatalf("after damage: %+v, %v", fixed, err)
		}
	})

	t.Run("file URL", func(t *testing.T) {
		t.Setenv(EnvCacheDir, t.TempDir())
		dir := releaseDir(t, "v3.6.16", "arm64", tarball, "")
		if _, err := FetchRelease(ctx, "file://"+dir, "v3.6.16", "arm64", nil); err != nil {
			t.Fatal(err)
		}
	})

	refused := []struct {
		name, base, version, arch, want string
	}{
		{"checksum mismatch", serveOnly(t, releaseDir(t, "v3.6.16", "amd64", tarball, strings.Repeat("1", 64))), "v3.6.16", "amd64", "has SHA-256"},
		{"corrupted tarball", corrupted(t, tarball), "v3.6.16", "amd64", "the download is damaged"},
		{"missing arch", base, "v3.6.16", "riscv64", "has no Linux build for riscv64"},
		{"unknown version", base, "v3.6.99", "amd64", "no etcd release v3.6.99"},
		{"no server", "http://127.0.0.1:1", "v3.6.16", "amd64", "cannot be checked"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv(EnvCacheDir, cache)
			_, err := FetchRelease(ctx, c.base, c.version, c.arch, nil)
			if !IsRefused(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want a refusal saying %q", err, c.want)
			}
			left, _ := filepath.Glob(filepath.Join(cache, "releases", "*", "*"))
			if len(left) > 0 {
				t.Errorf("refused, yet the cache holds %v", left)
			}
		})
	}
	if _, err := FetchRelease(ctx, base, "latest", "amd64", nil); engine.KindOf(err) != engine.KindBadInput {
		t.Errorf("version latest: %v; want bad input", err)
	}
}

func serveOnly(t *testing.T, dir string) string {
	base, _ := serve(t, dir)
	return base
}

// corrupted serves a release whose SHA256SUMS is right and whose tarball
// is not the one it lists.
func corrupted(t *testing.T, tarball []byte) string {
	dir := releaseDir(t, "v3.6.16", "amd64", tarball, "")
	bad := append([]byte{}, tarball...)
	bad[3] ^= 0xff
	os.WriteFile(filepath.Join(dir, "v3.6.16", ReleaseTarball("v3.6.16", "amd64")), bad, 0o644)
	return serveOnly(t, dir)
}

func TestVersionStepOf(t *testing.T) {
	v := func(s string) Version {
		x, ok := ParseVersion(s)
		if !ok {
			t.Fatalf("version %q", s)
		}
		return x
	}
	for _, c := range []struct {
		from, to string
		want     VersionStep
		err      string
	}{
		{"3.6.16", "3.6.16", NoStep, ""},
		{"3.6.15", "3.6.16", PatchUpgrade, ""},
		{"3.5.35", "3.6.16", MinorUpgrade, ""},
		{"3.5.26", "3.6.0", MinorUpgrade, ""},
		{"3.5.19", "3.6.16", 0, "3.5.26 or later first"},
		{"3.5.25", "3.6.16", 0, "3.5.26 or later first"},
		{"3.4.23", "3.6.16", 0, "skips a minor version"},
		{"3.6.16", "3.5.35", MinorDowngrade, ""},
		{"3.6.16", "3.5.10", 0, "3.5.26 or later"},
		{"3.6.16", "3.6.15", 0, "goes back a patch release"},
		{"3.5.35", "3.4.23", 0, "does not support"},
		{"3.6.16", "3.4.23", 0, "more than one minor"},
		{"3.6.16", "4.0.0", 0, "major version"},
	} {
		got, err := VersionStepOf(v(c.from), v(c.to))
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s -> %s: %v, %v; want %v", c.from, c.to, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s -> %s: %v, %v; want an error saying %q", c.from, c.to, got, err, c.err)
		}
	}
}
