package etcd

import (
	"net"
	"slices"

	"github.com/etcdplay/etcdplay/inventory"
)

// MemberName is the etcd member name of an inventory host.
func MemberName(h *inventory.Host) string {
	if n := HostVar(h, VarName); n != "" {
		return n
	}
	return h.Name
}

// ClientURL is the client URL of the etcd member on h.
func ClientURL(h *inventory.Host, tlsOn bool) string {
	if u := HostVar(h, VarClientURL); u != "" {
		return u
	}
	scheme := HostVar(h, VarScheme)
	if scheme == "" {
		scheme = "http"
		if tlsOn {
			scheme = "https"
		}
	}
	port := HostVar(h, VarClientPort)
	if port == "" {
		port = "2379"
	}
	return scheme + "://" + net.JoinHostPort(h.Address(), port)
}

// PeerURL is the peer URL of the etcd member on h.
func PeerURL(h *inventory.Host) string {
	if u := HostVar(h, VarPeerURL); u != "" {
		return u
	}
	return "http://" + net.JoinHostPort(h.Address(), "2380")
}

// Target is an inventory host as a member to find in the member list: its
// name, and its member's name and URLs.
type Target struct {
	Host      string
	Name      string // member name
	ClientURL string
	PeerURL   string
}

// TargetOf is h as a Target.
func TargetOf(h *inventory.Host, tlsOn bool) Target {
	return Target{Host: h.Name, Name: MemberName(h), ClientURL: ClientURL(h, tlsOn), PeerURL: PeerURL(h)}
}

// Match finds the target's member: by client URL, name or peer URL.
func (t Target) Match(ms []*Member) *Member {
	for _, m := range ms {
		if slices.Contains(m.ClientURLs, t.ClientURL) {
			return m
		}
	}
	return FindMember(ms, t.Name, "", t.PeerURL)
}
