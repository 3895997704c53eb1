package etcd

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// Variables of a member's identity and TLS, besides those of vars.go.
const (
	VarPeerScheme   = "etcd_peer_scheme"  // http or https; default https with etcd_tls
	VarPeerPort     = "etcd_peer_port"    // default 2380
	VarDataDir      = "etcd_data_dir"     // default /var/lib/etcd/NAME.etcd
	VarConfFile     = "etcd_conf_file"    // default /etc/etcd/etcd.conf
	VarTLS          = "etcd_tls"          // none (default), auto or files (TLSMode)
	VarPKIDir       = "etcd_pki_dir"      // on the control machine: etcdplay's CA and certificates (auto); default INVENTORY_DIR/etcd-pki
	VarHostPKIDir   = "etcd_host_pki_dir" // on the member host; default /etc/etcd/pki
	VarCAFile       = "etcd_ca_file"      // files: the CA certificate (bundle) members trust
	VarCertFile     = "etcd_cert_file"    // files: the member's server certificate
	VarKeyFile      = "etcd_key_file"     // files: its key
	VarPeerCertFile = "etcd_peer_cert_file"
	VarPeerKeyFile  = "etcd_peer_key_file"
	VarFilesOnHost  = "etcd_tls_files_on_host" // files: the paths are on the member host, not to upload
)

// TLSMode is how a member's TLS is set up (etcd_tls).
type TLSMode string

const (
	// TLSNone: etcdplay sets no TLS up; a member may still serve https
	// from settings the operator gives (etcd_client_scheme=https and the
	// ETCD_*_FILE settings in etcd_settings).
	TLSNone TLSMode = "none"
	// TLSAuto: etcdplay's own CA on the control machine (etcd_pki_dir)
	// issues each member's server and peer certificate and etcdplay's
	// client certificate; client and peer traffic are TLS with client
	// certificates required.
	TLSAuto TLSMode = "auto"
	// TLSOwnFiles: the operator's CA and certificates, checked, then
	// uploaded (or found on the host with etcd_tls_files_on_host).
	TLSOwnFiles TLSMode = "files"
)

// Identity is how the etcd member of an inventory host is known: its
// name, the URLs it advertises and listens on, its data dir and
// configuration file, and its TLS. It is computed here once, from the
// host's variables (extra vars included), for the modules and, as h.etcd,
// for playbooks, so the two cannot disagree.
type Identity struct {
	Host      string
	Name      string
	Address   string // the host's address, without brackets
	ClientURL string
	PeerURL   string
	// ListenClientURLs and ListenPeerURLs are what etcd binds: the
	// advertised URL when its host is an IP address, else every address
	// (a DNS name is advertised as it is); and the client port on
	// 127.0.0.1 too, so etcdctl on the host works.
	ListenClientURLs []string
	ListenPeerURLs   []string
	DataDir          string
	ConfFile         string
	TLS              TLSMode
	// ClientTLS and PeerTLS say whether the URLs are https.
	ClientTLS, PeerTLS bool
	// HostPKI are the TLS files on the member host that etcd reads
	// (TLSAuto and TLSFiles); zero otherwise.
	HostPKI HostPKI
}

// HostPKI are the TLS files a member reads on its host.
type HostPKI struct {
	Dir               string
	CA                string // the CA certificates it trusts, client and peer
	Cert, Key         string // its server certificate, for clients
	PeerCert, PeerKey string // its peer certificate, server and client of its peers
}

// Settings are the ETCD_* settings of the member's etcd.conf that its
// identity decides (not the initial cluster, its state or token, which
// a change decides).
func (id Identity) Settings() map[string]string {
	s := map[string]string{
		"ETCD_NAME":                        id.Name,
		"ETCD_DATA_DIR":                    id.DataDir,
		"ETCD_LISTEN_PEER_URLS":            strings.Join(id.ListenPeerURLs, ","),
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": id.PeerURL,
		"ETCD_LISTEN_CLIENT_URLS":          strings.Join(id.ListenClientURLs, ","),
		"ETCD_ADVERTISE_CLIENT_URLS":       id.ClientURL,
	}
	if id.HostPKI.Dir != "" {
		p := id.HostPKI
		if id.ClientTLS {
			s["ETCD_CERT_FILE"], s["ETCD_KEY_FILE"], s["ETCD_TRUSTED_CA_FILE"] = p.Cert, p.Key, p.CA
			s["ETCD_CLIENT_CERT_AUTH"] = "true"
		}
		if id.PeerTLS {
			s["ETCD_PEER_CERT_FILE"], s["ETCD_PEER_KEY_FILE"], s["ETCD_PEER_TRUSTED_CA_FILE"] = p.PeerCert, p.PeerKey, p.CA
			s["ETCD_PEER_CLIENT_CERT_AUTH"] = "true"
		}
	}
	return s
}

