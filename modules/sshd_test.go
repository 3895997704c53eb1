package modules

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/enginetest"
	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
	"github.com/etcdplay/etcdplay/inventory"
)

// These tests run playbooks over a real OpenSSH sshd on loopback (hosts
// h1..h3 at 127.0.10.x, group "test"). The hosts share this machine's
// file system, so each works in its own directory: $ROOT/h1, ... passed
// to the playbook as ctx.vars["root"].

type sshdPlay struct {
	t    *testing.T
	inv  *inventory.Inventory
	conn engine.Connector
	root string // remote work directory, writable by the test user
	dir  string // the playbook's directory on the control machine
}

func newSSHDPlay(t *testing.T, n int) *sshdPlay {
	srv := sshdtest.Start(t, n)
	dir := t.TempDir()
	inv, err := inventory.Load(srv.WriteInventory(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "etcdplay-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	u, err := user.Lookup(sshdtest.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, h := range srv.Hosts {
		p := filepath.Join(root, h.Name)
		os.Mkdir(p, 0o755)
		os.Chown(p, uid, gid)
	}
	os.Chmod(root, 0o755)
	return &sshdPlay{t: t, inv: inv, conn: srv.Connector(t), root: root, dir: dir}
}

func (p *sshdPlay) run(ctx context.Context, src string, check, diff bool) (string, *engine.Recap, error) {
	p.t.Helper()
	file := filepath.Join(p.dir, "play.star")
	os.WriteFile(file, []byte(src), 0o644)
	pb, err := engine.OpenPlaybook(file, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	var out syncBuffer
	text := engine.NewText(&out, &out, engine.TextOptions{})
	rec, err := engine.Run(ctx, engine.Config{
		Inventory: p.inv, Connector: p.conn, Modules: All(), Output: text,
		Check: check, Diff: diff, BaseDir: p.dir, Forks: 10,
		Vars: map[string]any{"root": p.root},
	}, pb)
	text.Close()
	return out.String(), rec, err
}

func TestSSHDCheckModeChangesNothing(t *testing.T) {
	p := newSSHDPlay(t, 3)
	for _, h := range []string{"h1", "h2", "h3"} {
		os.WriteFile(filepath.Join(p.root, h, "etcd.conf"), []byte("ETCD_NAME=\"old\"\nETCD_INITIAL_CLUSTER_STATE=\"new\"\n"), 0o644)
		os.Mkdir(filepath.Join(p.root, h, "data"), 0o700)
	}
	os.WriteFile(filepath.Join(p.dir, "conf.tmpl"), []byte("ETCD_NAME=\"{{.host.name}}\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"), 0o644)
	before := enginetest.Snapshot(t, p.root)
	out, rec, err := p.run(context.Background(), `
def main(ctx):
    d = lambda f: lambda h: ctx.vars["root"] + "/" + h.name + "/" + f
    template("test", src = "conf.tmpl", dest = d("etcd.conf"), backup = True)
    copy("test", dest = d("new.conf"), content = "x\n", mode = "0600")
    file("test", path = d("data"), state = "absent")
    file("test", path = d("dir"), state = "directory", mode = "0700")
    command("test", ["touch", "ran"], chdir = ctx.vars["root"])
    shell("test", "echo x > ran", chdir = ctx.vars["root"])
    fetch("test", src = d("etcd.conf"), dest = "fetched")
    ping("test", become = True)
`, true, true)
	if err != nil || rec.Failed+rec.Unreachable > 0 {
		t.Fatalf("%v\n%s", err, out)
	}
	if d := enginetest.SameSnapshot(before, enginetest.Snapshot(t, p.root)); d != "" {
		t.Errorf("check mode changed the hosts:\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "fetched")); err == nil {
		t.Error("check mode fetched a file")
	}
	for _, want := range []string{
		"-ETCD_NAME=\"old\"", "+ETCD_NAME=\"h2\"", "+ETCD_INITIAL_CLUSTER_STATE=\"existing\"",
		"would remove " + filepath.Join(p.root, "h3", "data") + " (a directory",
		"ok          h1  pong",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSSHDApply(t *testing.T) {
	p := newSSHDPlay(t, 3)
	src := `
def main(ctx):
    d = lambda f: lambda h: ctx.vars["root"] + "/" + h.name + "/" + f
    template("test", content = "name={{.host.name}}\n", dest = d("etcd.conf"), mode = "0640")
    copy("test", dest = d("root.conf"), content = "r\n", owner = "root", group = "root", become = True)
    file("test", path = d("data"), state = "directory", mode = "0700")
    r = command("test", ["cat", "etcd.conf"], chdir = lambda h: ctx.vars["root"] + "/" + h.name)
    for x in r:
        if x.stdout != "name=" + x.host.name:
            fail(x.host.name, x.stdout)
`
	out, rec, err := p.run(context.Background(), src, false, false)
	if err != nil || rec.Failed+rec.Unreachable > 0 {
		t.Fatalf("%v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(p.root, "h2", "root.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("root.conf written with become=True and owner root is owned by %v", fi.Sys())
	}
	if fi, _ := os.Stat(filepath.Join(p.root, "h1", "etcd.conf")); fi.Mode().Perm() != 0o640 {
		t.Errorf("etcd.conf mode %v", fi.Mode())
	}
	// A second run changes nothing.
	out, rec, err = p.run(context.Background(), src, false, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range rec.Hosts {
		if h.Changed != 1 { // the command runs every time
			t.Errorf("second run: %s changed %d times\n%s", h.Host, h.Changed, out)
		}
	}
}

func TestSSHDFailureDropsHost(t *testing.T) {
	p := newSSHDPlay(t, 3)
	out, rec, err := p.run(context.Background(), `
def main(ctx):
    r = shell("test", "echo $SSH_CONNECTION | grep -v ' 127.0.10.2 '")
    r2 = command("test", "true")
    if [h.name for h in r2.skipped_hosts] != ["h2"]:
        fail("h2 not skipped")
    if [h.name for h in r2.changed_hosts] != ["h1", "h3"]:
        fail("others did not go on")
`, false, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rec.Failed != 1 || !strings.Contains(out, "left the run: shell failed at") {
		t.Errorf("recap: failed=%d\n%s", rec.Failed, out)
	}
}

func TestSSHDRetriesAndSerial(t *testing.T) {
	p := newSSHDPlay(t, 3)
	out, _, err := p.run(context.Background(), `
def main(ctx):
    dir = lambda h: ctx.vars["root"] + "/" + h.name
    r = shell("test", "n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) | tee n", chdir = dir,
              retries = 4, delay = "50ms", until = lambda r: r.stdout == "3")
    if [x.attempts for x in r] != [3, 3, 3]:
        fail("attempts: %r" % [x.attempts for x in r])
    shell("test", "date +%s%N > t; sleep 0.2", chdir = dir, serial = 1)
    t = [int(x.stdout) for x in command("test", "cat t", chdir = dir)]
    if not (t[0] + 150000000 < t[1] and t[1] + 150000000 < t[2]):
        fail("serial=1 overlapped: %r" % t)
    for batch in serial(ctx.hosts("test"), 2):
        shell(batch, "echo $SSH_CONNECTION | grep -v ' 127.0.10.1 '")
`, false, false)
	if err == nil || !strings.Contains(err.Error(), "serial: h1 left the run in batch 1 of 2; stopping before batch 2 (not started: h3)") {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestSSHDInterrupt(t *testing.T) {
	p := newSSHDPlay(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once every host is in the sleep (its marker exists).
		for {
			n, _ := filepath.Glob(filepath.Join(p.root, "*", "started"))
			if len(n) == 3 {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	out, rec, err := p.run(ctx, `
def main(ctx):
    dir = lambda h: ctx.vars["root"] + "/" + h.name
    shell("test", "touch started; sleep 30; touch finished", chdir = dir)
    shell("test", "touch after", chdir = dir)
`, false, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want interrupted\n%s", err, out)
	}
	if rec.Interrupted == nil || len(rec.Interrupted.InFlight) != 3 {
		t.Fatalf("interruption = %+v\n%s", rec.Interrupted, out)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if _, err := os.Stat(filepath.Join(p.root, h, "after")); err == nil {
			t.Errorf("%s: the step after the interrupted one ran", h)
		}
	}
	for _, want := range []string{"INTERRUPTED during shell at", "in flight:   h1, h2, h3 (cut short: may be partly done)", "the rest of the playbook was not run"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
