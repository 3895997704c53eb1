package etcd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// TLSFiles are the TLS file paths to use, from arguments or variables.
type TLSFiles struct {
	CACert, Cert, Key string
	FromHost          bool
	// Host is the host the files are read on when FromHost is set.
	Host string
	// sum is the SHA-256 of what was read, once read.
	sum string
}

// describe is a file's path as messages show it: with the host it is
// on, when it is not on the control machine.
func (f TLSFiles) describe(p string) string {
	if f.FromHost && f.Host != "" {
		return p + " (on " + f.Host + ")"
	}
	return p
}

func (f TLSFiles) any() bool { return f.CACert != "" || f.Cert != "" || f.Key != "" }

// key tells sets of files apart among a run's clients: files on a host
// are that host's.
func (f TLSFiles) key() string {
	if !f.any() {
		return ""
	}
	k := f.CACert + "," + f.Cert + "," + f.Key + "," + f.sum
	if f.FromHost {
		k += "@" + f.Host
	}
	return k
}

// TLSFilesOf are the TLS files for a call on h: the arguments, else h's
// variables.
func (a *ConnArgs) TLSFilesOf(h *inventory.Host) TLSFiles {
	pick := func(arg, v string) string {
		if arg != "" {
			return arg
		}
		return HostVar(h, v)
	}
	f := TLSFiles{
		CACert:   pick(a.CACert, VarCACert),
		Cert:     pick(a.Cert, VarCert),
		Key:      pick(a.Key, VarKey),
		FromHost: a.TLSFromHost.Or(HostBool(h, VarTLSFromHost)),
		Host:     h.Name,
	}
	if f.any() {
		return f
	}
	// Without files of its own, etcdplay is a client of the CA etcd_tls
	// set up: its own (auto), or the operator's CA file (files).
	switch mode, _ := ParseTLSMode(HostVar(h, VarTLS)); mode {
	case TLSAuto:
		p := LocalPKI{Dir: LocalPKIDir(h)}
		f.CACert, f.Cert, f.Key, f.FromHost = p.CAFile(), p.ClientCert(), p.ClientKey(), false
	case TLSOwnFiles:
		f.CACert, f.FromHost = HostVar(h, VarCAFile), HostBool(h, VarFilesOnHost)
	}
	return f
}

