package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/etcdplay/etcdplay/etcd"

	"golang.org/x/crypto/ssh"
)

// newKey makes an ed25519 key pair: the private key in OpenSSH PEM form
// and the public key as an authorized_keys line (with comment).
func newKey(comment string) (private []byte, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment
	return pem.EncodeToMemory(block), line, nil
}

// ensureClientKey creates the lab's client key at path (and path.pub)
// unless it exists, and returns its public line.
func ensureClientKey(path string) (string, error) {
	if pub, err := os.ReadFile(path + ".pub"); err == nil {
		if _, err := os.Stat(path); err == nil {
			return strings.TrimSpace(string(pub)), nil
		}
	}
	priv, pub, err := newKey("etcdplay-lab")
	if err != nil {
		return "", err
	}
	if err := etcd.WriteFileAtomic(path, priv, 0o600); err != nil {
		return "", err
	}
	if err := etcd.WriteFileAtomic(path+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return "", err
	}
	return pub, nil
}

func newMachineID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	// A machine-id is a version 4 UUID without dashes.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b), nil
}

// uuidOf formats a machine-id as the UUID nspawn's --uuid takes.
func uuidOf(id string) string {
	if len(id) != 32 {
		return id
	}
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

// inventoryText is the lab's Ansible INI inventory: the first three hosts
// in group etcd, the others in spare. ansible_ssh_common_args makes
// Ansible itself check host keys against the lab's known_hosts.
func inventoryText(s *state, keyPath, knownHostsPath, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# etcdplay lab in %s, written by \"etcdplay lab up\".\n", dir)
	fmt.Fprintf(&b, "# Host keys: %s\n", knownHostsPath)
	line := func(h *hostState) {
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s\n", h.Name, h.Addr, keyPath)
	}
	b.WriteString("\n[etcd]\n")
	for _, h := range s.Hosts {
		if h.Index <= 3 {
			line(h)
		}
	}
	b.WriteString("\n[spare]\n")
	for _, h := range s.Hosts {
		if h.Index > 3 {
			line(h)
		}
	}
	b.WriteString("\n[all:vars]\n")
	fmt.Fprintf(&b, "ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n", knownHostsPath)
	if o := s.etcdOffer(); o != "" {
		b.WriteString(o + "\n")
	}
	return b.String()
}

// etcdOffer is the inventory variable that says where the etcd to install
// comes from ("etcd_src=DIR", "etcd_version=VERSION"), "" for none.
func (s *state) etcdOffer() string {
	switch {
	case s.EtcdSrc != "":
		return "etcd_src=" + s.EtcdSrc
	case s.EtcdVersion != "":
		return "etcd_version=" + s.EtcdVersion
	}
	return ""
}

// knownHostsText lists each host's key under its address and its name.
func knownHostsText(s *state) string {
	var b strings.Builder
	for _, h := range s.Hosts {
		f := strings.Fields(h.HostKey)
		if len(f) < 2 {
			continue
		}
		fmt.Fprintf(&b, "%s,%s %s %s\n", h.Addr, h.Name, f[0], f[1])
	}
	return b.String()
}

// etcHostsText is every host's /etc/hosts: the lab's hosts by name.
func etcHostsText(s *state) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\n# etcdplay lab hosts\n")
	for _, h := range s.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.Addr, h.Name)
	}
	return b.String()
}
