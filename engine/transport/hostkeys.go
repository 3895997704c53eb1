package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys checks server keys against known_hosts files (plain and hashed
// entries, @cert-authority and @revoked, through x/crypto's knownhosts) and
// records new ones when asked to.
type hostKeys struct {
	files     []string
	acceptNew bool

	writeMu sync.Mutex // serialises appends to the file
	mu      sync.RWMutex
	check   ssh.HostKeyCallback
	hasCA   bool // a certificate authority is trusted: let the server offer certificates
	probe   ssh.PublicKey
}

func loadHostKeys(files []string, acceptNew bool) (*hostKeys, error) {
	h := &hostKeys{files: files, acceptNew: acceptNew}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	h.probe, _ = ssh.NewPublicKey(pub)
	if err := h.reload(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *hostKeys) reload() error {
	var existing []string
	hasCA := false
	for _, f := range h.files {
		if b, err := os.ReadFile(f); err == nil {
			existing = append(existing, f)
			hasCA = hasCA || bytes.Contains(b, []byte("@cert-authority"))
		}
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	h.mu.Lock()
	h.check, h.hasCA = cb, hasCA
	h.mu.Unlock()
	return nil
}

// callback returns the host key check for r and the host key algorithms to
// ask for: those of the keys known for r, so a host with an ed25519 key
// on record is not asked for its RSA key and then refused as changed.
func (h *hostKeys) callback(r resolved) (ssh.HostKeyCallback, []string) {
	accept := h.acceptNew || r.strict == "accept-new" || r.strict == "no" || r.strict == "off"
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		h.mu.RLock()
		check := h.check
		h.mu.RUnlock()
		err := check(hostname, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			return &HostKeyError{Host: r.name, Addr: hostname, Key: key, Revoked: true, Files: h.files}
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return &HostKeyError{Host: r.name, Addr: hostname, Key: key, Known: ke.Want, Files: h.files}
		case errors.As(err, &ke):
			if !accept {
				return &HostKeyError{Host: r.name, Addr: hostname, Key: key, Files: h.files}
			}
			return h.record(hostname, key)
		}
		return err
	}
	return cb, h.knownAlgorithms(r.hostPort())
}

func (h *hostKeys) knownAlgorithms(hostport string) []string {
	h.mu.RLock()
	check, hasCA := h.check, h.hasCA
	h.mu.RUnlock()
	if hasCA {
		return nil // x/crypto's default order asks for certificates first
	}
	err := check(hostport, &net.TCPAddr{}, h.probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(as ...string) {
		for _, a := range as {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// record appends key for hostname to the first known_hosts file, as
// OpenSSH's accept-new does, and makes it known for the rest of the run.
func (h *hostKeys) record(hostname string, key ssh.PublicKey) error {
	if len(h.files) == 0 {
		return errors.New("no known_hosts file to record the new host key in")
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	// Another connection of this run may have recorded it meanwhile.
	h.mu.RLock()
	check := h.check
	h.mu.RUnlock()
	if err := check(hostname, &net.TCPAddr{}, key); err == nil {
		return nil
	}
	f := h.files[0]
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	_, err = fh.WriteString(knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n")
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record host key in %s: %w", f, err)
	}
	return h.reload()
}

// HostKeyError refuses a host whose key is not the one on record. It says
// which key was offered and how to proceed.
type HostKeyError struct {
	Host    string
	Addr    string
	Key     ssh.PublicKey
	Known   []knownhosts.KnownKey // set when the key changed
	Revoked bool
	Files   []string
}

func (e *HostKeyError) fingerprint() string {
	return keyName(e.Key.Type()) + " key " + ssh.FingerprintSHA256(e.Key)
}

func (e *HostKeyError) Error() string {
	host, port, _ := net.SplitHostPort(e.Addr)
	if port == "" {
		host, port = e.Addr, "22"
	}
	file := "~/.ssh/known_hosts"
	if len(e.Files) > 0 {
		file = e.Files[0]
	}
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key of %s (%s) is REVOKED in known_hosts: %s; refusing to connect", e.Host, e.Addr, e.fingerprint())
	case len(e.Known) > 0:
		var b strings.Builder
		fmt.Fprintf(&b, "@@@ WARNING: HOST KEY OF %s (%s) HAS CHANGED @@@\n", e.Host, e.Addr)
		fmt.Fprintf(&b, "  offered: %s\n", e.fingerprint())
		for _, k := range e.Known {
			fmt.Fprintf(&b, "  on record: %s key %s (%s:%d)\n", keyName(k.Key.Type()), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line)
		}
		fmt.Fprintf(&b, "  Someone may be intercepting the connection, or the host was reinstalled. Refusing to connect.\n")
		fmt.Fprintf(&b, "  Only if you know the host was reinstalled: ssh-keygen -f %s -R %s", file, knownhosts.Normalize(e.Addr))
		return b.String()
	default:
		return fmt.Sprintf("host key of %s (%s) is not known: %s. Check the fingerprint, then either run with --accept-new-host-keys to record it in %s, or add it yourself: ssh-keyscan -p %s %s >> %s",
			e.Host, e.Addr, e.fingerprint(), file, port, host, file)
	}
}

func keyName(t string) string {
	switch {
	case strings.Contains(t, "ed25519"):
		return "ED25519"
	case strings.Contains(t, "ecdsa"):
		return "ECDSA"
	case strings.Contains(t, "rsa"):
		return "RSA"
	}
	return strings.ToUpper(t)
}
