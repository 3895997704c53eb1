package modules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/enginetest"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
	"github.com/etcdplay/etcdplay/inventory"
)

// copyFile copies a test's PEM file to dst, creating its directory.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEtcdModulesOverSSHWithLocalTLS reaches a TLS cluster (https client
// URLs, client certificates required) with the CA, certificate and key on
// the control machine: as inventory variables with absolute paths, and as
// arguments relative to the playbook's directory.
func TestEtcdModulesOverSSHWithLocalTLS(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	p := newEtcdPlay(t, cl, 3)
	p.vars[etcd.VarCACert] = cl.TLS.CA
	p.vars[etcd.VarCert] = cl.TLS.Cert
	p.vars[etcd.VarKey] = cl.TLS.Key
	m4 := cl.NewMember("etcd-4")
	rec, err := p.run(`
def main(ctx):
    hs = ctx.hosts("test")
    r = member_list(hs)
    print("LIST", len(r.members), r.voters, r.leader != "", sorted([m["client_urls"][0][:8] for m in r.members]))
    h = wait_healthy(hs, timeout = "20s")
    print("HEALTHY", len(h.members), h.leader != "")
    s = snapshot_save(hs, dest = "backups")
    print("SNAP", s.path)
    a = member_add(hs, name = "etcd-4", peer_urls = [ctx.vars["peer"]], learner = True)
    b = member_add(hs, name = "etcd-4", peer_urls = [ctx.vars["peer"]], learner = True)
    print("ADD", a.changed, b.changed, a.member["is_learner"], a.state)
`, false, map[string]any{"peer": m4.PeerURL})
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.buf)
	}
	out := rec.buf.String()
	for _, want := range []string{
		`LIST 3 3 True ["https://", "https://", "https://"]`,
		"HEALTHY 3 True",
		"ADD True False True existing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if snaps, _ := filepath.Glob(filepath.Join(p.dir, "backups", "etcd-*.db")); len(snaps) != 1 {
		t.Errorf("snapshots: %v\n%s", snaps, out)
	}

	// The same as arguments, relative to the playbook's directory, with
	// the variables gone.
	for _, k := range []string{etcd.VarCACert, etcd.VarCert, etcd.VarKey} {
		delete(p.vars, k)
	}
	copyFile(t, cl.TLS.CA, filepath.Join(p.dir, "pki", "ca.crt"))
	copyFile(t, cl.TLS.Cert, filepath.Join(p.dir, "pki", "client.crt"))
	copyFile(t, cl.TLS.Key, filepath.Join(p.dir, "pki", "client.key"))
	rec, err = p.run(`
def main(ctx):
    tls = {"cacert": "pki/ca.crt", "cert": "pki/client.crt", "key": "pki/client.key"}
    r = member_list(ctx.hosts("test"), **tls)
    print("MEMBERS", len(r.members))
`, false, nil)
	if err != nil || !strings.Contains(rec.buf.String(), "MEMBERS 4") {
		t.Errorf("relative paths as arguments: %v\n%s", err, rec.buf)
	}
}

