package labtest

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/etcdplay/etcdplay/etcd"
)

// ReleaseServer serves etcd releases over HTTP on loopback, laid out as
// etcd publishes them: URL/VERSION/etcd-VERSION-linux-ARCH.tar.gz (a
// directory etcd-VERSION-linux-ARCH/ holding the binaries) and
// URL/VERSION/SHA256SUMS, for the lab hosts' architecture (the control
// machine's).
type ReleaseServer struct {
	URL string
	// FileURL is the same releases as a file URL.
	FileURL string
	Arch    string
	root    string
}

// ServeReleases makes a release of each version from the directory of
// binaries releases gives it (etcd, etcdctl, etcdutl) and serves them
// until the test ends.
func ServeReleases(tb testing.TB, releases map[string]string) *ReleaseServer {
	tb.Helper()
	s := &ReleaseServer{Arch: runtime.GOARCH, root: tb.TempDir()}
	for version, dir := range releases {
		vdir := filepath.Join(s.root, version)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			tb.Fatal(err)
		}
		name := s.Tarball(version)
		sum, err := writeRelease(filepath.Join(vdir, name), "etcd-"+version+"-linux-"+s.Arch, dir)
		if err != nil {
			tb.Fatalf("release %s from %s: %v", version, dir, err)
		}
		s.setSum(tb, version, sum)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(s.root))}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	s.URL = "http://" + ln.Addr().String()
	s.FileURL = "file://" + s.root
	return s
}

// Tarball is the name of version's tarball.
func (s *ReleaseServer) Tarball(version string) string {
	return etcd.ReleaseTarball(version, s.Arch)
}

// Path is where version's tarball is served from.
func (s *ReleaseServer) Path(version string) string {
	return filepath.Join(s.root, version, s.Tarball(version))
}

// setSum writes version's SHA256SUMS with sum for its tarball (and a
// line of another platform, as a release has).
func (s *ReleaseServer) setSum(tb testing.TB, version, sum string) {
	tb.Helper()
	text := fmt.Sprintf("%s  %s\n%064x  etcd-%s-darwin-arm64.zip\n", sum, s.Tarball(version), 0, version)
	if err := os.WriteFile(filepath.Join(s.root, version, "SHA256SUMS"), []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Corrupt flips a byte in the middle of version's tarball, its
// SHA256SUMS left as the release's; called again, it flips it back.
func (s *ReleaseServer) Corrupt(tb testing.TB, version string) {
	tb.Helper()
	f, err := os.OpenFile(s.Path(version), os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	b := make([]byte, 1)
	f.ReadAt(b, st.Size()/2)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, st.Size()/2); err != nil {
		tb.Fatal(err)
	}
}

// WrongSum lists another SHA-256 for version's tarball in its SHA256SUMS.
func (s *ReleaseServer) WrongSum(tb testing.TB, version string) {
	tb.Helper()
	s.setSum(tb, version, fmt.Sprintf("%064x", 1))
}

// Fix puts back the SHA256SUMS of version's tarball as it is now.
func (s *ReleaseServer) Fix(tb testing.TB, version string) {
	tb.Helper()
	sum, err := etcd.FileSHA256(s.Path(version))
	if err != nil {
		tb.Fatal(err)
	}
	s.setSum(tb, version, sum)
}

// writeRelease writes a gzipped tarball of the binaries in dir under
// top/, as etcd's release tarballs are, and returns its SHA-256.
func writeRelease(file, top, dir string) (string, error) {
	f, err := os.Create(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, h), gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: top + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	for _, n := range []string{"etcd", "etcdctl", "etcdutl"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + n, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(b); err != nil {
			return "", err
		}
	}
	readme := []byte("etcd release, made by the lab tests from the binaries of " + filepath.Base(dir) + "\n")
	tw.WriteHeader(&tar.Header{Name: top + "/README.md", Mode: 0o644, Size: int64(len(readme)), Typeflag: tar.TypeReg})
	tw.Write(readme)
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}
