package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

// TestEtcdFacts reads the data dir of a real (embedded) member, an empty
// one and one of other files, in check mode too, as bootstrap and status
// use it.
func TestEtcdFacts(t *testing.T) {
	cl := etcdtest.Start(t, 1, etcdtest.Options{})
	m := cl.Members[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ml, err := cl.Client().MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	conf := filepath.Join(root, "etcd.conf")
	os.WriteFile(conf, []byte("ETCD_NAME=\"etcd-1\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"), 0o644)
	os.Mkdir(filepath.Join(root, "empty"), 0o700)
	os.Mkdir(filepath.Join(root, "other"), 0o700)
	os.WriteFile(filepath.Join(root, "other", "notes"), nil, 0o644)
	p := newLocalPlay(t, fmt.Sprintf(`[etcd]
h1 etcd_data_dir=%s etcd_conf_file=%s
h2 etcd_data_dir=%[3]s/empty etcd_conf_file=%[3]s/none.conf
h3 etcd_data_dir=%[3]s/other etcd_conf_file=%[3]s/none.conf
h4 etcd_data_dir=%[3]s/missing etcd_conf_file=%[3]s/none.conf
`, m.Dir, conf, root))
	src := fmt.Sprintf(`
def main(ctx):
    hosts = ctx.hosts("etcd")
    facts = {r.host: r for r in etcd_facts(hosts) if r.ok and not r.skipped}
    want = {
        "h1": ("existing", True, "%x", "%x"),
        "h2": ("", False, "", ""),
        "h3": ("", True, "", ""),
        "h4": ("", False, "", ""),
    }
    for h in hosts:
        f = facts[h]
        got = (f.conf_state, f.data, f.member_id, f.cluster_id)
        if got != want[h.name]:
            fail("%%s: %%s, want %%s" %% (h.name, got, want[h.name]))
        if f.active not in ("", "inactive") or len(f.uuid) != 36:
            fail("%%s: active %%r, uuid %%r" %% (h.name, f.active, f.uuid))
    if facts[hosts[0]].uuid == facts[hosts[1]].uuid:
        fail("the same uuid twice")
`, m.ID(), ml.Header.ClusterId)
	for _, check := range []bool{false, true} {
		rec, err := p.run(src, check)
		if err != nil {
			t.Fatalf("check mode %v: %v\n%s", check, err, rec.buf)
		}
		if out := rec.buf.String(); !strings.Contains(out, fmt.Sprintf(", ETCD_INITIAL_CLUSTER_STATE existing, %s the data of member %x of cluster %x\n", m.Dir, m.ID(), ml.Header.ClusterId)) {
			t.Errorf("output:\n%s", out)
		}
		for h, c := range p.conn.Conns {
			if n := len(c.Runs()); n != 1 && !check || n != 2 && check {
				t.Errorf("%s: %d commands", h, n)
			}
		}
	}
}