// TestEtcdLocalTLSMistakes are the mistakes an operator makes with local
// TLS files: each is said plainly, as what it is.
func TestEtcdLocalTLSMistakes(t *testing.T) {
	skipRealHosts(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	other := etcdtest.NewTLSFiles(t)
	p := newEtcdPlay(t, cl, 3)
	run := func(vars map[string]string, src string) (*recorder, error, time.Duration) {
		t.Helper()
		for _, k := range []string{etcd.VarCACert, etcd.VarCert, etcd.VarKey} {
			delete(p.vars, k)
		}
		for k, v := range vars {
			p.vars[k] = v
		}
		start := time.Now()
		rec, err := p.run(src, false, nil)
		return rec, err, time.Since(start)
	}
	good := map[string]string{etcd.VarCACert: cl.TLS.CA, etcd.VarCert: cl.TLS.Cert, etcd.VarKey: cl.TLS.Key}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		m[k] = v
		return m
	}
	const list = `
def main(ctx):
    member_list(ctx.hosts("test"))
`

	t.Run("wrong CA", func(t *testing.T) {
		rec, err, _ := run(with(etcd.VarCACert, other.CA), list)
		var ee *engine.Error
		if !asEngineError(err, &ee) {
			t.Fatalf("%v\n%s", err, rec.buf)
		}
		for _, want := range []string{"certificate signed by unknown authority", other.CA} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		// The hosts answered; the certificate is the problem, not them.
		if out := rec.buf.String(); strings.Contains(err.Error(), "no target answered") || strings.Contains(out, "unreachable=1") || strings.Contains(out, "\nunreachable ") {
			t.Errorf("hosts reported unreachable for a wrong CA: %v\n%s", err, rec.buf)
		}
	})

	t.Run("wrong CA, wait_healthy", func(t *testing.T) {
		// Waiting does not fix a certificate: no waiting out the timeout.
		rec, err, took := run(with(etcd.VarCACert, other.CA), `
def main(ctx):
    wait_healthy(ctx.hosts("test"), timeout = "30s")
`)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") || !strings.Contains(err.Error(), other.CA) {
			t.Errorf("%v\n%s", err, rec.buf)
		}
		if took > 20*time.Second {
			t.Errorf("wait_healthy waited %s for a certificate problem", took.Round(time.Second))
		}
	})

	t.Run("client certificate of another CA", func(t *testing.T) {
		rec, err, _ := run(map[string]string{etcd.VarCACert: cl.TLS.CA, etcd.VarCert: other.Cert, etcd.VarKey: other.Key}, list)
		if err == nil || !strings.Contains(err.Error(), "refused the client certificate") || !strings.Contains(err.Error(), other.Cert) {
			t.Errorf("%v\n%s", err, rec.buf)
		}
	})

	t.Run("missing key file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.key")
		rec, err, _ := run(with(etcd.VarKey, missing), list)
		var ee *engine.Error
		if !asEngineError(err, &ee) || ee.Kind() != engine.KindBadInput {
			t.Fatalf("want bad input (exit 4): %v\n%s", err, rec.buf)
		}
		if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("error %q does not name the missing file", err)
		}
		// Said before etcd is dialled: no target is tried, none skipped.
		if ws := rec.warnings(); len(ws) > 0 {
			t.Errorf("warnings %q", ws)
		}
	})

	t.Run("key of another certificate", func(t *testing.T) {
		rec, err, _ := run(with(etcd.VarKey, other.Key), list)
		var ee *engine.Error
		if !asEngineError(err, &ee) || ee.Kind() != engine.KindBadInput || !strings.Contains(err.Error(), "private key does not match public key") {
			t.Errorf("want bad input (exit 4): %v\n%s", err, rec.buf)
		}
	})
}

// TestSystemdGateOnTLSProblem: a member that answers, but not over TLS as
// configured, is running; the quorum gate must not take it for one that
// is down (whose stop cannot lower the count of healthy members) and let
// the stop through unchecked.
func TestSystemdGateOnTLSProblem(t *testing.T) {
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	other := etcdtest.NewTLSFiles(t)
	m := cl.Member("etcd-1")
	inv, err := inventory.Parse("inventory.ini", []byte("etcd-1 ansible_host="+m.Addr+" "+etcd.VarClientURL+"="+m.ClientURL+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := inv.Host("etcd-1")
	// Direct, with absolute paths: the gate needs no connection to the
	// host, nor the run's playbook directory.
	a := &systemdArgs{ConnArgs: etcd.ConnArgs{Direct: etcd.OptBool{Set: true, Val: true}, CACert: other.CA, Cert: cl.TLS.Cert, Key: cl.TLS.Key}}
	c, end, err := engine.NewCall(testCtx(t), engine.Config{Inventory: inv}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	_, err = etcd.StopGate(testCtx(t), c, &a.ConnArgs, nil, "stop", "etcd.service", a.Force)
	var r *engine.RefusedError
	if !asRefused(err, &r) || !strings.Contains(err.Error(), "cannot read the cluster to check its quorum: TLS with etcd at "+m.Addr) || !strings.Contains(err.Error(), "not signed by the CA in cacert "+other.CA) {
		t.Errorf("stop with a wrong CA: %v", err)
	}
}

// TestCertsLocal puts etcdplay's certificates in place on a local
// stand-in host, then finds them in place, reading the host once a run.
func TestCertsLocal(t *testing.T) {
	root := t.TempDir()
	hostPKI := filepath.Join(root, "host", "pki")
	inv, conn := enginetest.Hosts(t, "[test:vars]\netcd_tls=auto\netcd_pki_dir="+filepath.Join(root, "ca")+"\netcd_host_pki_dir="+hostPKI+"\n", "h1")
	p := &play{t: t, conn: conn, inv: inv, dir: t.TempDir()}
	src := `
def main(ctx):
    certs("h1", user = "root")
`
	out, err := p.run(src)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, f := range []string{"ca.crt", "server.crt", "server.key", "peer.crt", "peer.key"} {
		if _, err := os.Stat(filepath.Join(hostPKI, f)); err != nil {
			t.Error(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(hostPKI, "server.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("server.key: %v %v", fi.Mode(), err)
	}
	before := len(conn.Conns["h1"].Runs())
	out, err = p.run(src)
	if err != nil || !strings.Contains(out, "certificates in place in "+hostPKI) {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := len(conn.Conns["h1"].Runs()) - before; n != 1 {
		t.Errorf("a run with the certificates in place ran %d commands, want 1: %q", n, conn.Conns["h1"].Runs()[before:])
	}
}
