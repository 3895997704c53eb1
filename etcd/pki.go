package etcd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// etcdplay's own CA (etcd_tls=auto) lives on the control machine, in a
// directory of the operator's choice:
//
//	ca.crt, ca.key                      the CA (ECDSA P-256, 10 years)
//	etcdplay-client.crt, .key           etcdplay's client certificate
//	members/NAME/server.crt, .key       a member's server certificate
//	members/NAME/peer.crt, .key         its peer certificate
//
// Certificates are made with crypto/x509: no cfssl or openssl needed.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 2 * 365 * 24 * time.Hour
	// RenewBefore is how long before it expires a certificate etcdplay
	// made is issued again, and status warns about any certificate.
	RenewBefore = 30 * 24 * time.Hour
)

// Usage is what a certificate is for.
type Usage int

const (
	UsageServer Usage = iota // a member's client-facing certificate
	UsagePeer                // a member's peer certificate: server and client of its peers
	UsageClient              // etcdplay's client certificate
)

func (u Usage) String() string {
	return [...]string{"server", "peer", "client"}[u]
}

func (u Usage) extKeyUsage() []x509.ExtKeyUsage {
	switch u {
	case UsageServer:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case UsagePeer:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
}

// CA is a certificate authority that signs certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA certificate as members trust it: with an old CA
	// during a rotation, a bundle of both.
	PEM []byte
}

// LocalPKI is etcdplay's CA directory on the control machine.
type LocalPKI struct{ Dir string }

func (p LocalPKI) caCert() string     { return filepath.Join(p.Dir, "ca.crt") }
func (p LocalPKI) caKey() string      { return filepath.Join(p.Dir, "ca.key") }
func (p LocalPKI) ClientCert() string { return filepath.Join(p.Dir, "etcdplay-client.crt") }
func (p LocalPKI) ClientKey() string  { return filepath.Join(p.Dir, "etcdplay-client.key") }
func (p LocalPKI) CAFile() string     { return p.caCert() }

// MemberFiles are the certificate and key of a member's usage.
func (p LocalPKI) MemberFiles(name string, u Usage) (cert, key string) {
	d := filepath.Join(p.Dir, "members", name)
	return filepath.Join(d, u.String()+".crt"), filepath.Join(d, u.String()+".key")
}

// LoadCA reads the CA; os.ErrNotExist when there is none yet.
func (p LocalPKI) LoadCA() (*CA, error) {
	cb, err := os.ReadFile(p.caCert())
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(p.caKey())
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(cb)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate: %v", p.caCert(), err)
	}
	key, err := parseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p.caKey(), err)
	}
	// The signing CA is the one whose key this is; others in the file
	// are trusted during a rotation.
	for _, c := range certs {
		if publicKeysEqual(c.PublicKey, key.Public()) {
			return &CA{Cert: c, Key: key, PEM: cb}, nil
		}
	}
	return nil, fmt.Errorf("%s holds no certificate of the key in %s", p.caCert(), p.caKey())
}

