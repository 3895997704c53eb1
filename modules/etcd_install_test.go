package modules

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

// etcdBinDir is where make etcd puts the pinned etcd and etcdctl.
func etcdBinDir(t *testing.T) string {
	d := os.Getenv("ETCDPLAY_ETCD_DIR")
	if d == "" {
		d = filepath.Join("..", ".cache", "etcd", "v3.6.16")
	}
	if _, err := os.Stat(filepath.Join(d, "etcd")); err != nil {
		t.Skipf("needs etcd and etcdctl binaries in %s (make etcd builds them; ETCDPLAY_ETCD_DIR)", d)
	}
	abs, _ := filepath.Abs(d)
	return abs
}

// installRoot is a directory for install_etcd to install into: outside
// the test's own temporary directory, which the sshd's user (and the
// etcd user install makes) may not enter, and open to both.
func installRoot(t *testing.T, prefix string) string {
	t.Helper()
	root, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	return root
}

func TestInstallEtcdLayoutOverSSH(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	bins := etcdBinDir(t)
	p := newEtcdPlay(t, nil, 1)
	root := installRoot(t, "etcdplay-install-")
	const svc = "etcdplay-e"
	play := `
def main(ctx):
    r = install_etcd("h1", src = ctx.vars["bins"], user = "` + svc + `", bin_dir = ctx.vars["root"] + "/bin",
                     data_dir = ctx.vars["root"] + "/var/lib/etcd", conf_dir = ctx.vars["root"] + "/etc/etcd",
                     unit_dir = ctx.vars["root"] + "/systemd", become = True)
    print("RESULT", r.changed, r.conf_file, r.binaries["etcd"][:12], "installed", r.installed)
`
	vars := map[string]any{"bins": bins, "root": root}
	rec, err := p.run(play, true, vars)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("check mode wrote %v", entries)
	}
	if !strings.Contains(rec.buf.String(), "would install "+root+"/bin/etcd (") {
		t.Errorf("check output:\n%s", rec.buf)
	}
	rec, err = p.run(play, false, vars)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	for _, tc := range []struct {
		path  string
		mode  os.FileMode
		owner string
	}{
		{"bin/etcd", 0o755, "root"},
		{"bin/etcdctl", 0o755, "root"},
		{"var/lib/etcd", 0o700 | os.ModeDir, svc},
		{"etc/etcd", 0o755 | os.ModeDir, "root"},
		{"systemd/etcd.service", 0o644, "root"},
	} {
		fi, err := os.Stat(filepath.Join(root, tc.path))
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
		if o := fileOwner(fi); o != tc.owner {
			t.Errorf("%s: owner %s, want %s", tc.path, o, tc.owner)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(root, "systemd/etcd.service"))
	for _, want := range []string{"Type=notify", "User=" + svc, "EnvironmentFile=" + root + "/etc/etcd/etcd.conf", "ExecStart=" + root + "/bin/etcd"} {
		if !strings.Contains(string(unit), want+"\n") {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if _, err := user.Lookup(svc); err != nil {
		t.Errorf("user %s: %v", svc, err)
	}
	// Idempotent: nothing to do the second time.
	rec, err = p.run(play, false, vars)
	if err != nil || !strings.Contains(rec.buf.String(), "RESULT False") {
		t.Errorf("second run: %v\n%s", err, rec.buf)
	}

	// The sums come from the stamps install left, while the files are
	// the ones stamped: a stamp made to lie is believed (the check run
	// would update etcd), and once the file is touched it is hashed again.
	etcdBin := filepath.Join(root, "bin/etcd")
	stamp, err := os.ReadFile(stampFile(etcdBin))
	if err != nil {
		t.Fatalf("install left no stamp: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(stamp)), "\n")
	if len(lines) != 3 || lines[1] != sha256File(t, etcdBin) || lines[2] != "3.6.16" {
		t.Fatalf("stamp of %s: %q; want its identity, the file's sum %s and version 3.6.16", etcdBin, lines, sha256File(t, etcdBin))
	}
	if err := os.WriteFile(stampFile(etcdBin), []byte(lines[0]+"\n"+strings.Repeat("0", 64)+"\n3.6.99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err = p.run(play, true, vars)
	if err != nil || !strings.Contains(rec.buf.String(), "would update "+etcdBin+" (") || !strings.Contains(rec.buf.String(), "installed 3.6.99") {
		t.Errorf("check run with a stamp of another sum and version: %v\n%s", err, rec.buf)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(etcdBin, later, later); err != nil {
		t.Fatal(err)
	}
	rec, err = p.run(play, true, vars)
	if err != nil || !strings.Contains(rec.buf.String(), "RESULT False") || !strings.Contains(rec.buf.String(), "installed 3.6.16") {
		t.Errorf("check run after the file changed: %v\n%s", err, rec.buf)
	}

	// A release tarball is checked against its checksum before use.
	tarball := filepath.Join(t.TempDir(), "etcd-v3.6.16-linux-amd64.tar.gz")
	writeTarball(t, tarball, bins)
	bad := strings.Replace(play, `src = ctx.vars["bins"]`, `tarball = ctx.vars["tarball"], sha256 = "00"`, 1)
	rec, err = p.run(bad, false, map[string]any{"tarball": tarball, "root": root})
	if err == nil || !strings.Contains(err.Error(), "want 00: the file is damaged") {
		t.Errorf("bad checksum: %v\n%s", err, rec.buf)
	}
	os.WriteFile(filepath.Join(filepath.Dir(tarball), "SHA256SUMS"), []byte(sha256File(t, tarball)+"  "+filepath.Base(tarball)+"\n"), 0o644)
	good := strings.Replace(play, `src = ctx.vars["bins"]`, `tarball = ctx.vars["tarball"]`, 1)
	rec, err = p.run(good, false, map[string]any{"tarball": tarball, "root": root})
	if err != nil || !strings.Contains(rec.buf.String(), "RESULT False") {
		t.Errorf("tarball of the same binaries: %v\n%s", err, rec.buf)
	}
}

// TestInstallEtcdPackageCheckOverSSH plans package=True, in check mode, on
// this machine over the loopback sshd: one without the package, so its
// installation is planned (and, in check mode, not run).
func TestInstallEtcdPackageCheckOverSSH(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("needs a Debian machine (apt-get)")
	}
	if err := exec.Command("dpkg-query", "-W", "etcd-server").Run(); err == nil {
		t.Skip("needs a machine without Debian's etcd-server")
	}
	p := newEtcdPlay(t, nil, 1)
	rec, err := p.run(`
def main(ctx):
    r = install_etcd("h1", package = True, become = True)
    print("RESULT", r.changed, r.bin_dir, r.binaries)
`, true, nil)
	out := rec.buf.String()
	if err != nil || !strings.Contains(out, "would install the Debian packages etcd-server and etcd-client (not started); would disable the package's etcd.service") ||
		!strings.Contains(out, "ExecStart=/usr/bin/etcd") || !strings.Contains(out, "RESULT True /usr/bin {}") {
		t.Errorf("%v\n%s", err, out)
	}
}

func writeTarball(t *testing.T, file, dir string) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range []string{"etcd", "etcdctl"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Name: "etcd-v3.6.16-linux-amd64/" + n, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}

func TestSystemdWithoutSystemd(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("this machine runs systemd; the lab tests cover it")
	}
	p := newEtcdPlay(t, nil, 1)
	rec, err := p.run(`
def main(ctx):
    systemd("h1", unit = "etcd", state = "started")
`, false, nil)
	// The host fails (and leaves the run) with the reason.
	if !strings.Contains(rec.buf.String(), "failed      h1  unit etcd.service: h1 was not booted with systemd (/run/systemd/system is missing") {
		t.Errorf("%v\n%s", err, rec.buf)
	}
}

func TestParseUnitFacts(t *testing.T) {
	f, err := unitFact("etcd.service").Parse("LoadState=loaded\nActiveState=failed\nSubState=failed\nUnitFileState=enabled\nNeedDaemonReload=yes\nFragmentPath=/etc/systemd/system/etcd.service\nNRestarts=3\n")
	if err != nil || f.Load != "loaded" || f.Active != "failed" || !f.NeedReload || f.FileState != "enabled" || f.running() || f.active() || f.Restarts != 3 {
		t.Errorf("%+v %v", f, err)
	}
	// Where systemd does not run the unit's facts are empty.
	if f, err := unitFact("etcd.service").Parse(""); err != nil || f != (unitFacts{}) || f.running() {
		t.Errorf("no systemd: %+v %v", f, err)
	}
	for out, want := range map[string]systemdState{"nosystemctl\n": noSystemctl, "notbooted\n": notBooted, "systemd\n": systemdRuns} {
		if s, err := systemdFact.Parse(out); s != want || err != nil {
			t.Errorf("systemd %q: %q %v", out, s, err)
		}
	}
	if _, err := systemdFact.Parse("sh: 1: systemctl: Permission denied\n"); err == nil {
		t.Error("systemd: garbage parsed")
	}
	// A restart with if_newer= is needed unless the process started after
	// every file last changed.
	mt := map[string]int64{"/etc/etcd/etcd.conf": 100}
	for _, tc := range []struct {
		start int64
		fresh bool
	}{{-1, false}, {99, false}, {100, false}, {101, true}} {
		if fresh, _ := startedAfter(tc.start, mt, []string{"/etc/etcd/etcd.conf", "/etc/etcd/missing"}); fresh != tc.fresh {
			t.Errorf("started at %d: fresh %v", tc.start, fresh)
		}
	}
	if s, err := unitStartFact("etcd.service").Parse("ExecMainStartTimestamp=@1700000000\n"); s != 1700000000 || err != nil {
		t.Errorf("start: %d %v", s, err)
	}
	if s, _ := unitStartFact("etcd.service").Parse("ExecMainStartTimestamp=\n"); s != -1 {
		t.Errorf("never started: %d", s)
	}
	for in, want := range map[string]string{"etcd": "etcd.service", "etcd.service": "etcd.service", "etcd@a": "etcd@a.service", "x.timer": "x.timer"} {
		if got := unitName(in); got != want {
			t.Errorf("unitName(%q) = %q, want %q", in, got, want)
		}
	}
	for u, want := range map[string]bool{"etcd.service": true, "etcd@x.service": true, "etcd-proxy.service": false, "nginx.service": false} {
		if etcdUnitRE.MatchString(u) != want {
			t.Errorf("etcd unit %s: %v", u, !want)
		}
	}
}

// TestPlanPackage plans package=True against facts recorded on Debian 12
// hosts (packageFact's output, and unitFact's of etcd.service).
func TestPlanPackage(t *testing.T) {
	const installed = "pkg=apt-get\npkgok=yes\npkgunit=/usr/lib/systemd/system/etcd.service\n"
	const defaultRunning = installed +
		"pkglink=/etc/systemd/system/multi-user.target.wants/etcd.service\npkglink=/etc/systemd/system/etcd2.service\n" +
		"pkgsvc.ActiveState=active\npkgsvc.FragmentPath=/lib/systemd/system/etcd.service\npkgdata=/var/lib/etcd/default\n"
	for _, tc := range []struct {
		name, facts, dataDir string
		steps                []string // descriptions, each a prefix
		warn, refused, err   string   // substrings; "" for none
	}{
		{
			name:  "fresh host",
			facts: "pkg=apt-get\n",
			steps: []string{"install the Debian packages etcd-server and etcd-client (not started)", "disable the package's etcd.service, which installing it enables"},
		},
		{
			name:  "no package manager",
			facts: "",
			err:   "has neither apt-get, dnf nor yum",
		},
		{
			name:  "installed, default instance running and enabled",
			facts: defaultRunning,
			steps: []string{"stop etcd.service, the package's default instance",
				"disable the package's etcd.service (remove /etc/systemd/system/etcd2.service, /etc/systemd/system/multi-user.target.wants/etcd.service)"},
			warn: "single-member cluster in /var/lib/etcd/default, inside data_dir /var/lib/etcd",
		},
		{
			name:    "the playbooks' data dir beside the package's",
			facts:   defaultRunning,
			dataDir: "/var/lib/etcd/etcd-1.etcd",
			steps:   []string{"stop etcd.service", "disable the package's etcd.service"},
		},
		{
			name:    "installed, configured and running: a member, perhaps",
			facts:   defaultRunning + "pkgconf=/etc/default/etcd\n",
			refused: `etcd.service on etcd-1 is the package's own unit, running and configured in /etc/default/etcd`,
		},
		{
			name:    "installed, configured and enabled",
			facts:   installed + "pkglink=/etc/systemd/system/multi-user.target.wants/etcd.service\npkgsvc.ActiveState=inactive\npkgconf=/etc/default/etcd\n",
			refused: `enabled and configured in /etc/default/etcd`,
		},
		{
			// The second run: etcd.service is install_etcd's unit now,
			// running the member; the package's data is elsewhere.
			name:  "installed, install_etcd's unit running",
			facts: installed + "pkgsvc.ActiveState=active\npkgsvc.FragmentPath=/etc/systemd/system/etcd.service\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The lines of etcd.service's state were recorded with
			// the package's, prefixed pkgsvc.
			var pkg, svc strings.Builder
			for _, l := range strings.SplitAfter(tc.facts, "\n") {
				if rest, ok := strings.CutPrefix(l, "pkgsvc."); ok {
					svc.WriteString(rest)
				} else {
					pkg.WriteString(l)
				}
			}
			pf, err := packageFact.Parse(pkg.String())
			if err != nil {
				t.Fatal(err)
			}
			if pf.Svc, err = unitFact("etcd.service").Parse(svc.String()); err != nil {
				t.Fatal(err)
			}
			f := hostInstallFacts{packageFacts: pf}
			a := &installEtcdArgs{Package: true, DataDir: tc.dataDir}
			a.defaults()
			steps, warns, err := planPackage("etcd-1", a, f)
			var r *engine.RefusedError
			switch {
			case tc.refused != "":
				if !asRefused(err, &r) || !strings.Contains(err.Error(), tc.refused) {
					t.Errorf("got %v, want a refusal with %q", err, tc.refused)
				}
				return
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got %v, want %q", err, tc.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var got []string
			for _, s := range steps {
				got = append(got, s.Desc)
			}
			if len(got) != len(tc.steps) {
				t.Fatalf("steps %q, want %q", got, tc.steps)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.steps[i]) {
					t.Errorf("step %d: %q, want %q...", i, got[i], tc.steps[i])
				}
			}
			if w := strings.Join(warns, "\n"); (tc.warn == "") != (w == "") || !strings.Contains(w, tc.warn) {
				t.Errorf("warnings %q, want %q", w, tc.warn)
			}
		})
	}
}

// TestInstallEtcdReleaseOverSSH installs etcd by version, as a release
// server on loopback lays it out (BASE/VERSION/etcd-VERSION-linux-ARCH.tar.gz
// and SHA256SUMS), over the loopback sshd: verify=True fetches, checks and
// caches it and changes nothing; the install puts the tarball's binaries
// on the host; a cached release is not fetched again; a damaged one is
// refused before anything is written.
func TestInstallEtcdReleaseOverSSH(t *testing.T) {
	skipRealHosts(t)
	bins := etcdBinDir(t)
	t.Setenv(etcd.EnvCacheDir, t.TempDir())
	p := newEtcdPlay(t, nil, 1)
	arch, ok := etcd.ReleaseArch(runtimeMachine(t))
	if !ok {
		t.Skip("no etcd release for this machine")
	}
	srv := t.TempDir()
	vdir := filepath.Join(srv, "v3.6.16")
	os.MkdirAll(vdir, 0o755)
	tarball := filepath.Join(vdir, etcd.ReleaseTarball("v3.6.16", arch))
	writeTarball(t, tarball, bins)
	os.WriteFile(filepath.Join(vdir, "SHA256SUMS"), []byte(sha256File(t, tarball)+"  "+filepath.Base(tarball)+"\n"), 0o644)
	var requests atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.FileServer(http.Dir(srv)).ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)

	root := installRoot(t, "etcdplay-release-")
	play := `
def main(ctx):
    r = install_etcd("h1", release = "v3.6.16", release_url = ctx.vars["url"], user = "etcdplay-r", bin_dir = ctx.vars["root"] + "/bin",
                     data_dir = ctx.vars["root"] + "/var/lib/etcd", conf_dir = ctx.vars["root"] + "/etc/etcd",
                     unit_dir = ctx.vars["root"] + "/systemd", verify = ctx.vars["verify"], become = True)
    print("RESULT", r.changed, r.version, r.binaries["etcd"][:12])
`
	vars := map[string]any{"url": hs.URL, "root": root, "verify": true}
	rec, err := p.run(play, false, vars)
	if err != nil || !strings.Contains(rec.buf.String(), "RESULT False 3.6.16") {
		t.Fatalf("verify: %v\n%s", err, rec.buf)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("verify wrote %v", entries)
	}
	fetched := requests.Load()
	vars["verify"] = false
	rec, err = p.run(play, false, vars)
	if err != nil || !strings.Contains(rec.buf.String(), "RESULT True 3.6.16") {
		t.Fatalf("install: %v\n%s", err, rec.buf)
	}
	if requests.Load() != fetched {
		t.Errorf("the cached release was fetched again (%d requests, then %d)", fetched, requests.Load())
	}
	if got, want := sha256File(t, filepath.Join(root, "bin", "etcd")), sha256File(t, filepath.Join(bins, "etcd")); got != want {
		t.Errorf("installed etcd has sha256 %s, the tarball's %s", got, want)
	}

	// Another version whose tarball is damaged on the server: refused,
	// nothing written.
	v2 := filepath.Join(srv, "v3.6.15")
	os.MkdirAll(v2, 0o755)
	damaged := filepath.Join(v2, etcd.ReleaseTarball("v3.6.15", arch))
	writeTarball(t, damaged, bins)
	os.WriteFile(filepath.Join(v2, "SHA256SUMS"), []byte(sha256File(t, damaged)+"  "+filepath.Base(damaged)+"\n"), 0o644)
	os.WriteFile(damaged, []byte("not the release"), 0o644)
	before := sha256File(t, filepath.Join(root, "bin", "etcd"))
	rec, err = p.run(strings.Replace(play, `"v3.6.16"`, `"v3.6.15"`, 1), false, vars)
	if engine.KindOf(err) != engine.KindRefused || !strings.Contains(err.Error(), "the download is damaged") {
		t.Fatalf("damaged release: %v\n%s", err, rec.buf)
	}
	if sha256File(t, filepath.Join(root, "bin", "etcd")) != before {
		t.Errorf("a refused release changed the installed etcd")
	}
}

// runtimeMachine is uname -m of this machine.
func runtimeMachine(t *testing.T) string {
	out, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestInstallEtcdUploadThatIsNotWhatWasSent: the binaries are uploaded
// one after another while the earlier ones are checked; when one lands
// other than the run meant (here the control machine's stamp of etcdctl
// lies about its sum), its action fails and neither it nor the binaries
// after it are installed, and no upload is left behind.
func TestInstallEtcdUploadThatIsNotWhatWasSent(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	if localSums == "" {
		t.Skip("no user cache directory for the control machine's stamps")
	}
	bins := t.TempDir()
	for _, n := range etcdBinaryNames {
		b, err := os.ReadFile(filepath.Join(etcdBinDir(t), n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bins, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctl := filepath.Join(bins, "etcdctl")
	fi, err := os.Stat(ctl)
	if err != nil {
		t.Fatal(err)
	}
	writeLocalStamp(filepath.Join(localSums, stampName(ctl)), localIdentity(fi), strings.Repeat("0", 64))
	t.Cleanup(func() { os.Remove(filepath.Join(localSums, stampName(ctl))) })

	p := newEtcdPlay(t, nil, 1)
	root := installRoot(t, "etcdplay-install-")
	play := `
def main(ctx):
    install_etcd("h1", src = ctx.vars["bins"], user = "etcdplay-e", bin_dir = ctx.vars["root"] + "/bin",
                 data_dir = ctx.vars["root"] + "/var/lib/etcd", conf_dir = ctx.vars["root"] + "/etc/etcd",
                 unit_dir = ctx.vars["root"] + "/systemd", become = True)
`
	rec, err := p.run(play, false, map[string]any{"bins": bins, "root": root})
	if err == nil || !strings.Contains(rec.buf.String(), "install "+root+"/bin/etcdctl") || !strings.Contains(rec.buf.String(), "done before it: ") {
		t.Fatalf("install with an etcdctl of another sum: %v\n%s", err, rec.buf)
	}
	if got, want := sha256File(t, filepath.Join(root, "bin/etcd")), sha256File(t, filepath.Join(bins, "etcd")); got != want {
		t.Errorf("etcd, installed before: sha256 %s, want %s", got, want)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "bin"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "etcd" {
		t.Errorf("bin dir holds %q, want etcd alone: etcdctl failed its check, etcdutl comes after it, and no upload is left", names)
	}

	// Run again, as after a run killed mid-upload (which leaves a part of
	// an upload under its fixed name), the stamp no longer lying: the
	// install ends as intended, the part written over, nothing left.
	// A new run is a new process: neither the stamp nor the binaries
	// read by this one are kept.
	os.Remove(filepath.Join(localSums, stampName(ctl)))
	binaryCache.Lock()
	clear(binaryCache.m)
	binaryCache.Unlock()
	if err := os.WriteFile(filepath.Join(root, "bin", ".etcdutl.etcdplay-upload"), []byte("part of an upload"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err = p.run(play, false, map[string]any{"bins": bins, "root": root})
	if err != nil {
		t.Fatalf("install run again: %v\n%s", err, rec.buf)
	}
	for _, n := range etcdBinaryNames {
		if got, want := sha256File(t, filepath.Join(root, "bin", n)), sha256File(t, filepath.Join(bins, n)); got != want {
			t.Errorf("%s after the run again: sha256 %s, want %s", n, got, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "bin")); len(entries) != len(etcdBinaryNames) {
		t.Errorf("bin dir holds %d entries after the run again, want the %d binaries alone", len(entries), len(etcdBinaryNames))
	}
}