// DefaultHostPKIDir is where members' TLS files go on their hosts.
const DefaultHostPKIDir = "/etc/etcd/pki"

// IdentityOf computes the identity of h's member. A variable that cannot
// be right (an etcd_tls that is no mode, a URL that is not one, an https
// peer URL without the peer certificates to serve it) is bad input.
func IdentityOf(h *inventory.Host) (Identity, error) {
	bad := func(format string, args ...any) (Identity, error) {
		return Identity{}, engine.BadInput("host %s: %s", h.Name, fmt.Sprintf(format, args...))
	}
	id := Identity{Host: h.Name, Name: MemberName(h), Address: h.Address()}
	mode, err := ParseTLSMode(HostVar(h, VarTLS))
	if err != nil {
		return bad("%v", err)
	}
	id.TLS = mode
	id.DataDir = orWord(HostVar(h, VarDataDir), "/var/lib/etcd/"+id.Name+".etcd")
	id.ConfFile = orWord(HostVar(h, VarConfFile), "/etc/etcd/etcd.conf")
	for name, p := range map[string]string{VarDataDir: id.DataDir, VarConfFile: id.ConfFile} {
		if !path.IsAbs(p) {
			return bad("%s=%q: want an absolute path on the host", name, p)
		}
	}

	tlsDefault := mode != TLSNone
	clientScheme, err := scheme(h, VarScheme, tlsDefault)
	if err != nil {
		return bad("%v", err)
	}
	peerScheme, err := scheme(h, VarPeerScheme, tlsDefault)
	if err != nil {
		return bad("%v", err)
	}
	clientPort, err := port(h, VarClientPort, 2379)
	if err != nil {
		return bad("%v", err)
	}
	peerPort, err := port(h, VarPeerPort, 2380)
	if err != nil {
		return bad("%v", err)
	}
	id.ClientURL = orWord(HostVar(h, VarClientURL), clientScheme+"://"+net.JoinHostPort(id.Address, strconv.Itoa(clientPort)))
	id.PeerURL = orWord(HostVar(h, VarPeerURL), peerScheme+"://"+net.JoinHostPort(id.Address, strconv.Itoa(peerPort)))
	for name, u := range map[string]string{VarClientURL: id.ClientURL, VarPeerURL: id.PeerURL} {
		if msg := CheckURL(u); msg != "" {
			return bad("%s: %s", name, msg)
		}
	}
	id.ClientTLS = strings.HasPrefix(id.ClientURL, "https://")
	id.PeerTLS = strings.HasPrefix(id.PeerURL, "https://")
	id.ListenPeerURLs = []string{listenURL(id.PeerURL)}
	id.ListenClientURLs = []string{listenURL(id.ClientURL)}
	if cu, _ := url.Parse(id.ClientURL); cu != nil && !isLoopback(cu.Hostname()) {
		// etcdctl on the host itself works without --endpoints; over TLS
		// the certificates etcdplay makes name 127.0.0.1 too.
		if !id.ClientTLS || mode == TLSAuto {
			local := cu.Scheme + "://" + net.JoinHostPort("127.0.0.1", cu.Port())
			if !slices.Contains(id.ListenClientURLs, local) && id.ListenClientURLs[0] != cu.Scheme+"://"+net.JoinHostPort("0.0.0.0", cu.Port()) {
				id.ListenClientURLs = append(id.ListenClientURLs, local)
			}
		}
	}
	if mode != TLSNone {
		dir := orWord(HostVar(h, VarHostPKIDir), DefaultHostPKIDir)
		id.HostPKI = HostPKI{Dir: dir, CA: path.Join(dir, "ca.crt"), Cert: path.Join(dir, "server.crt"), Key: path.Join(dir, "server.key"),
			PeerCert: path.Join(dir, "peer.crt"), PeerKey: path.Join(dir, "peer.key")}
		if mode == TLSOwnFiles && HostBool(h, VarFilesOnHost) {
			id.HostPKI = HostPKI{Dir: dir, CA: HostVar(h, VarCAFile), Cert: HostVar(h, VarCertFile), Key: HostVar(h, VarKeyFile),
				PeerCert: orWord(HostVar(h, VarPeerCertFile), HostVar(h, VarCertFile)), PeerKey: orWord(HostVar(h, VarPeerKeyFile), HostVar(h, VarKeyFile))}
		}
		if mode == TLSOwnFiles {
			for _, v := range []string{VarCAFile, VarCertFile, VarKeyFile} {
				if HostVar(h, v) == "" {
					return bad("etcd_tls=files needs %s, %s and %s (and %s, %s when the peer certificate is another): %s is not set",
						VarCAFile, VarCertFile, VarKeyFile, VarPeerCertFile, VarPeerKeyFile, v)
				}
			}
		}
	}
	if mode == TLSNone && id.PeerTLS && !settingSet(h, "ETCD_PEER_CERT_FILE") {
		return bad("its peer URL %s is https, but nothing gives etcd a peer certificate: set %s=auto (etcdplay's CA) or %s=files, or ETCD_PEER_CERT_FILE and ETCD_PEER_KEY_FILE in etcd_settings", id.PeerURL, VarTLS, VarTLS)
	}
	if mode == TLSNone && id.ClientTLS && HostVar(h, VarScheme) == "https" && HostVar(h, VarClientURL) == "" && !settingSet(h, "ETCD_CERT_FILE") {
		return bad("etcd_client_scheme is https, but nothing gives etcd a server certificate: set %s=auto or %s=files, or ETCD_CERT_FILE and ETCD_KEY_FILE in etcd_settings", VarTLS, VarTLS)
	}
	slices.Sort(id.ListenClientURLs)
	return id, nil
}

