package engine

import (
	"context"
	"strings"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// SSHConnector connects to inventory hosts through pool, one connection per
// host for the whole run.
func SSHConnector(pool *transport.Pool) Connector { return sshConnector{pool} }

type sshConnector struct{ pool *transport.Pool }

// Release closes h's connection (Releaser).
func (c sshConnector) Release(h *inventory.Host) { c.pool.Release(TargetOf(h)) }

func (c sshConnector) Connect(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if err := h.ConnectionError(); err != nil {
		return nil, err // a template that cannot be evaluated is no address
	}
	return c.pool.Connect(ctx, TargetOf(h))
}

// TargetOf is where and how to reach h, from its inventory variables
// (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file
// and their short names; a ProxyJump from proxy_jump or from -J/-o
// ProxyJump= in ansible_ssh_common_args, as Ansible users write it).
func TargetOf(h *inventory.Host) transport.Target {
	t := transport.Target{Name: h.Name, Port: h.Port(), User: h.User(), KeyFile: h.KeyFile()}
	if a := h.Address(); a != h.Name {
		t.Addr = a
	}
	if v, ok := h.Var("proxy_jump"); ok {
		if s, ok := v.(string); ok {
			t.ProxyJump = s
		}
	}
	for _, k := range []string{"ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		v, _ := h.Var(k)
		s, _ := v.(string)
		if s == "" {
			continue
		}
		if pj := SSHOption(s, "ProxyJump"); t.ProxyJump == "" && pj != "" {
			t.ProxyJump = pj
		}
		if kh := SSHOption(s, "UserKnownHostsFile"); len(t.KnownHostsFiles) == 0 && kh != "" {
			t.KnownHostsFiles = strings.Fields(kh)
		}
	}
	return t
}

// sshShortFlags are ssh's own flags for the options SSHOption reads.
var sshShortFlags = map[string]string{"proxyjump": "-J", "user": "-l", "identityfile": "-i", "port": "-p"}

// SSHOption finds option name in ssh(1) arguments as Ansible users write
// them in ansible_ssh_common_args and ansible.cfg's ssh_args: -o Name=X,
// -oName=X, -o 'Name X', and the short flags -J X for ProxyJump, -l X for
// User, -i X for IdentityFile and -p X for Port; "" when it is not there.
func SSHOption(args, name string) string {
	short := sshShortFlags[strings.ToLower(name)]
	f := strings.Fields(strings.NewReplacer(`"`, " ", `'`, " ").Replace(args))
	for i := 0; i < len(f); i++ {
		a := f[i]
		switch {
		case short != "" && a == short && i+1 < len(f):
			return f[i+1]
		case short != "" && strings.HasPrefix(a, short) && len(a) > 2:
			return a[2:]
		case a == "-o" && i+1 < len(f):
			i++
			if strings.EqualFold(f[i], name) && i+1 < len(f) {
				return f[i+1]
			}
			a = "-o" + f[i]
		}
		if kv, ok := strings.CutPrefix(a, "-o"); ok {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, name) {
				if v == "" && i+1 < len(f) {
					v = f[i+1] // -o Name='a b': the quote was a blank
				}
				return v
			}
		}
	}
	return ""
}
