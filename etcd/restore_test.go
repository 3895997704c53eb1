package etcd

import (
	"testing"

	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/etcdserver/api/membership"
	"go.uber.org/zap"
)

// The IDs a restore gives its members and cluster are etcd's own.
func TestRestoreIDsAreEtcds(t *testing.T) {
	for _, s := range []string{
		"etcd-1=https://10.77.0.11:2380,etcd-2=https://10.77.0.12:2380,etcd-3=https://10.77.0.13:2380",
		"a=http://[fd00::1]:2380,a=http://10.0.0.1:2380,b=http://10.0.0.2:2380",
		"solo=http://127.0.0.1:2380",
	} {
		for _, token := range []string{"etcd-cluster", "etcd-etcd-restored-0123abcd"} {
			ic, err := ParseInitialCluster(s)
			if err != nil {
				t.Fatal(err)
			}
			members, cluster := ic.IDs(token)
			urls, err := types.NewURLsMap(s)
			if err != nil {
				t.Fatal(err)
			}
			want, err := membership.NewClusterFromURLsMap(zap.NewNop(), token, urls)
			if err != nil {
				t.Fatal(err)
			}
			if cluster != uint64(want.ID()) {
				t.Errorf("%s with %s: cluster ID %x, etcd's %x", s, token, cluster, uint64(want.ID()))
			}
			for _, m := range want.Members() {
				if members[m.Name] != uint64(m.ID) {
					t.Errorf("%s with %s: member %s ID %x, etcd's %x", s, token, m.Name, members[m.Name], uint64(m.ID))
				}
			}
		}
	}
}

func TestParseInitialClusterRefusesNonsense(t *testing.T) {
	for _, s := range []string{"", "a", "a=", "=http://x:1", "a=ftp://x:1"} {
		if _, err := ParseInitialCluster(s); err == nil {
			t.Errorf("ParseInitialCluster(%q): no error", s)
		}
	}
}
