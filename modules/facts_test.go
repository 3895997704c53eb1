package modules

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// localShell runs facts' scripts with this machine's /bin/sh, in a
// directory of the test's.
type localShell struct{ *enginetest.Conn }

func (s localShell) Shell(ctx context.Context, line string) (transport.Result, error) {
	return s.Run(ctx, transport.Command{Line: line})
}

func newLocalShell(t *testing.T) localShell {
	return localShell{&enginetest.Conn{Dir: t.TempDir()}}
}

func fakeFact(name, command string) Fact[string] {
	return Fact[string]{Name: name, Command: command, Parse: func(out string) (string, error) { return out, nil }}
}

// TestReadFactsOneRoundTrip reads facts of every kind in one command,
// each getting exactly what its command printed.
func TestReadFactsOneRoundTrip(t *testing.T) {
	sh := newLocalShell(t)
	os.WriteFile(filepath.Join(sh.Dir, "f"), []byte("abc"), 0o640)
	os.Mkdir(filepath.Join(sh.Dir, "d"), 0o755)
	var file, dir, missing fileFacts
	var noNewline, exits, empty string
	var ex []bool
	err := readFacts(context.Background(), sh,
		statFact(filepath.Join(sh.Dir, "f"), true).into(&file),
		statFact(filepath.Join(sh.Dir, "d"), true).into(&dir),
		statFact(filepath.Join(sh.Dir, "nothing"), true).into(&missing),
		fakeFact("no newline", "printf 'a\\nb'").into(&noNewline),
		fakeFact("exits", "x=1; echo $x; exit 0; echo never").into(&exits),
		fakeFact("empty", "true").into(&empty),
		existsFact(sh.Dir, "f", "nothing", "d").into(&ex),
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sh.Runs()); n != 1 {
		t.Errorf("%d commands, want 1", n)
	}
	if !file.Exists || !file.regular() || file.Mode != 0o640 || file.Size != 3 || file.SHA256 != sha256Hex([]byte("abc")) {
		t.Errorf("file: %+v", file)
	}
	if !dir.Exists || !dir.Dir || dir.SHA256 != "" {
		t.Errorf("dir: %+v", dir)
	}
	if missing != (fileFacts{}) {
		t.Errorf("missing: %+v", missing)
	}
	if noNewline != "a\nb" || exits != "1\n" || empty != "" {
		t.Errorf("outputs %q, %q, %q", noNewline, exits, empty)
	}
	if len(ex) != 3 || !ex[0] || ex[1] || !ex[2] {
		t.Errorf("exists: %v", ex)
	}
}

// TestReadFactsFailures: a fact that fails is named with its own stderr,
// the others are still read; one that may fail reads as zero; a script
// that dies half way says so.
func TestReadFactsFailures(t *testing.T) {
	sh := newLocalShell(t)
	var a, b, c string
	err := readFacts(context.Background(), sh,
		fakeFact("a", "echo noise >&2; echo a").into(&a),
		fakeFact("/etc/b", "echo 'ls: cannot open directory /etc/b: Permission denied' >&2; exit 2").into(&b),
		fakeFact("c", "echo c").into(&c),
	)
	if err == nil || err.Error() != "read /etc/b: exit status 2: ls: cannot open directory /etc/b: Permission denied" {
		t.Errorf("error: %v", err)
	}
	if a != "a\n" || c != "c\n" {
		t.Errorf("the other facts: %q, %q", a, c)
	}

	b = "unset"
	err = readFacts(context.Background(), sh,
		fakeFact("b", "exit 3").into(&b).optional(),
		fakeFact("c", "echo c").into(&c),
	)
	if err != nil || b != "unset" {
		t.Errorf("a fact that may fail: %v, %q", err, b)
	}

	err = readFacts(context.Background(), sh,
		fakeFact("a", "echo a").into(&a),
		fakeFact("b", "kill -9 $$").into(&b),
		fakeFact("c", "echo c").into(&c),
	)
	if err == nil || err.Error() != "read a, b, c: sh: killed by signal killed" {
		t.Errorf("a script that dies: %v", err)
	}

	_, err = readFact(context.Background(), sh, Fact[fileFacts]{Name: "/x", Command: "echo garbage", Parse: parseStat})
	if err == nil || err.Error() != `read /x: unexpected stat output "garbage"` {
		t.Errorf("a parse error: %v", err)
	}
}

