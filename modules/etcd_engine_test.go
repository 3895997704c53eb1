package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
	"github.com/etcdplay/etcdplay/inventory"
)

// These tests run the etcd modules through the engine, over a real sshd on
// loopback: inventory hosts h1..hN are the sshd addresses, and each has
// etcd_client_url pointing at an in-process etcd member, so the client
// dials the member through the host's SSH connection as it would in a
// real cluster.

// recorder keeps a run's events and its text output.
type recorder struct {
	mu     sync.Mutex
	events []engine.Event
	text   *engine.Text
	buf    *etcdBuffer
}

type etcdBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *etcdBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *etcdBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (r *recorder) Emit(e engine.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.text.Emit(e)
}

// results returns the data of every host result of module, in order.
func (r *recorder) results(module string) []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []engine.Event
	for _, e := range r.events {
		if e.Type == engine.EventHostResult && e.Module == module {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Type == engine.EventWarning {
			out = append(out, e.Host+": "+e.Msg)
		}
	}
	return out
}

// etcdPlay is an inventory of sshd hosts in front of an etcd test cluster.
type etcdPlay struct {
	t    *testing.T
	srv  *sshdtest.Server
	cl   *etcdtest.Cluster
	dir  string
	conn engine.Connector
	vars map[string]string // extra [all:vars]
	// hostVars are per-host variables, by host name.
	hostVars map[string]map[string]string
}

// skipRealHosts skips tests on real sshd hosts under -short, before they
// start anything.
func skipRealHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs over a real sshd; skipped with -short")
	}
	if why := sshdtest.Skip(); why != "" {
		t.Skip(why)
	}
}

func newEtcdPlay(t *testing.T, cl *etcdtest.Cluster, hosts int) *etcdPlay {
	skipRealHosts(t)
	srv := sshdtest.Start(t, hosts)
	p := &etcdPlay{t: t, srv: srv, cl: cl, dir: t.TempDir(), conn: srv.Connector(t), vars: map[string]string{}, hostVars: map[string]map[string]string{}}
	for i, h := range srv.Hosts {
		hv := map[string]string{}
		if cl != nil && i < len(cl.Members) {
			m := cl.Members[i]
			hv[etcd.VarName] = m.Name
			hv[etcd.VarClientURL] = m.ClientURL
			hv[etcd.VarPeerURL] = m.PeerURL
		}
		p.hostVars[h.Name] = hv
	}
	return p
}