// CreateCA makes a new CA and writes it, unless one is there.
func (p LocalPKI) CreateCA(name string) (*CA, error) {
	if ca, err := p.LoadCA(); err == nil {
		return ca, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"etcdplay"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(p.caKey(), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(p.caCert(), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM}, nil
}

// AddCA makes a new CA that signs from now on; ca.crt becomes a bundle of
// it and the CAs trusted before, so members trust both while their
// certificates are issued again.
func (p LocalPKI) AddCA(name string) (*CA, error) {
	old, err := os.ReadFile(p.caCert())
	if err != nil {
		return nil, err
	}
	next := LocalPKI{Dir: filepath.Join(p.Dir, "next")}
	os.RemoveAll(next.Dir)
	ca, err := next.CreateCA(name)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(next.caKey())
	if err != nil {
		return nil, err
	}
	bundle := append(append([]byte{}, ca.PEM...), old...)
	if err := WriteFileAtomic(p.caKey(), kb, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(p.caCert(), bundle, 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(next.Dir)
	ca.PEM = bundle
	return ca, nil
}

// DropOldCAs leaves the signing CA alone in ca.crt.
func (p LocalPKI) DropOldCAs() (*CA, error) {
	ca, err := p.LoadCA()
	if err != nil {
		return nil, err
	}
	only := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	if err := WriteFileAtomic(p.caCert(), only, 0o644); err != nil {
		return nil, err
	}
	ca.PEM = only
	return ca, nil
}

// ClientFromSigner issues etcdplay's client certificate again unless the
// signing CA issued it: after a CA rotation, once members trust the new
// CA.
func (p LocalPKI) ClientFromSigner(ca *CA) error {
	signer := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	if cb, err := os.ReadFile(p.ClientCert()); err == nil {
		if kb, err := os.ReadFile(p.ClientKey()); err == nil && CheckCert(p.ClientCert(), cb, kb, signer, nil, UsageClient, time.Now().Add(RenewBefore)) == nil {
			return nil
		}
	}
	os.Remove(p.ClientCert())
	return p.IssueClient(ca)
}

// Issue signs a new certificate and key for cn with the names and
// addresses in sans.
func (ca *CA) Issue(cn string, sans []string, u Usage) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"etcdplay"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  u.extKeyUsage(),
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if !slices.Contains(tmpl.DNSNames, s) {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = marshalKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// SANs are the names and addresses a member's certificates must hold:
// the host's address and inventory name, the member's name and the hosts
// of its advertised URLs; and, for the server certificate, 127.0.0.1 and
// localhost, which its local listener answers on.
func (id Identity) SANs(u Usage) []string {
	out := []string{}
	add := func(s string) {
		s = strings.Trim(s, "[]")
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(id.Address)
	add(id.Host)
	add(id.Name)
	for _, raw := range []string{id.ClientURL, id.PeerURL} {
		if h, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(raw, "https://"), "http://")); err == nil {
			add(h)
		}
	}
	if u == UsageServer {
		add("127.0.0.1")
		add("localhost")
	}
	return out
}

// Required are the names and addresses a certificate must hold: a
// client dials the advertised URLs' hosts.
func (id Identity) Required(u Usage) []string {
	var out []string
	for _, raw := range []string{id.ClientURL, id.PeerURL} {
		if u == UsageServer && raw == id.PeerURL || u == UsagePeer && raw == id.ClientURL {
			continue
		}
		if h, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(raw, "https://"), "http://")); err == nil {
			out = append(out, strings.Trim(h, "[]"))
		}
	}
	return out
}

// CertProblem is what is wrong with a certificate and key: what a check
// found, for the operator.
type CertProblem struct {
	What string // "server certificate /etc/pki/etcd-2.crt"
	Msg  string
}

func (e *CertProblem) Error() string { return e.What + ": " + e.Msg }

// CheckCert checks a certificate and its key for use u: the key is the
// certificate's, the certificate chains to one of the CAs in caPEM, it
// holds every name or address in need, it may be used for u, and it is
// valid now (and, with renew, for longer than RenewBefore). what names it
// in messages.
func CheckCert(what string, certPEM, keyPEM, caPEM []byte, need []string, u Usage, now time.Time) error {
	problem := func(format string, args ...any) error {
		return &CertProblem{What: what, Msg: fmt.Sprintf(format, args...)}
	}
	certs, err := parseCerts(certPEM)
	if err != nil || len(certs) == 0 {
		return problem("no PEM certificate in it")
	}
	cert := certs[0]
	if keyPEM != nil {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return problem("its key is not the certificate's (%v): give the key that was made with it", err)
		}
	}
	if caPEM != nil {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caPEM) {
			return problem("the CA file holds no PEM certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		// Each usage on its own: Verify accepts a chain that allows any
		// of the usages given, and a peer certificate must allow both.
		for _, eku := range u.extKeyUsage() {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
				var inv x509.CertificateInvalidError
				switch {
				case errors.As(err, &inv) && inv.Reason == x509.Expired:
					return problem("it expired on %s (or is not valid yet: from %s)", cert.NotAfter.UTC().Format(time.DateOnly), cert.NotBefore.UTC().Format(time.DateOnly))
				case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
					return problem("it may not be used as a %s certificate (extended key usage %s is missing): a peer certificate needs server and client auth", u, ekuName(eku))
				}
				return problem("it does not chain to the CA (%s): %v", subjects(caPEM), err)
			}
		}
	}
	if now.After(cert.NotAfter) {
		return problem("it expired on %s", cert.NotAfter.UTC().Format(time.DateOnly))
	}
	for _, n := range need {
		if err := cert.VerifyHostname(n); err != nil {
			return problem("it is not for %s, which the member advertises: it holds %s; issue one whose subject alternative names include %s", n, certNames(cert), n)
		}
	}
	return nil
}

// CertExpiry is when the first certificate of certPEM expires.
func CertExpiry(certPEM []byte) (time.Time, error) {
	certs, err := parseCerts(certPEM)
	if err != nil || len(certs) == 0 {
		return time.Time{}, fmt.Errorf("no PEM certificate")
	}
	return certs[0].NotAfter, nil
}

func ekuName(e x509.ExtKeyUsage) string {
	if e == x509.ExtKeyUsageClientAuth {
		return "client auth"
	}
	return "server auth"
}

func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no subject alternative names (only CN " + c.Subject.CommonName + ")"
	}
	return strings.Join(names, ", ")
}

