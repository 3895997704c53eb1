package modules

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/lab"
)

// Environment of TestLabEtcdModules: a lab of its own, beside the user's
// (10.77.0.0/24) and lab's own test (10.77.1.0/24).
const (
	envModulesLabSubnet = "ETCDPLAY_LAB_MODULES_SUBNET" // default 10.77.7.0/24
	envModulesLabName   = "ETCDPLAY_LAB_MODULES_NAME"   // default etcdplay-m
)

// labPlay runs playbooks on a lab's hosts, as root over SSH.
type labPlay struct {
	t    *testing.T
	l    *lab.Lab
	inv  *inventory.Inventory
	conn engine.Connector
	dir  string
}

// labSpec is a lab a test boots: a name and subnet of its own (each
// from its environment variable, else the default), its hosts, and
// packages added to the base image.
type labSpec struct {
	name, nameEnv     string
	subnet, subnetEnv string
	hosts             int
	packages          []string
}

// startLab boots a three-host lab for the test and destroys it after.
func startLab(t *testing.T) *labPlay {
	return startLabWith(t, labSpec{name: "etcdplay-m", nameEnv: envModulesLabName, subnet: "10.77.7.0/24", subnetEnv: envModulesLabSubnet, hosts: 3})
}

// startLabWith boots the lab of spec for the test (destroying what a
// crashed run left of it first) and destroys it when the test ends,
// passed or not.
func startLabWith(t *testing.T, spec labSpec) *labPlay {
	if testing.Short() {
		t.Skipf("boots a lab of %d hosts; skipped with -short", spec.hosts)
	}
	imageDir := os.Getenv(lab.EnvImageDir)
	if imageDir == "" {
		imageDir = filepath.Join(lab.DefaultDir, "image")
	}
	if err := lab.CheckMachine(false); err != nil {
		t.Skipf("the lab cannot run here: %v", err)
	}
	subnet, err := lab.ParseSubnet(envOrDefault(spec.subnetEnv, spec.subnet))
	if err != nil {
		t.Fatal(err)
	}
	name := envOrDefault(spec.nameEnv, spec.name)
	dir := filepath.Join(os.TempDir(), "etcdplay-lab-"+name)
	// Two runs on one machine take turns on the one lab.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := lab.Open(lab.Config{Dir: dir, ImageDir: imageDir, Name: name, Subnet: subnet, Packages: spec.packages, Log: labLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Exists() {
		if err := l.Destroy(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if l.Exists() {
			if err := l.Destroy(context.Background(), false); err != nil {
				t.Errorf("destroy the lab: %v", err)
			}
		}
	})
	if _, err := l.BuildImage(ctx, false); err != nil {
		t.Skipf("no lab image with %s (and it cannot be built here): %v", cmp.Or(strings.Join(spec.packages, ","), "no extra packages"), err)
	}
	start := time.Now()
	if err := l.Up(ctx, spec.hosts); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab of %d hosts up in %s", spec.hosts, time.Since(start).Round(time.Millisecond))
	inv, err := inventory.Load(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := transport.NewPool(transport.Config{SSHConfigFile: "none", NoAgent: true, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return &labPlay{t: t, l: l, inv: inv, conn: engine.SSHConnector(pool), dir: t.TempDir()}
}

type labLog struct{ t *testing.T }

func (w labLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func envOrDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (p *labPlay) run(src string, check bool, vars map[string]any) (*recorder, error) {
	p.t.Helper()
	start := time.Now()
	rec, err := runStar(p.t, p.dir, src, engine.Config{Inventory: p.inv, Connector: p.conn, Check: check, Vars: vars}, 5*time.Minute)
	p.t.Logf("playbook took %s", time.Since(start).Round(time.Millisecond))
	if os.Getenv("ETCDPLAY_TEST_SHOW") != "" {
		p.t.Logf("output:\n%s", rec.buf)
	}
	return rec, err
}

// labConf is the etcd configuration the shipped playbooks write, as a
// Starlark function of the host.
const labConf = `
def conf(h, hs, state, cluster = None):
    return {
        "ETCD_NAME": h.name,
        "ETCD_DATA_DIR": "/var/lib/etcd",
        "ETCD_LISTEN_PEER_URLS": "http://%s:2380" % h.address,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": "http://%s:2380" % h.address,
        "ETCD_LISTEN_CLIENT_URLS": "http://%s:2379,http://127.0.0.1:2379" % h.address,
        "ETCD_ADVERTISE_CLIENT_URLS": "http://%s:2379" % h.address,
        "ETCD_INITIAL_CLUSTER": cluster or ",".join(["%s=http://%s:2380" % (x.name, x.address) for x in hs]),
        "ETCD_INITIAL_CLUSTER_TOKEN": "modules-lab",
        "ETCD_INITIAL_CLUSTER_STATE": state,
    }
`

// TestLabEtcdModules runs the etcd modules for real: install, configure
// and start a cluster with systemd, the quorum gate on systemd stops and
// restarts, a failed start explained from the journal, and a member
// replaced in place.
func TestLabEtcdModules(t *testing.T) {
	bins := etcdBinDir(t)
	p := startLab(t)
	vars := map[string]any{"bins": bins}

	rec, err := p.run(labConf+`
def main(ctx):
    hs = ctx.hosts("etcd")
    install_etcd(hs, src = ctx.vars["bins"])
    render_conf(hs, dest = "/etc/etcd/etcd.conf", values = lambda h: conf(h, hs, "new"))
    systemd(hs, unit = "etcd", state = "started", enabled = True)
    wait_healthy(hs, timeout = "60s")
    render_conf(hs, dest = "/etc/etcd/etcd.conf", values = lambda h: conf(h, hs, "existing"))
    r = member_list(hs)
    print("MEMBERS", sorted([m["name"] for m in r.members]), r.voters)
`, false, vars)
	if err != nil || !strings.Contains(rec.buf.String(), `MEMBERS ["etcd-1", "etcd-2", "etcd-3"] 3`) {
		t.Fatalf("bootstrap: %v\n%s", err, rec.buf)
	}

	// A second run changes nothing.
	rec, err = p.run(labConf+`
def main(ctx):
    hs = ctx.hosts("etcd")
    a = install_etcd(hs, src = ctx.vars["bins"])
    b = render_conf(hs, dest = "/etc/etcd/etcd.conf", values = lambda h: conf(h, hs, "existing"))
    c = systemd(hs, unit = "etcd", state = "started", enabled = True)
    print("CHANGED", a.changed, b.changed, c.changed)
`, false, vars)
	if err != nil || !strings.Contains(rec.buf.String(), "CHANGED False False False") {
		t.Errorf("re-run: %v\n%s", err, rec.buf)
	}

	// Restarting every member in one parallel call: the gate lets one
	// through and refuses the others, which count it as stopping.
	rec, err = p.run(`
def main(ctx):
    systemd(ctx.hosts("etcd"), unit = "etcd", state = "restarted")
`, false, nil)
	// Which host is refused first, and whether it sees the one let through
	// as being stopped by this run or already down, depends on timing;
	// what must hold: a refusal, not every member restarted (a second one
	// may pass once the first is back and healthy), and for a host that
	// saw another being stopped, the advice to go one at a time.
	if out := rec.buf.String(); err == nil || !strings.Contains(err.Error(), "refused: stopping") ||
		strings.Count(out, "restart etcd.service") < 1 || strings.Count(out, "restart etcd.service") > 2 ||
		(strings.Contains(out, "by this run") && !strings.Contains(out, "one at a time (serial=1)")) {
		t.Errorf("parallel restart of all members: %v\n%s", err, out)
	}
	// One at a time is fine.
	rec, err = p.run(`
def main(ctx):
    hs = ctx.hosts("etcd")
    for h in hs:
        systemd(h, unit = "etcd", state = "restarted")
        wait_healthy(hs, timeout = "60s")
`, false, nil)
	if err != nil {
		t.Errorf("rolling restart: %v\n%s", err, rec.buf)
	}

	// Stop one: allowed. Stop a second: refused with the arithmetic.
	rec, err = p.run(`
def main(ctx):
    systemd("etcd-3", unit = "etcd", state = "stopped")
    systemd("etcd-2", unit = "etcd", state = "stopped", cluster = ctx.hosts("etcd"))
`, false, nil)
	var ee *engine.Error
	if !asEngineError(err, &ee) || ee.Kind() != engine.KindRefused || !strings.Contains(err.Error(),
		"stopping etcd-2 would lose quorum: 3 voting members, 2 healthy (etcd-3 is down (connection refused)); quorum is 2, fault tolerance 0; after stopping etcd-2, 3 voters with 1 healthy < quorum 2. Bring etcd-3 back first, or force=True to override.") {
		t.Errorf("second stop: %v\n%s", err, rec.buf)
	}

	// Replace etcd-3 in place: its data is refused while it is a member;
	// after removal it is wiped, and a start with the old configuration
	// fails with etcd's own error, explained. Then the learner-first add.
	rec, err = p.run(labConf+`
def main(ctx):
    hs = ctx.hosts("etcd")
    rest = [h for h in hs if h.name != "etcd-3"]
    new = ctx.host("etcd-3")
    r = wipe_datadir(new, path = "/var/lib/etcd", cluster = rest, ignore_errors = True)
    print("WIPE1", r.failed, r.msg)
`, false, nil)
	if err == nil || !strings.Contains(err.Error(), "holds the data of etcd-3") {
		t.Errorf("wipe of a member's data: %v\n%s", err, rec.buf)
	}
	rec, err = p.run(labConf+`
def main(ctx):
    hs = ctx.hosts("etcd")
    rest = [h for h in hs if h.name != "etcd-3"]
    new = ctx.host("etcd-3")
    snapshot_save(rest, dest = "backups")
    member_remove(rest, name = "etcd-3")
    wipe_datadir(new, path = "/var/lib/etcd", cluster = rest)
    r = systemd(new, unit = "etcd", state = "started", ignore_errors = True)
    print("START", r.failed)
`, false, nil)
	out := rec.buf.String()
	if err != nil || !strings.Contains(out, "START True") || !strings.Contains(out, "last lines of journalctl -u etcd.service") || !strings.Contains(out, "cause: ") {
		t.Errorf("start with stale configuration: %v\n%s", err, out)
	}
	rec, err = p.run(labConf+`
def main(ctx):
    hs = ctx.hosts("etcd")
    rest = [h for h in hs if h.name != "etcd-3"]
    new = ctx.host("etcd-3")
    systemd(new, unit = "etcd", state = "stopped", cluster = rest)
    w = wipe_datadir(new, path = "/var/lib/etcd", cluster = rest)
    if w.backup_path == "":
        fail("no backup_path")
    m = member_add(rest, name = new.name, peer_urls = ["http://%s:2380" % new.address], learner = True)
    render_conf(new, dest = "/etc/etcd/etcd.conf", values = conf(new, hs, m.state, m.initial_cluster))
    systemd(new, unit = "etcd", state = "started")
    member_promote(rest, name = new.name, timeout = "60s")
    systemd("etcd-2", unit = "etcd", state = "started")
    r = wait_healthy(hs, timeout = "60s")
    print("HEALTHY", len(r.members), r.leader != "")
`, false, nil)
	if err != nil || !strings.Contains(rec.buf.String(), "HEALTHY 3 True") {
		t.Errorf("replace in place: %v\n%s", err, rec.buf)
	}

	// A disable before a stop, and an enable before a start (one
	// systemctl each, --now, and two actions in the plan); a unit
	// enabled by hand since (a link made behind the manager's back) is
	// found from its links and disabled.
	rec, err = p.run(`
def main(ctx):
    hs = ctx.hosts("etcd")
    a = systemd("etcd-2", unit = "etcd", state = "stopped", enabled = False, cluster = hs)
    b = systemd("etcd-2", unit = "etcd", state = "stopped")
    shell("etcd-2", "ln -s /etc/systemd/system/etcd.service /etc/systemd/system/multi-user.target.wants/etcd.service")
    c = systemd("etcd-2", unit = "etcd", state = "stopped", enabled = False)
    d = systemd("etcd-2", unit = "etcd", state = "started", enabled = True)
    links = command("etcd-2", "systemctl is-enabled etcd.service")
    wait_healthy(hs, timeout = "60s")
    print("STOP", a.msg, "|", a.enabled, a.active_state)
    print("AGAIN", b.changed)
    print("BY HAND", c.msg)
    print("START", d.msg, "|", d.enabled, d.active_state)
    print("LINKS", links.stdout.strip())
`, false, nil)
	out = rec.buf.String()
	for _, want := range []string{
		"STOP disable etcd.service; stop etcd.service | enabled inactive",
		"AGAIN False",
		"BY HAND disable etcd.service",
		"START enable etcd.service; start etcd.service | disabled active",
		"LINKS enabled",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("enable and start, disable and stop: want %q: %v\n%s", want, err, out)
		}
	}
}
