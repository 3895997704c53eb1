package modules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

func TestUnsafeWipePath(t *testing.T) {
	for p, want := range map[string]string{
		"/":                  "system directory",
		"/var/lib":           "system directory",
		"/var/lib/":          "system directory",
		"/etc/etcd":          "under /etc",
		"/proc/1":            "under /proc",
		"var/lib/etcd":       "not an absolute path",
		"/var/lib/../etc":    "not a clean path",
		"/var/lib/etcd":      "",
		"/data/etcd/member1": "",
	} {
		got := unsafeWipePath(p)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("unsafeWipePath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestParseLocks(t *testing.T) {
	l, ok := parseLockLine("1: OFDLCK ADVISORY  WRITE -1 08:01:393219 0 EOF")
	if !ok || l.PID != "-1" || l.Major != 8 || l.Minor != 1 || l.Ino != 393219 {
		t.Errorf("OFD lock: %+v %v", l, ok)
	}
	l, ok = parseLockLine("2: FLOCK  ADVISORY  WRITE 4242 00:2d:17 0 EOF")
	if !ok || l.PID != "4242" || l.Major != 0 || l.Minor != 0x2d || l.Ino != 17 {
		t.Errorf("flock: %+v %v", l, ok)
	}
	if _, ok := parseLockLine("garbage"); ok {
		t.Error("garbage parsed")
	}
	if ma, mi := devMajorMinor(0x801); ma != 8 || mi != 1 {
		t.Errorf("devMajorMinor(0x801) = %d, %d", ma, mi)
	}
	// nvme0n1p5 is 259:5, which glibc encodes as 0x10305.
	if ma, mi := devMajorMinor(0x10305); ma != 259 || mi != 5 {
		t.Errorf("devMajorMinor(0x10305) = %d, %d", ma, mi)
	}
}

func TestWipeLocal(t *testing.T) {
	dir := "/var/lib/etcd"
	f := datadirFacts{Exists: true, IsDir: true, Entries: []string{"member"}, Files: []lockedFile{{Dev: 0x801, Ino: 7, Path: dir + "/member/wal/0.wal"}}}
	for _, tc := range []struct {
		name    string
		f       datadirFacts
		nothing string
		refused string
	}{
		{"missing", datadirFacts{}, "does not exist", ""},
		{"a file", datadirFacts{Exists: true}, "", "is not a directory"},
		{"empty", datadirFacts{Exists: true, IsDir: true}, "is empty", ""},
		{"empty mount point", datadirFacts{Exists: true, IsDir: true, MountPoint: true, Entries: []string{"lost+found"}}, "is empty", ""},
		{"other files", datadirFacts{Exists: true, IsDir: true, Entries: []string{"member", "passwd", "shadow"}}, "", "is not an etcd data dir: it holds passwd, shadow"},
		{"lost+found not on a mount point", datadirFacts{Exists: true, IsDir: true, Entries: []string{"lost+found"}}, "", "it holds lost+found"},
		{"locked", func() datadirFacts { g := f; g.Locks = []fileLock{{PID: "-1", Major: 8, Minor: 1, Ino: 7}}; return g }(), "", "etcd is running on /var/lib/etcd: a process holds a lock on /var/lib/etcd/member/wal/0.wal"},
		{"locked by pid", func() datadirFacts { g := f; g.Locks = []fileLock{{PID: "99", Major: 8, Minor: 1, Ino: 7}}; return g }(), "", "process 99 holds a lock"},
		{"lock on another device", func() datadirFacts { g := f; g.Locks = []fileLock{{PID: "-1", Major: 8, Minor: 2, Ino: 7}}; return g }(), "", ""},
		{"data without a WAL", f, "", ""},
	} {
		nothing, meta, err := wipeLocal(dir, tc.f)
		var ref *engine.RefusedError
		switch {
		case tc.refused != "":
			if !errors.As(err, &ref) || !strings.Contains(ref.Msg, tc.refused) {
				t.Errorf("%s: %v, want refusal %q", tc.name, err, tc.refused)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !strings.Contains(nothing, tc.nothing) || (tc.nothing == "") != (nothing == ""):
			t.Errorf("%s: nothing %q, want %q", tc.name, nothing, tc.nothing)
		case meta != nil:
			t.Errorf("%s: identity %+v from no WAL", tc.name, meta)
		}
	}
}

// TestWipeDatadirOverSSH wipes the data dirs of real (embedded) members
// through sshd hosts sharing this machine's file system.
func TestWipeDatadirOverSSH(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	p := newEtcdPlay(t, cl, 3)
	m3 := cl.Member("etcd-3")
	vars := map[string]any{"dir": m3.Dir}
	wipe := func(args string, check bool) (*recorder, error) {
		return p.run(`
def main(ctx):
    r = wipe_datadir("h3", path = ctx.vars["dir"], become = True`+args+`)
    print("RESULT", r.member_id, r.cluster_id, r.msg)
`, check, vars)
	}
	refused := func(rec *recorder, err error, want string) {
		t.Helper()
		var ee *engine.Error
		if !asEngineError(err, &ee) || ee.Kind() != engine.KindRefused || !strings.Contains(err.Error(), want) {
			t.Errorf("want a refusal containing %q, got %v\n%s", want, err, rec.buf)
		}
	}

	rec, err := wipe(`, cluster = ctx.hosts("test")`, false)
	refused(rec, err, "etcd is running on "+m3.Dir)

	m3.Kill()
	rec, err = wipe(`, cluster = ctx.hosts("test")`, false)
	refused(rec, err, "holds the data of etcd-3 (member ")
	if err != nil && !strings.Contains(err.Error(), "a voting member the live cluster still counts (3 voting members, 2 healthy (etcd-3 is down (connection refused)); quorum is 2, fault tolerance 0)") {
		t.Errorf("no arithmetic in %v", err)
	}
	rec, err = wipe(``, false)
	refused(rec, err, "without cluster=")

	// Removed from the cluster, its data may go: check mode first.
	if rec, err := p.run(`
def main(ctx):
    member_remove(ctx.hosts("test"), name = "etcd-3")
`, false, nil); err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	before, _ := os.ReadDir(m3.Dir)
	rec, err = wipe(`, cluster = ctx.hosts("test")`, true)
	if err != nil || !strings.Contains(rec.buf.String(), "would move "+m3.Dir+" (data of member ") || !strings.Contains(rec.buf.String(), "which is no longer a member) aside") {
		t.Fatalf("check mode: %v\n%s", err, rec.buf)
	}
	if after, _ := os.ReadDir(m3.Dir); len(after) != len(before) || len(after) == 0 {
		t.Fatalf("check mode changed %s", m3.Dir)
	}
	rec, err = wipe(`, cluster = ctx.hosts("test")`, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	if after, _ := os.ReadDir(m3.Dir); len(after) != 0 {
		t.Errorf("%s not empty after the wipe: %v", m3.Dir, after)
	}
	backups, _ := filepath.Glob(m3.Dir + ".wiped-*")
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	if _, err := os.Stat(filepath.Join(backups[0], "member", "wal")); err != nil {
		t.Errorf("backup lacks the WAL: %v", err)
	}
	fi, _ := os.Stat(m3.Dir)
	bi, _ := os.Stat(backups[0])
	if fi.Mode() != bi.Mode() {
		t.Errorf("new dir mode %v, backup's %v", fi.Mode(), bi.Mode())
	}
	rec, err = wipe(``, false)
	if err != nil || !strings.Contains(rec.buf.String(), m3.Dir+" is empty") {
		t.Errorf("wipe of an empty dir: %v\n%s", err, rec.buf)
	}

	// backup=False deletes the contents (the moved-aside copy here).
	vars["dir"] = backups[0]
	rec, err = wipe(`, cluster = ctx.hosts("test"), backup = False`, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	if after, _ := os.ReadDir(backups[0]); len(after) != 0 {
		t.Errorf("contents left: %v", after)
	}

	// Not a data dir, and a system path.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(other, "member"), 0o700)
	vars["dir"] = other
	rec, err = wipe(``, false)
	refused(rec, err, "is not an etcd data dir: it holds notes.txt")
	vars["dir"] = "/var/lib"
	rec, err = wipe(`, force = True`, false)
	refused(rec, err, "a system directory")
}
