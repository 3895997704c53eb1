package etcd

import (
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/inventory"
)

// TestCheckCert: a good certificate passes; a wrong key, a name the
// certificate lacks, an expired one and one of another CA are each
// refused with what is wrong.
func TestCheckCert(t *testing.T) {
	ca, err := LocalPKI{Dir: t.TempDir()}.CreateCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := LocalPKI{Dir: t.TempDir()}.CreateCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("etcd-1", []string{"10.0.0.1", "etcd-1"}, UsageServer)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ca.Issue("etcd-2", []string{"10.0.0.2"}, UsageServer)
	foreign, foreignKey, _ := other.Issue("etcd-1", []string{"10.0.0.1"}, UsageServer)
	now := time.Now()
	for _, tc := range []struct {
		name      string
		cert, key []byte
		need      []string
		at        time.Time
		want      string // "" passes
	}{
		{"good", cert, key, []string{"10.0.0.1", "etcd-1"}, now, ""},
		{"key of another certificate", cert, otherKey, nil, now, "its key is not the certificate's"},
		{"SAN missing an address", cert, key, []string{"10.0.0.9"}, now, "it is not for 10.0.0.9, which the member advertises: it holds etcd-1, 10.0.0.1"},
		{"expired", cert, key, nil, now.Add(3 * 365 * 24 * time.Hour), "it expired on"},
		{"wrong CA", foreign, foreignKey, nil, now, "it does not chain to the CA (test CA)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCert("server certificate s.crt", tc.cert, tc.key, ca.PEM, tc.need, UsageServer, tc.at)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), "server certificate s.crt: "):
				t.Errorf("%v does not name the file", err)
			}
		})
	}
	// A peer certificate must serve both ways; a server one does not.
	if err := CheckCert("peer", cert, key, ca.PEM, nil, UsagePeer, now); err == nil {
		t.Errorf("a server-only certificate passed as a peer certificate")
	}
}

// TestIdentityIPv6: an IPv6 member's URLs are bracketed, from the modules
// and h.etcd alike; TLS makes both schemes https and names the files.
func TestIdentityIPv6(t *testing.T) {
	inv, err := inventory.Parse("inv.ini", []byte("[etcd]\ne1 ansible_host=fd00::11\ne2 ansible_host=fd00::12 etcd_tls=auto\n"))
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := inv.Host("e1")
	id, err := IdentityOf(h1)
	if err != nil {
		t.Fatal(err)
	}
	if id.ClientURL != "http://[fd00::11]:2379" || id.PeerURL != "http://[fd00::11]:2380" {
		t.Errorf("URLs %s %s", id.ClientURL, id.PeerURL)
	}
	if ClientURL(h1, false) != id.ClientURL || PeerURL(h1) != id.PeerURL {
		t.Errorf("the modules' URLs %s %s differ from the identity's", ClientURL(h1, false), PeerURL(h1))
	}
	if got := strings.Join(id.ListenClientURLs, ","); got != "http://127.0.0.1:2379,http://[fd00::11]:2379" {
		t.Errorf("listen client URLs %s", got)
	}
	v, err := HostValue(h1)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.String(); !strings.Contains(s, `peer_url = "http://[fd00::11]:2380"`) || !strings.Contains(s, `client_url = "http://[fd00::11]:2379"`) {
		t.Errorf("h.etcd: %s", s)
	}

	h2, _ := inv.Host("e2")
	id2, err := IdentityOf(h2)
	if err != nil {
		t.Fatal(err)
	}
	if id2.ClientURL != "https://[fd00::12]:2379" || id2.PeerURL != "https://[fd00::12]:2380" || id2.Settings()["ETCD_PEER_CERT_FILE"] != "/etc/etcd/pki/peer.crt" || id2.Settings()["ETCD_CLIENT_CERT_AUTH"] != "true" {
		t.Errorf("TLS identity %+v %v", id2, id2.Settings())
	}
	if sans := strings.Join(id2.SANs(UsageServer), ","); sans != "fd00::12,e2,127.0.0.1,localhost" {
		t.Errorf("SANs %s", sans)
	}
}

// TestIdentityMixedTLS: an https peer URL without anything to give etcd
// a peer certificate is refused, naming the ways to give one.
func TestIdentityMixedTLS(t *testing.T) {
	inv, err := inventory.Parse("inv.ini", []byte("e1 ansible_host=10.0.0.1 etcd_peer_url=https://10.0.0.1:2380\ne2 ansible_host=10.0.0.2 etcd_tls=sometimes\n"))
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := inv.Host("e1")
	if _, err := IdentityOf(h1); err == nil || !strings.Contains(err.Error(), "nothing gives etcd a peer certificate: set etcd_tls=auto") {
		t.Errorf("https peer URL without certificates: %v", err)
	}
	h2, _ := inv.Host("e2")
	if _, err := IdentityOf(h2); err == nil || !strings.Contains(err.Error(), `etcd_tls="sometimes": want none, auto`) {
		t.Errorf("etcd_tls=sometimes: %v", err)
	}
}