// TestSplitFacts cuts recorded output, including output that holds a
// marker of another read.
func TestSplitFacts(t *testing.T) {
	m := "etcdplay-fact-0011223344556677"
	out := "a\n\n" + m + " 0 \n" +
		"etcdplay-fact-ffffffffffffffff 0 \n\n" + m + " 1 stat: no\n" +
		"\n" + m + " 0 \n"
	secs, err := splitFacts(m, out, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []factOut{{"a\n", 0, ""}, {"etcdplay-fact-ffffffffffffffff 0 \n", 1, "stat: no"}, {"", 0, ""}}
	for i := range want {
		if secs[i] != want[i] {
			t.Errorf("section %d: %+v, want %+v", i, secs[i], want[i])
		}
	}
	if _, err := splitFacts(m, out, 4); err == nil {
		t.Error("4 sections from 3")
	}
}

// TestDatadirFacts reads the data dir facts of real directories: missing,
// a file, empty, and holding a WAL segment someone locks.
func TestDatadirFacts(t *testing.T) {
	sh := newLocalShell(t)
	ctx := context.Background()
	read := func(p string) datadirFacts {
		t.Helper()
		var f datadirFacts
		if err := readFacts(ctx, sh, f.queries(p, filepath.Join(p, "member", "wal"))...); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := read(filepath.Join(sh.Dir, "missing")); f.Exists || f.IsDir || f.Entries != nil || f.Files != nil || f.Head != nil {
		t.Errorf("missing: %+v", f)
	}
	os.WriteFile(filepath.Join(sh.Dir, "file"), []byte("x"), 0o644)
	if f := read(filepath.Join(sh.Dir, "file")); !f.Exists || f.IsDir || f.Entries != nil {
		t.Errorf("a file: %+v", f)
	}
	empty := filepath.Join(sh.Dir, "empty")
	os.Mkdir(empty, 0o700)
	if f := read(empty); !f.Exists || !f.IsDir || f.Entries != nil || f.MountPoint {
		t.Errorf("empty: %+v", f)
	}
	data := filepath.Join(sh.Dir, "data")
	wal := filepath.Join(data, "member", "wal")
	os.MkdirAll(wal, 0o700)
	head := []byte("\x00\x01not a real WAL\n\xff")
	os.WriteFile(filepath.Join(wal, "0000000000000001-0000000000000001.wal"), []byte("later"), 0o600)
	seg := filepath.Join(wal, "0000000000000000-0000000000000000.wal")
	os.WriteFile(seg, head, 0o600)
	lf, err := os.Open(seg)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	f := read(data)
	if len(f.Entries) != 1 || f.Entries[0] != "member" || string(f.Head) != string(head) || len(f.Files) != 2 {
		t.Errorf("data: %+v", f)
	}
	if file, pid, ok := f.lockHolder(); !ok || file != seg || pid != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock: %q %q %v", file, pid, ok)
	}
}

// TestFactParsers parses outputs recorded on hosts, odd ones too.
func TestFactParsers(t *testing.T) {
	if es, _ := entriesFact("/d").Parse("member\nlost+found\n"); len(es) != 2 || es[1] != "lost+found" {
		t.Errorf("entries: %q", es)
	}
	if es, _ := entriesFact("/d").Parse(""); es != nil {
		t.Errorf("no entries: %q", es)
	}
	fs, _ := walFilesFact("/d", "/d/member/wal").Parse("2049 393219 /d/member/wal/0000000000000000-0000000000000000.wal\n2049 7 /d/member/snap/db\n")
	if len(fs) != 2 || fs[0].Dev != 2049 || fs[0].Ino != 393219 || fs[1].Path != "/d/member/snap/db" {
		t.Errorf("WAL files: %+v", fs)
	}
	if h, err := walHeadFact("/d", "/d/member/wal").Parse("\n"); h != nil || err != nil {
		t.Errorf("no WAL: %q %v", h, err)
	}
	if _, err := walHeadFact("/d", "/d/member/wal").Parse("not base64!"); err == nil {
		t.Error("a damaged WAL head parsed")
	}
	ls, _ := locksFact.Parse("1: POSIX  ADVISORY  WRITE 1234 08:01:393219 0 EOF\n1: -> POSIX  ADVISORY  WRITE 1240 08:01:393219 0 EOF\n2: FLOCK  ADVISORY  WRITE 99 00:2d:17 0 EOF\n")
	if len(ls) != 3 || ls[1].PID != "1240" || ls[2].Minor != 0x2d {
		t.Errorf("locks: %+v", ls)
	}
	if m, _ := mountPointFact("/d").Parse("yes\n"); !m {
		t.Error("mount point")
	}

	if u, err := userFact("etcd").Parse(""); u != nil || err != nil {
		t.Errorf("no user: %+v %v", u, err)
	}
	if u, _ := userFact("etcd").Parse("uid=998(etcd) gid=998(etcd) groups=998(etcd),4(adm)\n"); u == nil || u.UID != 998 || len(u.GIDs) != 2 || u.GIDs[0] != 998 || u.GIDs[1] != 4 {
		t.Errorf("user: %+v", u)
	}
	if u, _ := userFact("etcd").Parse("uid=998 gid=997\n"); u == nil || u.UID != 998 || len(u.GIDs) != 1 || u.GIDs[0] != 997 {
		t.Errorf("user without groups=: %+v", u)
	}
	if _, err := userFact("etcd").Parse("id: 'etcd': no such user\n"); err == nil {
		t.Error("user: garbage parsed")
	}
	if uid, err := uidFact.Parse("0\n"); uid != 0 || err != nil {
		t.Errorf("uid: %d %v", uid, err)
	}
	// A uid that cannot be read is no root.
	if _, err := uidFact.Parse("id: cannot find name for user ID 1000\n"); err == nil {
		t.Error("uid: garbage parsed")
	}
	if g, _ := groupFact("etcd").Parse(""); g {
		t.Error("no group")
	}
	ps, _ := pathPermsFact("/var/lib/etcd").Parse("0 0 700 /var/lib/etcd\n0 0 755 /var/lib\n0 0 755 /\n")
	if len(ps) != 3 || ps[0].Mode != 0o700 || ps[1].Path != "/var/lib" {
		t.Errorf("paths: %+v", ps)
	}
	for out, want := range map[string]string{
		"etcd Version: 3.6.16\nGit SHA: 4e1d6ea\nGo Version: go1.24.11\n": "3.6.16",
		"": "",
		"/usr/local/bin/etcd: 1: Syntax error: word unexpected\n": "/usr/local/bin/etcd: 1: Syntax error: word unexpected",
	} {
		if v, _ := versionFact("/usr/local/bin/etcd").Parse(out); v != want {
			t.Errorf("version of %q: %q, want %q", out, v, want)
		}
	}
	for out, want := range map[string]string{"3.4.30-1+b2\n": "3.4.30", "(none)\n": "", "": ""} {
		if v, _ := candidateFact.Parse(out); v != want {
			t.Errorf("candidate %q: %q, want %q", out, v, want)
		}
	}
}
