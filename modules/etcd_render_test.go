package modules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/enginetest"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
	"github.com/etcdplay/etcdplay/inventory"
)

// localPlay runs playbooks on stand-in hosts: a directory each, commands
// by the local /bin/sh.
type localPlay struct {
	t    *testing.T
	dir  string
	inv  *inventory.Inventory
	conn *enginetest.Connector
}

func newLocalPlay(t *testing.T, inv string) *localPlay {
	p := &localPlay{t: t, dir: t.TempDir(), conn: &enginetest.Connector{Conns: map[string]*enginetest.Conn{}}}
	i, err := inventory.Parse("inventory.ini", []byte(inv))
	if err != nil {
		t.Fatal(err)
	}
	p.inv = i
	for _, h := range i.Hosts() {
		d := filepath.Join(p.dir, "hosts", h.Name)
		os.MkdirAll(d, 0o755)
		p.conn.Conns[h.Name] = &enginetest.Conn{Dir: d}
	}
	return p
}

func (p *localPlay) hostDir(h string) string { return filepath.Join(p.dir, "hosts", h) }

func (p *localPlay) run(src string, check bool) (*recorder, error) {
	p.t.Helper()
	return runStar(p.t, p.dir, src, engine.Config{Inventory: p.inv, Connector: p.conn, Check: check}, time.Minute)
}

const renderInventory = `[etcd]
etcd-1 ansible_host=10.77.0.11
etcd-2 ansible_host=10.77.0.12
`

// renderPlay is what the shipped playbooks do: values per host from its
// address.
const renderPlay = `
def conf(h, state):
    return {
        "ETCD_NAME": h.name,
        "ETCD_DATA_DIR": "/var/lib/etcd",
        "listen-peer-urls": "http://%s:2380" % h.address,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": "http://%s:2380" % h.address,
        "ETCD_LISTEN_CLIENT_URLS": ["http://%s:2379" % h.address, "http://127.0.0.1:2379"],
        "ETCD_ADVERTISE_CLIENT_URLS": "http://%s:2379" % h.address,
        "ETCD_INITIAL_CLUSTER": "etcd-1=http://10.77.0.11:2380,etcd-2=http://10.77.0.12:2380",
        "ETCD_INITIAL_CLUSTER_STATE": state,
        "ETCD_HEARTBEAT_INTERVAL": 100,
        "ETCD_STRICT_RECONFIG_CHECK": True,
        "ETCD_LOG_LEVEL": None,
    }
`

