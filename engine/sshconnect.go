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

func (c sshConnector) Connect(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
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
	if t.ProxyJump == "" {
		for _, k := range []string{"ansible_ssh_common_args", "ansible_ssh_extra_args"} {
			if v, ok := h.Var(k); ok {
				if s, ok := v.(string); ok {
					if pj := proxyJumpArg(s); pj != "" {
						t.ProxyJump = pj
						break
					}
				}
			}
		}
	}
	return t
}

// proxyJumpArg finds a jump host in ssh(1) arguments: -J X, -oProxyJump=X,
// -o ProxyJump=X or -o 'ProxyJump X'.
func proxyJumpArg(args string) string {
	f := strings.Fields(strings.NewReplacer(`"`, " ", `'`, " ").Replace(args))
	for i := 0; i < len(f); i++ {
		a := f[i]
		switch {
		case a == "-J" && i+1 < len(f):
			return f[i+1]
		case strings.HasPrefix(a, "-J"):
			return a[2:]
		case a == "-o" && i+1 < len(f):
			i++
			a = "-o" + f[i]
			if strings.EqualFold(f[i], "ProxyJump") && i+1 < len(f) {
				return f[i+1]
			}
			fallthrough
		case strings.HasPrefix(a, "-o"):
			kv := a[2:]
			if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "ProxyJump") {
				return v
			}
		}
	}
	return ""
}