// ParseTLSMode reads etcd_tls ("" is none).
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", TLSNone:
		return TLSNone, nil
	case TLSAuto, TLSOwnFiles:
		return m, nil
	}
	return "", fmt.Errorf("%s=%q: want none, auto (etcdplay makes a CA and the certificates) or files (your own, with %s, %s, %s)", VarTLS, s, VarCAFile, VarCertFile, VarKeyFile)
}

func scheme(h *inventory.Host, name string, tls bool) (string, error) {
	switch s := strings.ToLower(HostVar(h, name)); s {
	case "":
		if tls {
			return "https", nil
		}
		return "http", nil
	case "http", "https":
		return s, nil
	default:
		return "", fmt.Errorf("%s=%q: want http or https", name, s)
	}
}

func port(h *inventory.Host, name string, def int) (int, error) {
	s := HostVar(h, name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s=%q: want a port number", name, s)
	}
	return n, nil
}

// settingSet reports whether etcd_settings sets name.
func settingSet(h *inventory.Host, name string) bool {
	v, ok := h.Var("etcd_settings")
	if !ok {
		return false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[name]
	return ok
}

// listenURL is the URL etcd binds for an advertised URL: etcd listens on
// IP addresses only, so a URL naming its host by DNS name is listened on
// at every address.
func listenURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	host := pu.Hostname()
	if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
		host = "0.0.0.0"
	}
	return pu.Scheme + "://" + net.JoinHostPort(host, pu.Port())
}

func isLoopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && a.IsLoopback()
}

// LocalPKIDir is etcdplay's CA directory on the control machine for h
// (TLSAuto): etcd_pki_dir, else etcd-pki beside the inventory file.
func LocalPKIDir(h *inventory.Host) string {
	if d := HostVar(h, VarPKIDir); d != "" {
		return d
	}
	return filepath.Join(orWord(HostVar(h, "inventory_dir"), "."), "etcd-pki")
}

// MemberName is the etcd member name of an inventory host.
func MemberName(h *inventory.Host) string {
	if n := HostVar(h, VarName); n != "" {
		return n
	}
	return h.Name
}

// ClientURL is the client URL of the etcd member on h. tlsOn (a CA is
// given to reach it) makes the default scheme https when the host's
// variables do not say.
func ClientURL(h *inventory.Host, tlsOn bool) string {
	id, err := IdentityOf(h)
	if err != nil {
		return fallbackURL(h, VarClientURL, VarScheme, VarClientPort, 2379, tlsOn)
	}
	if tlsOn && !id.ClientTLS && HostVar(h, VarClientURL) == "" && HostVar(h, VarScheme) == "" {
		return "https" + strings.TrimPrefix(id.ClientURL, "http")
	}
	return id.ClientURL
}

// PeerURL is the peer URL of the etcd member on h.
func PeerURL(h *inventory.Host) string {
	id, err := IdentityOf(h)
	if err != nil {
		return fallbackURL(h, VarPeerURL, VarPeerScheme, VarPeerPort, 2380, false)
	}
	return id.PeerURL
}

// fallbackURL is a member URL from the variables alone, for a host whose
// identity is bad input (the call that needs it says so).
func fallbackURL(h *inventory.Host, urlVar, schemeVar, portVar string, def int, tls bool) string {
	if u := HostVar(h, urlVar); u != "" {
		return u
	}
	s := orWord(HostVar(h, schemeVar), "http")
	if tls {
		s = "https"
	}
	return s + "://" + net.JoinHostPort(h.Address(), orWord(HostVar(h, portVar), strconv.Itoa(def)))
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