func subjects(caPEM []byte) string {
	certs, _ := parseCerts(caPEM)
	var s []string
	for _, c := range certs {
		s = append(s, c.Subject.CommonName)
	}
	return strings.Join(s, ", ")
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("not a private key etcdplay reads (PKCS#8, EC or PKCS#1)")
}

func marshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// WriteFileAtomic writes a file on the control machine as the transport
// does on hosts: a complete temporary file of its own name, synced, then
// renamed over it, so that a reader, another run writing the same file,
// or a crash never leaves half of one (a CA key, the lab's state). The
// directory is made (0700) if need be.
func WriteFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// IssueMember makes (or keeps) the certificate and key of a member's
// usage in p: a pair that exists, is the CA's, holds the SANs and is not
// near its expiry is kept. It returns the pair and whether it was made.
func (p LocalPKI) IssueMember(ca *CA, id Identity, u Usage) (certPEM, keyPEM []byte, made bool, err error) {
	cf, kf := p.MemberFiles(id.Name, u)
	if cb, err := os.ReadFile(cf); err == nil {
		if kb, err := os.ReadFile(kf); err == nil {
			if CheckCert(cf, cb, kb, ca.PEM, id.SANs(u), u, time.Now().Add(RenewBefore)) == nil {
				return cb, kb, false, nil
			}
		}
	}
	cb, kb, err := ca.Issue(id.Name, id.SANs(u), u)
	if err != nil {
		return nil, nil, false, err
	}
	if err := WriteFileAtomic(kf, kb, 0o600); err != nil {
		return nil, nil, false, err
	}
	if err := WriteFileAtomic(cf, cb, 0o644); err != nil {
		return nil, nil, false, err
	}
	return cb, kb, true, nil
}

// IssueClient makes (or keeps) etcdplay's client certificate.
func (p LocalPKI) IssueClient(ca *CA) error {
	if cb, err := os.ReadFile(p.ClientCert()); err == nil {
		if kb, err := os.ReadFile(p.ClientKey()); err == nil {
			if CheckCert(p.ClientCert(), cb, kb, ca.PEM, nil, UsageClient, time.Now().Add(RenewBefore)) == nil {
				return nil
			}
		}
	}
	cb, kb, err := ca.Issue("etcdplay", nil, UsageClient)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(p.ClientKey(), kb, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(p.ClientCert(), cb, 0o644)
}
