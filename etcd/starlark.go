package etcd

import (
	"maps"
	"slices"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// HostAttrs are the attributes the etcd layer gives host values in
// playbooks: h.etcd, the member's identity (see HostValue).
func HostAttrs() map[string]engine.HostAttr {
	return map[string]engine.HostAttr{"etcd": HostValue}
}

// HostValue is h.etcd: the identity of h's member as IdentityOf computes
// it, for playbooks and their library, which use it rather than derive
// names and URLs again:
//
//	h.etcd.name, .address, .client_url, .peer_url,
//	.listen_client_urls, .listen_peer_urls (lists), .data_dir,
//	.conf_file, .tls ("none", "auto" or "files"), .client_tls and
//	.peer_tls (bools), .pki (the TLS files on the host: dir, ca, cert,
//	key, peer_cert, peer_key; None without etcd_tls), .settings (the
//	ETCD_* settings the identity decides, a dict), .listen_url(url) (what
//	etcd binds for an advertised URL)
func HostValue(h *inventory.Host) (starlark.Value, error) {
	id, err := IdentityOf(h)
	if err != nil {
		return nil, err
	}
	strs := func(ss []string) *starlark.List {
		vs := make([]starlark.Value, len(ss))
		for i, s := range ss {
			vs[i] = starlark.String(s)
		}
		return starlark.NewList(vs)
	}
	// In name order: a dict's order shows (a plan lists it), and a map's
	// would change from run to run.
	settings := starlark.NewDict(8)
	set := id.Settings()
	for _, k := range slices.Sorted(maps.Keys(set)) {
		settings.SetKey(starlark.String(k), starlark.String(set[k]))
	}
	var pki starlark.Value = starlark.None
	if id.HostPKI.Dir != "" {
		p := id.HostPKI
		pki = starlarkstruct.FromStringDict(starlark.String("pki"), starlark.StringDict{
			"dir": starlark.String(p.Dir), "ca": starlark.String(p.CA), "cert": starlark.String(p.Cert), "key": starlark.String(p.Key),
			"peer_cert": starlark.String(p.PeerCert), "peer_key": starlark.String(p.PeerKey),
		})
	}
	return starlarkstruct.FromStringDict(starlark.String("etcd"), starlark.StringDict{
		"name":               starlark.String(id.Name),
		"address":            starlark.String(id.Address),
		"client_url":         starlark.String(id.ClientURL),
		"peer_url":           starlark.String(id.PeerURL),
		"listen_client_urls": strs(id.ListenClientURLs),
		"listen_peer_urls":   strs(id.ListenPeerURLs),
		"data_dir":           starlark.String(id.DataDir),
		"conf_file":          starlark.String(id.ConfFile),
		"tls":                starlark.String(string(id.TLS)),
		"client_tls":         starlark.Bool(id.ClientTLS),
		"peer_tls":           starlark.Bool(id.PeerTLS),
		"pki":                pki,
		"settings":           settings,
		"listen_url":         starlark.NewBuiltin("listen_url", listenURLBuiltin),
	}), nil
}

// listenURLBuiltin is h.etcd.listen_url(url): the URL etcd binds for an
// advertised one (move advertises a new peer URL before the inventory
// says it).
func listenURLBuiltin(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var u string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &u); err != nil {
		return nil, err
	}
	return starlark.String(listenURL(u)), nil
}
