package etcd

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// Inventory variables the etcd modules read (each has an argument of the
// same name without the etcd_ prefix that overrides it).
const (
	VarClientURL   = "etcd_client_url"    // this member's client URL; default SCHEME://ADDRESS:PORT
	VarClientPort  = "etcd_client_port"   // default 2379
	VarScheme      = "etcd_client_scheme" // http or https; default https when a CA is given
	VarDial        = "etcd_dial"          // how to reach client URLs: auto, ssh, relay or direct (DialMode)
	VarDirect      = "etcd_direct"        // true: etcd_dial=direct
	VarCACert      = "etcd_cacert"
	VarCert        = "etcd_cert"
	VarKey         = "etcd_key"
	VarTLSFromHost = "etcd_tls_from_host" // cacert/cert/key are paths on the member host
	VarName        = "etcd_name"          // the member's name; default the inventory name
	VarPeerURL     = "etcd_peer_url"      // the member's peer URL; default http://ADDRESS:2380
)

// OptBool is a boolean argument that can be left out, so an inventory
// variable decides instead.
type OptBool struct {
	Set, Val bool
}

// Unpack implements starlark.Unpacker.
func (b *OptBool) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		*b = OptBool{}
	case starlark.Bool:
		*b = OptBool{Set: true, Val: bool(v)}
	case starlark.String:
		x, ok := inventory.Bool(string(v))
		if !ok {
			return fmt.Errorf("got %q, want True or False (or yes/no, on/off, 1/0)", string(v))
		}
		*b = OptBool{Set: true, Val: x}
	default:
		return fmt.Errorf("got %s, want True or False", v.Type())
	}
	return nil
}

// Or is the value when it was given, else def.
func (b OptBool) Or(def bool) bool {
	if b.Set {
		return b.Val
	}
	return def
}

// ConnArgs are the arguments every etcd module takes to reach the
// cluster. Each falls back to an inventory variable of the host.
type ConnArgs struct {
	Direct      OptBool
	Dial        DialMode
	CACert      string
	Cert        string
	Key         string
	TLSFromHost OptBool
}

// Pairs binds the arguments for engine.HostModule.Args.
func (a *ConnArgs) Pairs() []any {
	return []any{"direct?", &a.Direct, "dial?", &a.Dial, "cacert?", &a.CACert, "cert?", &a.Cert, "key?", &a.Key, "tls_from_host?", &a.TLSFromHost}
}

// DialModeOf is how client URLs are reached through h: dial= or direct=
// of the call, else h's etcd_dial or etcd_direct, else DialAuto.
func (a *ConnArgs) DialModeOf(h *inventory.Host) (DialMode, error) {
	if a.Dial != "" {
		return a.Dial, nil
	}
	if a.Direct.Set {
		if a.Direct.Val {
			return DialDirect, nil
		}
		return DialAuto, nil
	}
	if HostBool(h, VarDirect) {
		return DialDirect, nil
	}
	if v := HostVar(h, VarDial); v != "" {
		m, err := ParseDialMode(v)
		if err != nil {
			return "", engine.BadInput("host %s: %v", h.Name, err)
		}
		return m, nil
	}
	return DialAuto, nil
}

// HostVar returns a host variable as a string ("" when unset).
func HostVar(h *inventory.Host, name string) string {
	v, ok := h.Var(name)
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			return fmt.Sprint(v[0])
		}
		return ""
	}
	return fmt.Sprint(v)
}

// HostBool returns a host variable read as Ansible reads booleans; false
// when unset.
func HostBool(h *inventory.Host, name string) bool {
	v, ok := h.Var(name)
	if !ok {
		return false
	}
	b, _ := inventory.Bool(v)
	return b
}
