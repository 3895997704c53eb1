package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// TLSFiles are the PEM files of a TLS test cluster: a CA, and a client
// certificate and key it signed. Servers get their own certificate for
// their address.
type TLSFiles struct {
	Dir  string
	CA   string // CA certificate
	Cert string // client certificate
	Key  string // client key

	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

// NewTLSFiles writes a CA of its own, and a client certificate and key it
// signed, in a new directory removed when tb ends: credentials a test
// cluster does not trust, for tests of a wrong CA or client certificate.
func NewTLSFiles(tb testing.TB) *TLSFiles {
	tb.Helper()
	dir, err := os.MkdirTemp("", "etcdtest-pki-")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return newTLSFiles(tb, dir)
}

func newTLSFiles(tb testing.TB, dir string) *TLSFiles {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	f := &TLSFiles{Dir: dir, CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key"), serial: 1}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(f.serial),
		Subject:               pkix.Name{CommonName: "etcdplay test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	f.caCert, _ = x509.ParseCertificate(der)
	f.caKey = key
	writePEM(tb, f.CA, "CERTIFICATE", der)
	f.issue(tb, f.Cert, f.Key, "etcdplay-client", nil, x509.ExtKeyUsageClientAuth)
	return f
}

// issue writes a certificate signed by the CA and its key.
func (f *TLSFiles) issue(tb testing.TB, certFile, keyFile, cn string, ips []net.IP, usage ...x509.ExtKeyUsage) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	f.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(f.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, &key.PublicKey, f.caKey)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, certFile, "CERTIFICATE", der)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, keyFile, "EC PRIVATE KEY", kb)
}

func (f *TLSFiles) addServer(tb testing.TB, m *Member) {
	f.issue(tb, f.serverCert(m), f.serverKey(m), m.Name, []net.IP{net.ParseIP(m.Addr)},
		x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}

func (f *TLSFiles) serverCert(m *Member) string { return filepath.Join(f.Dir, m.Name+".crt") }
func (f *TLSFiles) serverKey(m *Member) string  { return filepath.Join(f.Dir, m.Name+".key") }

func (f *TLSFiles) serverInfo(m *Member) transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       f.serverCert(m),
		KeyFile:        f.serverKey(m),
		TrustedCAFile:  f.CA,
		ClientCertAuth: true,
	}
}

func (f *TLSFiles) clientConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.caCert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	// Readable by everyone: tests read the files over SSH as the sshdtest
	// user too.
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
}
