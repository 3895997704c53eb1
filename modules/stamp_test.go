package modules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/etcd"
)

// TestStampCommand: an upload that is not what was sent fails; a stamp
// that cannot be written does not (it costs the next run a hash).
func TestStampCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcd")
	os.WriteFile(bin, []byte("hello"), 0o755)
	run := func(sum string) error { return exec.Command("sh", "-c", stampCommand(bin, bin, sum, false)).Run() }

	if err := run(sha256Hex([]byte("other"))); err == nil {
		t.Error("a file of another sum was stamped")
	}
	if _, err := os.Stat(stampFile(bin)); err == nil {
		t.Error("a file of another sum left a stamp")
	}
	if err := run(sha256Hex([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	st, _ := os.ReadFile(stampFile(bin))
	if lines := strings.Split(string(st), "\n"); len(lines) < 2 || lines[1] != sha256Hex([]byte("hello")) {
		t.Errorf("stamp %q", st)
	}

	// An upload under another name is moved into place only when it is
	// what was sent, and stamped where it went.
	up := filepath.Join(filepath.Dir(bin), ".etcd.etcdplay-upload")
	os.WriteFile(up, []byte("world"), 0o755)
	move := func(sum string) error { return exec.Command("sh", "-c", stampCommand(up, bin, sum, false)).Run() }
	if err := move(sha256Hex([]byte("other"))); err == nil {
		t.Error("an upload of another sum was installed")
	}
	if got, _ := os.ReadFile(bin); string(got) != "hello" {
		t.Errorf("after an upload of another sum the file holds %q, want it as it was", got)
	}
	if err := move(sha256Hex([]byte("world"))); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(bin); string(got) != "world" {
		t.Errorf("after the upload the file holds %q, want the upload", got)
	}
	if _, err := os.Stat(up); err == nil {
		t.Error("the upload is still there under its own name")
	}
	st, _ = os.ReadFile(stampFile(bin))
	if lines := strings.Split(string(st), "\n"); len(lines) < 2 || lines[1] != sha256Hex([]byte("world")) || lines[0] != hostIdentity(t, bin) {
		t.Errorf("stamp after the move %q, want the moved file's identity %q and its sum", st, hostIdentity(t, bin))
	}

	saved := sumCache
	sumCache = "/proc/etcdplay-cannot-be-made"
	defer func() { sumCache = saved }()
	if err := run(sha256Hex([]byte("world"))); err != nil {
		t.Errorf("a stamp that cannot be written failed the install: %v", err)
	}
}

// TestStampedVersionInShell: the version comes from the stamp that
// stampCommand wrote, found by the name stampedVersion spells with shell
// builtins, in dash (POSIX sh) as in bash; a file changed since is run
// instead.
func TestStampedVersionInShell(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "usr", "local", "bin")
	os.MkdirAll(dir, 0o755)
	bin := filepath.Join(dir, "etcd")
	os.WriteFile(bin, []byte("#!/bin/sh\necho 'etcd Version: 9.9.9'\n"), 0o755)
	sum, _ := etcd.FileSHA256(bin)
	if err := exec.Command("sh", "-c", stampCommand(bin, bin, sum, true)).Run(); err != nil {
		t.Fatal(err)
	}
	// The stamp says 3.6.16 when etcd --version says 9.9.9: which one
	// answered tells whether the stamp was found.
	st, _ := os.ReadFile(stampFile(bin))
	lines := strings.Split(string(st), "\n")
	lines[2] = "3.6.16"
	os.WriteFile(stampFile(bin), []byte(strings.Join(lines, "\n")), 0o644)
	for _, sh := range []string{"dash", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		out, err := exec.Command(sh, "-c", versionFact(bin).Command).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != "etcd Version: 3.6.16" {
			t.Errorf("%s: %q, %v; want the stamp's version", sh, got, err)
		}
	}
	os.WriteFile(bin, []byte("#!/bin/sh\necho 'etcd Version: 9.9.8'\n"), 0o755)
	out, _ := exec.Command("sh", "-c", versionFact(bin).Command).Output()
	if got := strings.TrimSpace(string(out)); got != "etcd Version: 9.9.8" {
		t.Errorf("a changed binary: %q, want what it prints", got)
	}
}

// TestPathPermsInShell: the directories above a path, deepest first, in
// dash as in bash, whatever the path looks like.
func TestPathPermsInShell(t *testing.T) {
	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "a", "b"), 0o750)
	for _, sh := range []string{"dash", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		for p, want := range map[string][]string{
			filepath.Join(base, "a", "b") + "/":         {filepath.Join(base, "a", "b"), filepath.Join(base, "a"), base},
			filepath.Join(base, "a", "missing", "data"): {filepath.Join(base, "a"), base},
			"/":          {"/"},
			"relative/x": nil,
		} {
			out, err := exec.Command(sh, "-c", pathPermsFact(p).Command).Output()
			if err != nil {
				t.Fatalf("%s %s: %v", sh, p, err)
			}
			ps, _ := pathPermsFact(p).Parse(string(out))
			var got []string
			for _, x := range ps {
				got = append(got, x.Path)
			}
			if len(got) > len(want) {
				got = got[:len(want)] // the temp dir's own parents
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s %s: %q, want %q first", sh, p, got, want)
			}
		}
	}
}

// hostIdentity is the identity of the file at p as the stamps hold it.
func hostIdentity(t *testing.T, p string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "LC_ALL=C stat -L -c '"+fileIdentity+"' -- \"$1\"", "sh", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
