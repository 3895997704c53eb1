package engine

import (
	"reflect"
	"testing"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

func TestTargetOf(t *testing.T) {
	inv, err := inventory.Parse("t.ini", []byte(`
plain ansible_host=10.0.0.1 ansible_port=2222 ansible_user=ops ansible_ssh_private_key_file=~/.ssh/k
named
jumpj ansible_ssh_common_args='-J bastion:22'
jumpo ansible_ssh_common_args="-o ProxyJump=ops@bastion -o UserKnownHostsFile=/lab/known_hosts -o StrictHostKeyChecking=yes"
jumpsp ansible_ssh_common_args='-o ProxyJump bastion2'
short host=10.0.0.9 port=22 user=root proxy_jump=b3
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]transport.Target{
		"plain":  {Name: "plain", Addr: "10.0.0.1", Port: 2222, User: "ops", KeyFile: "~/.ssh/k"},
		"named":  {Name: "named"},
		"jumpj":  {Name: "jumpj", ProxyJump: "bastion:22"},
		"jumpo":  {Name: "jumpo", ProxyJump: "ops@bastion", KnownHostsFiles: []string{"/lab/known_hosts"}},
		"jumpsp": {Name: "jumpsp", ProxyJump: "bastion2"},
		"short":  {Name: "short", Addr: "10.0.0.9", Port: 22, User: "root", ProxyJump: "b3"},
	} {
		h, ok := inv.Host(name)
		if !ok {
			t.Fatalf("no host %s", name)
		}
		if got := TargetOf(h); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}