// loadTLS builds the client TLS configuration from PEM files, read by
// read (local files, or files on the member host). Its errors name the
// file, its role (cacert, cert, key) and, by origin, where the path came
// from, and say what is wrong with it.
func loadTLS(ctx context.Context, f TLSFiles, read func(ctx context.Context, path string) ([]byte, error), origin func(role string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	file := func(role, p string) string { return role + " " + p + origin(role) }
	if f.CACert != "" {
		b, err := read(ctx, f.CACert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file("cacert", f.CACert), pathErr(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificate in it; give the CA certificate that signed etcd's server certificate", file("cacert", f.CACert))
		}
		cfg.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, engine.BadInput("give both cert= and key= for a client certificate (got cert %q, key %q)", f.Cert, f.Key)
	}
	if f.Cert != "" {
		cb, err := read(ctx, f.Cert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file("cert", f.Cert), pathErr(err))
		}
		kb, err := read(ctx, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file("key", f.Key), pathErr(err))
		}
		pair, err := tls.X509KeyPair(cb, kb)
		if err != nil {
			return nil, fmt.Errorf("%s and %s: %w; give a client certificate and its own key, both PEM", file("cert", f.Cert), file("key", f.Key), err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// pathErr drops the path from a file error whose message names it
// already ("open /x: no such file or directory").
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// TLSError is a TLS handshake with etcd that failed over a certificate or
// the URL's scheme: a mistake in the TLS files or client URLs, which
// waiting does not fix and which is not the member being down.
type TLSError struct {
	Addr string // host:port dialled
	Msg  string // what is wrong, naming the file to look at
	Err  error
}

func (e *TLSError) Error() string { return "TLS with etcd at " + e.Addr + ": " + e.Msg }

func (e *TLSError) Unwrap() error { return e.Err }

// AsTLSError returns the TLS problem err is, or nil.
func AsTLSError(err error) *TLSError {
	var te *TLSError
	if errors.As(err, &te) {
		return te
	}
	return nil
}

// joinTLSErrors is one error for the TLS problems of several endpoints:
// their addresses in one message when the problem is the same (a wrong
// CA is wrong for every member).
func joinTLSErrors(errs []*TLSError) error {
	var addrs, msgs []string
	for _, e := range errs {
		addrs = append(addrs, e.Addr)
		if !slices.Contains(msgs, e.Msg) {
			msgs = append(msgs, e.Msg)
		}
	}
	if len(msgs) == 1 {
		return &TLSError{Addr: strings.Join(addrs, ", "), Msg: msgs[0], Err: errs[0].Err}
	}
	var rest []string
	for _, e := range errs[1:] {
		rest = append(rest, e.Error())
	}
	return fmt.Errorf("%w; %s", errs[0], strings.Join(rest, "; "))
}

// tlsRefusals are the TLS alerts a server sends when it does not accept
// the client's certificate (or its lack of one), as Go prints them.
var tlsRefusals = []string{"bad certificate", "unknown certificate authority", "certificate required",
	"unknown certificate", "unsupported certificate", "expired certificate", "revoked certificate"}

// tlsProblem explains a failed handshake with the etcd at addr in terms
// of the TLS files f, or returns nil when it is not about certificates
// (a connection that broke, a timeout).
func tlsProblem(err error, addr string, f TLSFiles) *TLSError {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rec tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &ua):
		ca := "a CA this machine trusts (no cacert= is given)"
		if f.CACert != "" {
			ca = "the CA in cacert " + f.describe(f.CACert)
		}
		return &TLSError{addr, fmt.Sprintf("its certificate is not signed by %s: %v; give the CA that signed etcd's server certificate (etcd's --cert-file)", ca, ua), err}
	case errors.As(err, &he):
		return &TLSError{addr, fmt.Sprintf("its certificate is not for the address dialled: %v; give a client URL with a name or address the certificate holds (%s)", he, VarClientURL), err}
	case errors.As(err, &ci):
		return &TLSError{addr, fmt.Sprintf("its certificate is not valid: %v", ci), err}
	case errors.As(err, &rec):
		return &TLSError{addr, fmt.Sprintf("it does not speak TLS (%v): its client URL is http://, not https:// (set %s=http, or %s)", err, VarScheme, VarClientURL), err}
	}
	msg := err.Error()
	i := strings.Index(msg, "remote error: tls: ")
	if i < 0 {
		return nil
	}
	alert := msg[i+len("remote error: tls: "):]
	if f.Cert == "" && alert == "handshake failure" {
		// What Go's TLS 1.2 server, and so etcd, answers a client
		// without a certificate when it requires one.
		return &TLSError{addr, fmt.Sprintf("it ended the handshake (remote error: tls: %s), as etcd does when it requires a client certificate: give cert= and key=", alert), err}
	}
	if !slices.Contains(tlsRefusals, alert) {
		return nil
	}
	if f.Cert == "" {
		return &TLSError{addr, fmt.Sprintf("it wants a client certificate (remote error: tls: %s): give cert= and key=", alert), err}
	}
	return &TLSError{addr, fmt.Sprintf("it refused the client certificate %s (remote error: tls: %s); give one signed by the CA etcd trusts (its --trusted-ca-file)", f.describe(f.Cert), alert), err}
}

// tlsFor loads the TLS configuration the connection arguments ask for, from
// the control machine or (tls_from_host) from the host of c; nil when no
// TLS file is given. A local file that is missing or wrong is bad input,
// found before etcd is dialled.
func tlsFor(ctx context.Context, c *engine.HostCall, a *ConnArgs) (*tls.Config, TLSFiles, error) {
	f := a.TLSFilesOf(c.Host)
	if !f.any() {
		return nil, f, nil
	}
	read0 := func(ctx context.Context, p string) ([]byte, error) { return readLocal(c.LocalPath(p)) }
	if f.FromHost {
		read0 = func(ctx context.Context, p string) ([]byte, error) { return c.ReadFile(ctx, p) }
	}
	// What was read tells clients of other TLS files apart in the run's
	// pool: a CA rotated or a certificate renewed during the run makes
	// new clients.
	sum := sha256.New()
	read := func(ctx context.Context, p string) ([]byte, error) {
		b, err := read0(ctx, p)
		sum.Write(b)
		return b, err
	}
	if f.Cert != "" && f.CACert == "" {
		return nil, f, engine.BadInput("a client certificate (%s) without a CA: give %s, the CA that signed etcd's server certificates, as well", f.Cert, VarCACert)
	}
	origin := func(role string) string {
		byArg := map[string]string{"cacert": a.CACert, "cert": a.Cert, "key": a.Key}
		byVar := map[string]string{"cacert": VarCACert, "cert": VarCert, "key": VarKey}
		if byArg[role] != "" {
			return ""
		}
		return " (variable " + byVar[role] + " of " + c.Host.Name + ")"
	}
	cfg, err := loadTLS(ctx, f, read, origin)
	if err != nil {
		if f.FromHost {
			return nil, f, fmt.Errorf("%w (read on %s, as %s asks)", err, c.Host.Name, tlsFromHostSource(a, c.Host))
		}
		var in *engine.InputError
		if errors.As(err, &in) {
			return nil, f, err
		}
		return nil, f, engine.BadInput("%v (on the control machine: a relative path is from the playbook's directory; tls_from_host=True reads the files on the member hosts)", err)
	}
	f.sum = hex.EncodeToString(sum.Sum(nil))
	if !f.FromHost {
		reloading(cfg, c.LocalPath(f.CACert), c.LocalPath(f.Cert), c.LocalPath(f.Key))
	}
	return cfg, f, nil
}

// reloading makes cfg read its local CA and client certificate files
// again at every handshake, keeping what it last read when a file cannot
// be read or holds nothing usable: a client that lives through
// rotate_certs (the cluster lock's keeps its lease alive all run) meets
// members whose certificates a new CA signed, and members that no longer
// trust the old one, after its first connection. Its verification is
// the standard one (the chain to the CA, the server's name), against the
// CA file as it is now.
func reloading(cfg *tls.Config, caPath, certPath, keyPath string) {
	if caPath != "" && cfg.RootCAs != nil {
		var mu sync.Mutex
		roots := cfg.RootCAs
		cfg.RootCAs = nil
		// Go's own verification uses RootCAs, fixed at creation; it is
		// done here instead, with the pool of the file as it is now.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the server sent no certificate")
			}
			mu.Lock()
			if b, err := os.ReadFile(caPath); err == nil {
				if p := x509.NewCertPool(); p.AppendCertsFromPEM(b) {
					roots = p
				}
			}
			pool := roots
			mu.Unlock()
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: cs.ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return nil
		}
	}
	if certPath != "" && keyPath != "" && len(cfg.Certificates) == 1 {
		var mu sync.Mutex
		pair := cfg.Certificates[0]
		cfg.Certificates = nil
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			cb, err1 := os.ReadFile(certPath)
			kb, err2 := os.ReadFile(keyPath)
			if err1 == nil && err2 == nil {
				if p, err := tls.X509KeyPair(cb, kb); err == nil {
					pair = p
				}
			}
			return &pair, nil
		}
	}
}

func tlsFromHostSource(a *ConnArgs, h *inventory.Host) string {
	if a.TLSFromHost.Set {
		return "tls_from_host=True"
	}
	return "the variable " + VarTLSFromHost + " of " + h.Name
}
