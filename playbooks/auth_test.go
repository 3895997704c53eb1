//go:build linux

package playbooks_test

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// TestAuth: a TLS cluster (etcdplay's CA) on which the operator turns
// etcd's authentication on. Without credentials a run stops saying which
// variables to set; with etcd_user and the password from a file, the
// environment or -e, status, rolling_restart, replace and rotate_certs
// work. Neither the password nor any private key (etcdplay's CA and
// client keys, each member's keys) appears in any output: text, JSON
// events or --diff.
func TestAuth(t *testing.T) {
	t.Parallel()
	e := setupAuthLab(t)
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	var outputs []string
	keep := func(r labtest.Run) labtest.Run { outputs = append(outputs, r.Raw); return r }
	keep(e.MustPlay(t, "bootstrap", "--diff"))

	const password = "c0rrect-h0rse-battery"
	e.Etcdctl(t, members, "user", "add", "root:"+password)
	e.Etcdctl(t, members, "user", "grant-role", "root", "root")
	e.Etcdctl(t, members, "auth", "enable")
	e.User, e.Password = "root", password
	t.Cleanup(func() { e.User, e.Password = "", "" })

	// etcd answers a client without a user with the CN of its
	// certificate ("etcdplay client"), which is no user of the cluster.
	r := keep(e.Play(t, "status", "--text"))
	if r.Code == 0 || !strings.Contains(r.Out, "set etcd_user to root") {
		t.Errorf("status without credentials on a cluster with auth: exit %d, want a failure that says to set etcd_user\n%s", r.Code, r.Out)
	}

	before := e.HostStates(t, members...)
	for _, pb := range []string{"rolling_restart", "replace"} {
		r := keep(e.Play(t, pb, "-e", "old=etcd-3", "-e", "new=etcd-4", "--text"))
		if r.Code == 0 || !strings.Contains(r.Out, "set etcd_user to root") {
			t.Errorf("%s without credentials: exit %d, want a failure that says to set etcd_user\n%s", pb, r.Code, r.Out)
		}
	}
	e.WantUnchanged(t, before)

	pwFile := filepath.Join(e.Work, "etcd-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := []string{"-e", "etcd_user=root", "-e", "etcd_password_file=" + pwFile}
	st := keep(e.MustPlay(t, "status", append(creds, "--text")...))
	if !strings.Contains(st.Out, "etcd-1") || !strings.Contains(st.Out, "leader") {
		t.Errorf("status with credentials shows no members:\n%s", st.Out)
	}
	keep(e.MustPlay(t, "rolling_restart", creds...))
	keep(e.MustPlay(t, "replace", append(creds, "-e", "old=etcd-3", "-e", "new=etcd-4", "--diff")...))
	members = []string{"etcd-1", "etcd-2", "etcd-4"}
	e.WantMembers(t, members[:1], members...)
	// An operator's playbook that shows the password every way it can:
	// printed, in a command's line, its output and its error.
	own := filepath.Join(e.Work, "leaky.star")
	if err := os.WriteFile(own, []byte(`def main(ctx):
    pw = ctx.vars["etcd_password"]
    print("the password is " + pw)
    command(ctx.hosts("etcd-1"), "echo " + pw)
    shell(ctx.hosts("etcd-1"), "echo " + pw + " >&2; exit 3")
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"--text", "--diff"} {
		r := keep(e.Play(t, own, "-e", "etcd_password="+password, format))
		if r.Code != 2 || strings.Count(r.Raw, "***") < 3 {
			t.Errorf("a playbook that shows the password: exit %d, want 2 (its command failed) and the password masked as ***\n%s", r.Code, r.Out)
		}
	}

	keys := privateKeys(t, e, members) // before rotate_certs makes new ones
	keep(e.MustPlay(t, "rotate_certs", append(creds, "--diff", "--text")...))
	e.WaitHealthy(t, members...)

	// The password in the environment, and typed with -e: masked.
	// (In this command's environment only: the tests run in parallel.)
	env := e.RunCommand(t, "ETCDPLAY_ETCD_PASSWORD="+password+" etcdplay run status -i "+e.Inv+" -e etcd_user=root -o json")
	if keep(env).Code != 0 {
		t.Errorf("status with the password in the environment: exit %d\n%s", env.Code, env.Out)
	}
	typed := keep(e.MustPlay(t, "status", "-e", "etcd_user=root", "-e", "etcd_password="+password, "--text"))
	if !strings.Contains(typed.Out, "leader") {
		t.Errorf("status with -e etcd_password shows no members:\n%s", typed.Out)
	}

	for name, body := range privateKeys(t, e, members) {
		keys[name+" (after rotate_certs)"] = body
	}
	if len(keys) < 2*(2+2*len(members)) {
		t.Fatalf("found %d private keys, want etcdplay's CA and client keys and each member's two, before and after rotate_certs", len(keys))
	}
	for i, out := range outputs {
		if strings.Contains(out, password) {
			t.Errorf("output %d shows the password:\n%s", i, out)
		}
		for name, body := range keys {
			if strings.Contains(out, body) {
				t.Errorf("output %d shows the private key %s", i, name)
			}
		}
	}
}

func setupAuthLab(tb testing.TB) *labtest.Env {
	return e2eLab.boot(tb, 4, "[all:vars]\netcd_tls=auto\n", true)
}

// privateKeys are the keys a run could leak, by where they are: the
// control machine's etcd-pki and the members' /etc/etcd/pki; each as a
// line of its base64 body, which any print of the key would hold.
func privateKeys(t *testing.T, e *labtest.Env, hosts []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(name string, b []byte) {
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return
			}
			if strings.Contains(blk.Type, "PRIVATE KEY") {
				body := strings.Split(string(pem.EncodeToMemory(blk)), "\n")
				out[name] = body[1]
			}
		}
	}
	local, _ := filepath.Glob(filepath.Join(e.PKIDir, "*.key"))
	for _, f := range local {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		add(f, b)
	}
	for _, h := range hosts {
		for _, f := range []string{"server.key", "peer.key"} {
			add(h+":"+f, []byte(e.Exec(t, h, "cat /etc/etcd/pki/"+f)))
		}
	}
	return out
}