func TestRenderConf(t *testing.T) {
	p := newLocalPlay(t, renderInventory)
	rec, err := p.run(renderPlay+`
def main(ctx):
    r = render_conf("etcd", dest = "etcd.conf", values = lambda h: conf(h, "new"))
    if not r.changed or r["etcd-1"].state != "new":
        fail("not written")
`, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	b, _ := os.ReadFile(filepath.Join(p.hostDir("etcd-2"), "etcd.conf"))
	want := confHeader + `ETCD_NAME="etcd-2"
ETCD_DATA_DIR="/var/lib/etcd"
ETCD_LISTEN_PEER_URLS="http://10.77.0.12:2380"
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://10.77.0.12:2380"
ETCD_LISTEN_CLIENT_URLS="http://10.77.0.12:2379,http://127.0.0.1:2379"
ETCD_ADVERTISE_CLIENT_URLS="http://10.77.0.12:2379"
ETCD_INITIAL_CLUSTER="etcd-1=http://10.77.0.11:2380,etcd-2=http://10.77.0.12:2380"
ETCD_INITIAL_CLUSTER_STATE="new"
ETCD_HEARTBEAT_INTERVAL="100"
ETCD_STRICT_RECONFIG_CHECK="true"
`
	if string(b) != want {
		t.Errorf("etcd.conf:\n%s\nwant:\n%s", b, want)
	}

	// Unchanged: ok, not written again.
	puts := len(p.conn.Conns["etcd-1"].Puts())
	rec, err = p.run(renderPlay+`
def main(ctx):
    r = render_conf("etcd", dest = "etcd.conf", values = lambda h: conf(h, "new"))
    if r.changed:
        fail("changed again")
`, false)
	if err != nil || len(p.conn.Conns["etcd-1"].Puts()) != puts {
		t.Fatalf("re-run: %v\n%s", err, rec.buf)
	}

	// Check mode with --diff: the flip to existing is shown, not written.
	rec, err = p.run(renderPlay+`
def main(ctx):
    render_conf("etcd", dest = "etcd.conf", values = lambda h: conf(h, "existing"))
`, true)
	if err != nil {
		t.Fatal(err)
	}
	out := rec.buf.String()
	if !strings.Contains(out, `-ETCD_INITIAL_CLUSTER_STATE="new"`) || !strings.Contains(out, `+ETCD_INITIAL_CLUSTER_STATE="existing"`) {
		t.Errorf("check mode diff:\n%s", out)
	}
	if b2, _ := os.ReadFile(filepath.Join(p.hostDir("etcd-2"), "etcd.conf")); string(b2) != want {
		t.Errorf("check mode wrote the file")
	}

	// A typo and a member missing from the initial cluster stop the run
	// before anything is written, as bad input, with every problem.
	rec, err = p.run(renderPlay+`
def main(ctx):
    c = conf(ctx.host("etcd-1"), "new")
    c["ETCD_INITAL_CLUSTER_TOKEN"] = "x"
    c["ETCD_NAME"] = "etcd-9"
    render_conf("etcd-1", dest = "other.conf", values = c)
`, false)
	var ee *engine.Error
	if !asEngineError(err, &ee) || ee.Kind() != engine.KindBadInput {
		t.Fatalf("bad values: %v\n%s", err, rec.buf)
	}
	for _, want := range []string{"ETCD_INITAL_CLUSTER_TOKEN: not a setting etcd knows: did you mean ETCD_INITIAL_CLUSTER_TOKEN?", `does not list this member's name "etcd-9"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(p.hostDir("etcd-1"), "other.conf")); err == nil {
		t.Error("invalid configuration written")
	}

	// The settings are the version's: 3.5's spelling is written for a
	// 3.5, 3.6's refused naming the version.
	rec, err = p.run(renderPlay+`
def main(ctx):
    c = conf(ctx.host("etcd-1"), "new")
    c["ETCD_ENABLE_V2"] = False
    r = render_conf("etcd-1", dest = "v35.conf", values = c, version = "3.5.35")
    if r.etcd_version != "3.5.35":
        fail("checked against %s" % r.etcd_version)
    c["ETCD_FEATURE_GATES"] = "StopGRPCServiceOnDefrag=true"
    render_conf("etcd-1", dest = "v35.conf", values = c, version = "3.5.35")
`, false)
	if !asEngineError(err, &ee) || ee.Kind() != engine.KindBadInput || !strings.Contains(err.Error(), "ETCD_FEATURE_GATES: not a setting etcd 3.5 knows (a setting of etcd 3.6)") {
		t.Fatalf("3.6 setting for 3.5: %v\n%s", err, rec.buf)
	}
	if b, _ := os.ReadFile(filepath.Join(p.hostDir("etcd-1"), "v35.conf")); !strings.Contains(string(b), `ETCD_ENABLE_V2="false"`) || strings.Contains(string(b), "FEATURE") {
		t.Errorf("v35.conf:\n%s", b)
	}

	// The YAML form and a template.
	os.WriteFile(filepath.Join(p.dir, "etcd.conf.tmpl"), []byte("ETCD_NAME={{.host.name}}\nETCD_DATA_DIR=\"/var/lib/etcd/{{.host.name}}\"\n"), 0o644)
	rec, err = p.run(renderPlay+`
def main(ctx):
    render_conf("etcd", dest = "etcd.yaml", format = "yaml", values = lambda h: conf(h, "new"))
    render_conf("etcd", dest = "tmpl.conf", template = "etcd.conf.tmpl")
`, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	y, _ := os.ReadFile(filepath.Join(p.hostDir("etcd-1"), "etcd.yaml"))
	if !strings.Contains(string(y), "\nname: \"etcd-1\"\n") || !strings.Contains(string(y), "\nheartbeat-interval: 100\n") {
		t.Errorf("etcd.yaml:\n%s", y)
	}
	tm, _ := os.ReadFile(filepath.Join(p.hostDir("etcd-2"), "tmpl.conf"))
	if string(tm) != "ETCD_NAME=etcd-2\nETCD_DATA_DIR=\"/var/lib/etcd/etcd-2\"\n" {
		t.Errorf("tmpl.conf: %q", tm)
	}
}

// TestEtcdModulesDirect reaches the cluster from the control machine
// (etcd_direct), through the engine, on stand-in hosts that cannot
// forward TCP; without direct the error says what to do.
func TestEtcdModulesDirect(t *testing.T) {
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	var inv strings.Builder
	inv.WriteString("[etcd]\n")
	for _, m := range cl.Members {
		inv.WriteString(m.Name + " etcd_client_url=" + m.ClientURL + "\n")
	}
	p := newLocalPlay(t, inv.String()+"\n[etcd:vars]\netcd_direct=true\n")
	rec, err := p.run(`
def main(ctx):
    r = member_list("etcd")
    h = wait_healthy("etcd", timeout = "10s")
    print("VOTERS", r.voters, len(h.members))
`, false)
	if err != nil || !strings.Contains(rec.buf.String(), "VOTERS 3 3") {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	rec, err = p.run(`
def main(ctx):
    member_list("etcd", direct = False)
`, false)
	if err == nil || !strings.Contains(err.Error(), "the connection to etcd-1 cannot forward ports") || !strings.Contains(err.Error(), "set etcd_dial=direct (or etcd_direct=true)") {
		t.Errorf("without direct: %v\n%s", err, rec.buf)
	}
}
