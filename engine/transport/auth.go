package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authenticator offers credentials as ssh(1) does: the agent's keys first,
// then key files (named ones, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa).
// Key files are read and decrypted once per run, however many hosts use them.
type authenticator struct {
	cfg Config

	agentOnce sync.Once
	agent     agent.ExtendedAgent

	mu    sync.Mutex
	keys  map[string]*keyFile
	askMu sync.Mutex // one passphrase prompt at a time
}

type keyFile struct {
	once   sync.Once
	signer ssh.Signer
	err    error
}

var defaultKeyFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

func newAuthenticator(cfg Config) *authenticator {
	return &authenticator{cfg: cfg, keys: map[string]*keyFile{}}
}

func (a *authenticator) agentClient() agent.ExtendedAgent {
	a.agentOnce.Do(func() {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if a.cfg.NoAgent || sock == "" {
			return
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return
		}
		a.agent = agent.NewClient(c)
	})
	return a.agent
}

// keyFiles lists the key files to offer for r, named ones first, defaults
// only when none is named (as ssh does with IdentityFile).
func (a *authenticator) keyFiles(r resolved) []string {
	if len(r.keyFiles) > 0 {
		return r.keyFiles
	}
	var fs []string
	for _, n := range defaultKeyFiles {
		p := filepath.Join(a.cfg.HomeDir, ".ssh", n)
		if _, err := os.Stat(p); err == nil {
			fs = append(fs, p)
		}
	}
	return fs
}

func (a *authenticator) methods(r resolved) []ssh.AuthMethod {
	var ms []ssh.AuthMethod
	if ag := a.agentClient(); ag != nil {
		ms = append(ms, ssh.PublicKeysCallback(ag.Signers))
	}
	files := a.keyFiles(r)
	if len(files) > 0 {
		ms = append(ms, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			var ss []ssh.Signer
			for _, f := range files {
				if s, err := a.signer(f); err == nil {
					ss = append(ss, s)
				}
			}
			return ss, nil
		}))
	}
	return ms
}

// describe lists what methods offers, for an authentication error.
func (a *authenticator) describe(r resolved) []string {
	var d []string
	if ag := a.agentClient(); ag != nil {
		if ks, err := ag.List(); err == nil {
			d = append(d, fmt.Sprintf("%d ssh-agent key(s)", len(ks)))
		}
	}
	for _, f := range a.keyFiles(r) {
		if _, err := a.signer(f); err != nil {
			d = append(d, fmt.Sprintf("%s (unusable: %v)", f, err))
		} else {
			d = append(d, f)
		}
	}
	return d
}

func (a *authenticator) signer(path string) (ssh.Signer, error) {
	a.mu.Lock()
	k, ok := a.keys[path]
	if !ok {
		k = &keyFile{}
		a.keys[path] = k
	}
	a.mu.Unlock()
	k.once.Do(func() { k.signer, k.err = a.load(path) })
	return k.signer, k.err
}

func (a *authenticator) load(path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return s, err
	}
	if a.cfg.Passphrase == nil {
		return nil, errors.New("encrypted and no terminal to ask for its passphrase (load it into ssh-agent)")
	}
	a.askMu.Lock()
	defer a.askMu.Unlock()
	pass, err := a.cfg.Passphrase(path)
	if err != nil {
		return nil, err
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return s, nil
}
