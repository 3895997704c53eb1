package modules

import (
	"context"
	"os"
	"path/filepath"
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