func (p *etcdPlay) inventory() *inventory.Inventory {
	var b strings.Builder
	b.WriteString("[test]\n")
	for _, h := range p.srv.Hosts {
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d", h.Name, h.Addr, h.Port)
		for k, v := range p.hostVars[h.Name] {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n[all:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n", sshdtest.User, p.srv.KeyFile)
	for k, v := range p.vars {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	inv, err := inventory.Parse("inventory.ini", []byte(b.String()))
	if err != nil {
		p.t.Fatalf("%v\n%s", err, b.String())
	}
	return inv
}

func (p *etcdPlay) run(src string, check bool, vars map[string]any) (*recorder, error) {
	p.t.Helper()
	return runStar(p.t, p.dir, src, engine.Config{Inventory: p.inventory(), Connector: p.conn, Check: check, Vars: vars}, 2*time.Minute)
}

// runStar writes src as play.star in dir and runs it through the engine
// with every module, cfg giving the inventory, connector and modes; the
// text output and events are in the recorder. It is the one way the etcd
// module tests run a playbook.
func runStar(t testing.TB, dir, src string, cfg engine.Config, timeout time.Duration) (*recorder, error) {
	t.Helper()
	file := filepath.Join(dir, "play.star")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pb, err := engine.OpenPlaybook(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := &etcdBuffer{}
	rec := &recorder{buf: buf, text: engine.NewText(buf, buf, engine.TextOptions{})}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cfg.Modules, cfg.Output, cfg.Diff, cfg.BaseDir, cfg.Forks = All(), rec, true, dir, 10
	_, err = engine.Run(ctx, cfg, pb)
	rec.text.Close()
	return rec, err
}

func TestEtcdModulesOverSSH(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	p := newEtcdPlay(t, cl, 3)
	m4 := cl.NewMember("etcd-4")

	// Check mode: the plan, with the initial cluster the new member would
	// get, and no change to the cluster.
	rec, err := p.run(`
def main(ctx):
    hs = ctx.hosts("test")
    r = member_list(hs)
    if len(r.members) != 3 or r.voters != 3 or not r.leader:
        fail("member_list: %s" % r.members)
    m = member_add(hs, name = "etcd-4", peer_urls = [ctx.vars["peer"]], learner = True)
    print("IC", m.initial_cluster, m.state)
`, true, map[string]any{"peer": m4.PeerURL})
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	out := rec.buf.String()
	if !strings.Contains(out, "would add etcd-4 ("+m4.PeerURL+") as a learner") || !strings.Contains(out, "etcd-4="+m4.PeerURL) || !strings.Contains(out, " existing") {
		t.Errorf("check run output:\n%s", out)
	}
	if got := memberNames(t, cl); got != "etcd-1 etcd-2 etcd-3" {
		t.Fatalf("check mode changed the cluster: %s", got)
	}

	// The real thing: snapshot, add a learner; then the test starts it.
	rec, err = p.run(`
def main(ctx):
    hs = ctx.hosts("test")
    wait_healthy(hs, timeout = "20s")
    snap = snapshot_save(hs, dest = "backups")
    print("SNAP", snap.path)
    m = member_add(hs, name = "etcd-4", peer_urls = [ctx.vars["peer"]], learner = True)
    print("IC", m.initial_cluster)
`, false, map[string]any{"peer": m4.PeerURL})
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	var ic string
	for _, line := range strings.Split(rec.buf.String(), "\n") {
		if _, rest, ok := strings.Cut(line, "IC "); ok {
			ic = strings.TrimSpace(rest)
		}
	}
	if snaps, _ := filepath.Glob(filepath.Join(p.dir, "backups", "etcd-*.db")); len(snaps) != 1 {
		t.Errorf("snapshots: %v\n%s", snaps, rec.buf)
	}
	cl.StartJoining(m4, ic)

	// Promote when in sync, wait for the four, then remove the learner-
	// turned-voter again; the member table through SSH says so.
	p.hostVars["h4"] = nil
	rec, err = p.run(`
def main(ctx):
    hs = ctx.hosts("test")
    member_promote(hs, name = "etcd-4", timeout = "30s")
    r = wait_healthy(hs, timeout = "30s")
    if len(r.members) != 4:
        fail("wait_healthy: %d members" % len(r.members))
    member_remove(hs, name = "etcd-4")
    r = member_list(hs)
    print("MEMBERS", sorted([m["name"] for m in r.members]))
`, false, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	if !strings.Contains(rec.buf.String(), `MEMBERS ["etcd-1", "etcd-2", "etcd-3"]`) {
		t.Errorf("output:\n%s", rec.buf)
	}
	m4.Stop()

	// The first target's etcd is down: it is skipped with a note, and the
	// gate refuses to remove a healthy member, with the arithmetic, exit
	// status 5.
	cl.Member("etcd-1").Kill()
	rec, err = p.run(`
def main(ctx):
    member_remove(ctx.hosts("test"), name = "etcd-2")
`, false, nil)
	var ee *engine.Error
	if !asEngineError(err, &ee) || ee.Kind() != engine.KindRefused {
		t.Fatalf("remove with a member down: %v\n%s", err, rec.buf)
	}
	for _, want := range []string{
		"removing etcd-2 would lose quorum: 3 voting members, 2 healthy (etcd-1 is down (connection refused)); quorum is 2",
		"Bring etcd-1 back first, or force=True to override.",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if ws := rec.warnings(); len(ws) == 0 || !strings.Contains(ws[0], "h1: target did not answer: etcd at "+cl.Member("etcd-1").ClientURL+": connection refused; trying the next target") {
		t.Errorf("no note about skipping h1: %q\n%s", ws, rec.buf)
	}
	// Removing the dead member is the replace case: allowed.
	rec, err = p.run(`
def main(ctx):
    r = member_remove(ctx.hosts("test"), name = "etcd-1")
    print("QUORUM", r.quorum)
`, false, nil)
	if err != nil || !strings.Contains(rec.buf.String(), "after removing etcd-1, 2 voters with 2 healthy, quorum 2") {
		t.Errorf("remove dead member: %v\n%s", err, rec.buf)
	}
}

func TestEtcdModulesOverSSHWithTLSFromHost(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	p := newEtcdPlay(t, cl, 3)
	p.vars[etcd.VarCACert] = cl.TLS.CA
	p.vars[etcd.VarCert] = cl.TLS.Cert
	p.vars[etcd.VarKey] = cl.TLS.Key
	p.vars[etcd.VarTLSFromHost] = "true"
	rec, err := p.run(`
def main(ctx):
    hs = ctx.hosts("test")
    r = wait_healthy(hs, timeout = "20s")
    print("LEADER", r.leader, [m["client_urls"][0][:8] for m in r.members])
`, false, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	if !strings.Contains(rec.buf.String(), `LEADER etcd-`) || !strings.Contains(rec.buf.String(), `"https://"`) {
		t.Errorf("output:\n%s", rec.buf)
	}
	// Without the client certificate, every target is tried and the
	// error says what is missing, not that the targets did not answer.
	delete(p.vars, etcd.VarCert)
	delete(p.vars, etcd.VarKey)
	rec, err = p.run(`
def main(ctx):
    member_list(ctx.hosts("test"))
`, false, nil)
	if err == nil || !strings.Contains(err.Error(), "requires a client certificate: give cert= and key=") || strings.Contains(err.Error(), "no target answered") {
		t.Errorf("without a client certificate: %v\n%s", err, rec.buf)
	}
}

func asEngineError(err error, e **engine.Error) bool {
	if err == nil {
		return false
	}
	x, ok := err.(*engine.Error)
	if ok {
		*e = x
	}
	return ok
}
