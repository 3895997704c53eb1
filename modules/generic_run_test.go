package modules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// These tests run the generic modules through the engine on local
// stand-in hosts (a directory each, commands run by /bin/sh there).

func TestCopy(t *testing.T) {
	p := newPlay(t)
	out, err := p.run(`
def main(ctx):
    r = copy("test", dest = "etc.conf", content = lambda h: "name=" + h.name + "\n", mode = "0640")
    if not r.changed or r["h1"].sha256 == "":
        fail("not created")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range []string{"h1", "h2"} {
		b, err := os.ReadFile(filepath.Join(p.hostDir(h), "etc.conf"))
		if err != nil || string(b) != "name="+h+"\n" {
			t.Fatalf("%s: etc.conf = %q, %v", h, b, err)
		}
		if fi, _ := os.Stat(filepath.Join(p.hostDir(h), "etc.conf")); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", h, fi.Mode())
		}
	}
	// Unchanged: ok, nothing written.
	puts := len(p.conn.Conns["h1"].Puts())
	out, err = p.run(`
def main(ctx):
    r = copy("test", dest = "etc.conf", content = lambda h: "name=" + h.name + "\n", mode = "0640")
    if r.changed:
        fail("changed again")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "ok          h1  etc.conf unchanged") {
		t.Errorf("output does not say unchanged:\n%s", out)
	}
	if got := len(p.conn.Conns["h1"].Puts()); got != puts {
		t.Errorf("an unchanged file was written again (%d writes, want %d)", got, puts)
	}
	// Changed content with backup=True keeps the old file.
	out, err = p.run(`
def main(ctx):
    r = copy("h1", dest = "etc.conf", content = "name=new\n", backup = True)
    if not r.backup_file:
        fail("no backup_file")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	backups, _ := filepath.Glob(filepath.Join(p.hostDir("h1"), "etc.conf.*~"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	if b, _ := os.ReadFile(backups[0]); string(b) != "name=h1\n" {
		t.Errorf("backup holds %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(p.hostDir("h1"), "etc.conf")); fi.Mode().Perm() != 0o640 {
		t.Errorf("an update without mode= changed the mode to %v", fi.Mode())
	}
	// Only the mode differs: chmod, content untouched.
	out, err = p.run(`
def main(ctx):
    r = copy("h1", dest = "etc.conf", content = "name=new\n", mode = 0o600)
    if r.msg != "chmod 0600 etc.conf (was 0640)":
        fail(r.msg)
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestCopyFromLocalFileIntoDirectory(t *testing.T) {
	p := newPlay(t)
	os.WriteFile(filepath.Join(p.dir, "ca.pem"), []byte("PEM\n"), 0o644)
	os.Mkdir(filepath.Join(p.hostDir("h1"), "pki"), 0o755)
	out, err := p.run(`
def main(ctx):
    copy("h1", src = "ca.pem", dest = "pki")
    copy("h1", src = "ca.pem", dest = "other/", ignore_errors = True)
`)
	if err != nil || !strings.Contains(out, "failed      h1  create other/ca.pem (4 bytes): open ") {
		t.Fatalf("copy into a missing directory did not fail the host: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(p.hostDir("h1"), "pki", "ca.pem")); string(b) != "PEM\n" {
		t.Fatalf("pki/ca.pem = %q, %v\n%s", b, err, out)
	}
}

// TestCheckModeWritesNothing runs every generic module that can change a
// host in check mode and checks the hosts byte for byte.
func TestCheckModeWritesNothing(t *testing.T) {
	p := newPlay(t)
	for _, h := range []string{"h1", "h2"} {
		os.WriteFile(filepath.Join(p.hostDir(h), "keep.conf"), []byte("old\n"), 0o644)
		os.Mkdir(filepath.Join(p.hostDir(h), "olddir"), 0o755)
	}
	os.WriteFile(filepath.Join(p.dir, "tmpl"), []byte("host={{.host.name}}\n"), 0o644)
	before := map[string]map[string]string{}
	for _, h := range []string{"h1", "h2"} {
		before[h] = enginetest.Snapshot(t, p.hostDir(h))
	}
	local := enginetest.Snapshot(t, p.dir)
	p.check, p.diff = true, true
	out, err := p.run(`
def main(ctx):
    copy("test", dest = "keep.conf", content = "new\n", backup = True)
    copy("test", dest = "new.conf", content = "x\n", mode = "0600")
    copy("test", dest = "keep.conf", content = "old\n", mode = "0600")
    template("test", dest = "t.conf", src = "tmpl")
    file("test", path = "olddir", state = "absent")
    file("test", path = "newdir", state = "directory", mode = "0700")
    file("test", path = "touched", state = "touch")
    file("test", path = "keep.conf", mode = "0600")
    command("test", "touch ran")
    shell("test", "echo x > ran2")
    fetch("test", src = "keep.conf", dest = "fetched")
    ping("test")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range []string{"h1", "h2"} {
		if d := enginetest.SameSnapshot(before[h], enginetest.Snapshot(t, p.hostDir(h))); d != "" {
			t.Errorf("check mode changed %s:\n%s", h, d)
		}
		if puts := p.conn.Conns[h].Puts(); len(puts) > 0 {
			t.Errorf("check mode wrote on %s: %v", h, puts)
		}
	}
	after := enginetest.Snapshot(t, p.dir)
	delete(after, "play.star")
	if d := enginetest.SameSnapshot(local, after); d != "" {
		t.Errorf("check mode changed the control machine:\n%s", d)
	}
	for _, want := range []string{
		"would back up keep.conf to keep.conf.",
		"would update keep.conf (4 bytes, was 4)",
		"-old\n", "+new\n",
		"would create new.conf (2 bytes, mode 0600)",
		"would chmod 0600 keep.conf (was 0644)",
		"+host=h1",
		"would remove olddir (a directory, with everything in it)",
		"would create directory newdir; would chmod 0700 newdir",
		"would create empty file touched",
		"would run touch ran",
		"would run echo x > ran2",
		"would fetch keep.conf to " + filepath.Join(p.dir, "fetched", "h1", "keep.conf"),
		"ok          h1  pong",
		"RECAP (check mode: nothing was changed)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTemplate(t *testing.T) {
	p := newPlay(t)
	out, err := p.run(`
def main(ctx):
    template("test", dest = "t.conf", content = "{{.host.name}} {{.inventory_hostname}} {{join .peers \",\"}} {{.port}}\n",
             vars = {"peers": ["a", "b"], "port": 2380})
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(p.hostDir("h2"), "t.conf")); string(b) != "h2 h2 a,b 2380\n" {
		t.Errorf("t.conf = %q", b)
	}
	out, err = p.run(`
def main(ctx):
    r = template("h1", dest = "t2.conf", content = "{{.nope}}\n", ignore_errors = True)
    if not r.failed or "nope" not in r.msg:
        fail(r.msg)
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(p.hostDir("h1"), "t2.conf")); err == nil {
		t.Error("a template with a missing variable was written")
	}
}

func TestFile(t *testing.T) {
	p := newPlay(t)
	out, err := p.run(`
def main(ctx):
    file("h1", path = "data/member", state = "directory", mode = "0700")
    file("h1", path = "data/member/x", state = "touch", mode = "0600")
    r = file("h1", path = "data/member", state = "directory", mode = "0700")
    if r.changed:
        fail("directory changed twice: " + r.msg)
    file("h1", path = "gone", state = "absent")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(p.hostDir("h1"), "data", "member"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data/member: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(p.hostDir("h1"), "data", "member", "x")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data/member/x: %v %v", fi, err)
	}
	out, err = p.run(`
def main(ctx):
    file("h1", path = "data", state = "absent")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(p.hostDir("h1"), "data")); !os.IsNotExist(err) {
		t.Errorf("data not removed: %v", err)
	}
	out, err = p.run(`
def main(ctx):
    file("h1", path = "/etc", state = "absent")
`)
	if err == nil || !strings.Contains(err.Error(), "refused: will not remove /etc: a system directory") {
		t.Errorf("removing /etc: %v\n%s", err, out)
	}
}

func TestFetch(t *testing.T) {
	p := newPlay(t)
	for _, h := range []string{"h1", "h2"} {
		os.WriteFile(filepath.Join(p.hostDir(h), "etcd.conf"), []byte("on "+h+"\n"), 0o600)
	}
	out, err := p.run(`
def main(ctx):
    r = fetch("test", src = "etcd.conf", dest = "saved")
    if not r.changed:
        fail("not fetched")
    if fetch("test", src = "etcd.conf", dest = "saved").changed:
        fail("fetched twice")
    fetch("h1", src = "etcd.conf", dest = "flat.conf", flat = True)
    r = fetch("h1", src = "missing.conf", dest = "saved", ignore_errors = True)
    if not r.failed:
        fail("missing file fetched")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range []string{"h1", "h2"} {
		if b, _ := os.ReadFile(filepath.Join(p.dir, "saved", h, "etcd.conf")); string(b) != "on "+h+"\n" {
			t.Errorf("saved/%s/etcd.conf = %q", h, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(p.dir, "flat.conf")); string(b) != "on h1\n" {
		t.Errorf("flat.conf = %q", b)
	}
}

func TestCommandAndShell(t *testing.T) {
	p := newPlay(t)
	os.WriteFile(filepath.Join(p.hostDir("h1"), "marker"), nil, 0o644)
	out, err := p.run(`
def main(ctx):
    # No shell: words reach the program as they are.
    r = command("h1", ["printf", "%s|", "a b", "$HOME", "*"])
    if r.stdout != "a b|$HOME|*|":
        fail("argv: " + r.stdout)
    r = command("h1", "printf '%s|' 'a b' \"c d\"")
    if r.stdout != "a b|c d|":
        fail("split: " + r.stdout)
    r = command("test", "touch created", creates = "marker")
    if r["h1"].changed or not r["h2"].changed:
        fail("creates: " + r["h1"].msg)
    r = command("test", "rm marker", removes = "marker")
    if not r["h1"].changed or r["h2"].changed:
        fail("removes")
    r = shell("h1", "echo one two | wc -w")
    if r.stdout.strip() != "2":
        fail("shell: " + r.stdout)
    r = shell("h1", "pwd", chdir = "/")
    if r.stdout != "/":
        fail("chdir: " + r.stdout)
    r = command("h1", "cat", stdin = "in\n")
    if r.stdout != "in":
        fail("stdin: " + r.stdout)
    r = shell("h1", "echo oops >&2; exit 3", ignore_errors = True)
    if r.rc != 3 or r.stderr != "oops" or not r.failed:
        fail("failure: %r" % r.rc)
    if ping("test").ok != True:
        fail("ping")
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(p.hostDir("h1"), "created")); err == nil {
		t.Error("command ran although creates= existed")
	}
}

// TestReadOnlyCommands: read_only commands run in check mode too (a
// playbook's facts must be real to plan on) and never report a change.
func TestReadOnlyCommands(t *testing.T) {
	for _, check := range []bool{false, true} {
		p := newPlay(t)
		os.WriteFile(filepath.Join(p.hostDir("h1"), "state"), []byte("existing\n"), 0o644)
		p.check = check
		out, err := p.run(`
def main(ctx):
    r = shell("h1", "cat state", read_only = True)
    if r.changed or r["h1"].stdout != "existing":
        fail("shell: changed=%s stdout=%r" % (r.changed, r["h1"].stdout))
    r = command("h1", ["cat", "state"], read_only = True)
    if r.changed or r["h1"].stdout != "existing":
        fail("command: changed=%s stdout=%r" % (r.changed, r["h1"].stdout))
    r = shell("h1", "exit 3", read_only = True, ignore_errors = True)
    if not r["h1"].failed or r["h1"].rc != 3:
        fail("a failing read did not fail")
`)
		if err != nil {
			t.Fatalf("check=%v: %v\n%s", check, err, out)
		}
		if !strings.Contains(out, "ok          h1  ran cat state (read-only)") {
			t.Errorf("check=%v: output:\n%s", check, out)
		}
	}
}
