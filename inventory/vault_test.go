package inventory

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// encryptVault is a small ansible-vault encrypt for tests: the format
// 1.1 envelope of plain, with the given salt.
func encryptVault(t *testing.T, plain, password, salt []byte, header string) string {
	t.Helper()
	aesKey, hmacKey, iv, err := vaultKeys(password, salt)
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte(nil), plain...), strings.Repeat(string(rune(pad)), pad)...)
	block, _ := aes.NewCipher(aesKey)
	ct := make([]byte, len(padded))
	cipher.NewCTR(block, iv).XORKeyStream(ct, padded)
	mac := hmac.New(sha256.New, hmacKey)
	mac.Write(ct)
	inner := hex.EncodeToString(salt) + "\n" + hex.EncodeToString(mac.Sum(nil)) + "\n" + hex.EncodeToString(ct)
	outer := hex.EncodeToString([]byte(inner))
	var b strings.Builder
	b.WriteString(header + "\n")
	for len(outer) > 80 {
		b.WriteString(outer[:80] + "\n")
		outer = outer[80:]
	}
	b.WriteString(outer + "\n")
	return b.String()
}

func TestVaultRoundTrip(t *testing.T) {
	for _, plain := range []string{"", "x", "exactly16bytes!!", "a longer secret with\nnewlines and ünïcode"} {
		for _, header := range []string{"$ANSIBLE_VAULT;1.1;AES256", "$ANSIBLE_VAULT;1.2;AES256;prod"} {
			env := encryptVault(t, []byte(plain), []byte("pw"), []byte("0123456789abcdef0123456789abcdef"), header)
			got, err := decryptVault([]byte(env), []byte("pw"))
			if err != nil || string(got) != plain {
				t.Errorf("%s %q: decrypted %q, %v", header, plain, got, err)
			}
			if _, err := decryptVault([]byte(env), []byte("wrong")); !errors.Is(err, errVaultPassword) {
				t.Errorf("%s %q with the wrong password: %v", header, plain, err)
			}
		}
	}
	for _, bad := range []string{"$ANSIBLE_VAULT;1.0;AES\nabcd", "$ANSIBLE_VAULT;1.1;AES256\nnot hex", "$ANSIBLE_VAULT;1.1;AES256\n6162"} {
		if _, err := decryptVault([]byte(bad), []byte("pw")); err == nil {
			t.Errorf("%q decrypts", bad)
		}
	}
}

// vaultDir is a fixture encrypted by ansible-vault 2.14.18 itself (see
// its README.md): etcdplay must open what Ansible writes.
const vaultDir = "../testdata/inventory/vault"

func TestVaultFromAnsibleVault(t *testing.T) {
	pw, err := ReadVaultPasswordFile(filepath.Join(vaultDir, "vault-password.txt"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Options{VaultPassword: pw}.Load(filepath.Join(vaultDir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := inv.Host("etcd-1")
	e2, _ := inv.Host("etcd-2")
	for _, tc := range []struct {
		h      *Host
		name   string
		want   any
		secret bool
	}{
		{e1, "etcd_root_password", Vaulted("s3cr3t-etcd-pass"), true}, // !vault, format 1.1
		{e2, "etcd_dev_secret", Vaulted("dev-secret"), true},          // format 1.2, vault id "dev"
		{e1, "etcd_peer_token", "vaulted-token", true},                // group_vars/etcd.yml, an encrypted file
		{e1, "etcd_port_from_vault", 2380, true},
		{e1, "url_with_secret", "https://root:s3cr3t-etcd-pass@10.0.0.1", true}, // a template that used a secret
		{e2, "url_with_secret", "https://root:none@10.0.0.2", false},
		{e1, "ansible_host", "10.0.0.1", false},
	} {
		v, _, err := tc.h.Lookup(tc.name)
		if err != nil || v != tc.want {
			t.Errorf("%s %s = %#v, %v; want %#v", tc.h.Name, tc.name, v, err, tc.want)
		}
		if got := tc.h.Secret(tc.name); got != tc.secret {
			t.Errorf("%s Secret(%s) = %v", tc.h.Name, tc.name, got)
		}
	}

	// A Vaulted value is a string to whatever reads it, but its JSON and
	// YAML encodings never show it.
	v := e1.Vars["etcd_root_password"]
	var back string
	if b, _ := json.Marshal(v); json.Unmarshal(b, &back) != nil || back != VaultedText {
		t.Errorf("JSON: %s", b)
	}
	if b, _ := yaml.Marshal(v); strings.TrimSpace(string(b)) != VaultedText {
		t.Errorf("YAML: %s", b)
	}
	if b, _ := yaml.Marshal(YAMLNode(v)); strings.TrimSpace(string(b)) != VaultedText {
		t.Errorf("YAMLNode: %s", b)
	}
}

func TestVaultWithoutThePassword(t *testing.T) {
	// An encrypted vars file is an error when loaded, as in Ansible.
	_, err := Load(filepath.Join(vaultDir, "hosts.yaml"))
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.HasSuffix(err.Error(), "group_vars/etcd.yml: this file is encrypted with Ansible Vault: give the password with --vault-password-file FILE") {
		t.Errorf("Load without a password: %v", err)
	}
	// A !vault value is an error when its host's variable is used.
	data, err := os.ReadFile(filepath.Join(vaultDir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv := mustParse(t, "hosts.yaml", string(data))
	e1, _ := inv.Host("etcd-1")
	if _, _, err := e1.Lookup("etcd_root_password"); err == nil ||
		err.Error() != `hosts.yaml:7: host "etcd-1": variable "etcd_root_password": is encrypted with Ansible Vault: give the password with --vault-password-file FILE` {
		t.Errorf("Lookup(etcd_root_password) = %v", err)
	}
	if _, _, err := e1.Lookup("url_with_secret"); err == nil || !strings.Contains(err.Error(), "etcd_root_password: is encrypted with Ansible Vault") {
		t.Errorf("Lookup(url_with_secret) = %v", err)
	}
	if v, _, err := e1.Lookup("ansible_host"); err != nil || v != "10.0.0.1" {
		t.Errorf("Lookup(ansible_host) = %v, %v", v, err)
	}

	// The wrong password is an error at the value.
	_, err = Options{VaultPassword: []byte("wrong")}.Load(filepath.Join(vaultDir, "hosts.yaml"))
	if err == nil || !strings.Contains(err.Error(), "HMAC mismatch") {
		t.Errorf("Load with the wrong password: %v", err)
	}
}

func TestReadVaultPasswordFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if pw, err := ReadVaultPasswordFile(write("ok", "  secret \n", 0o600)); err != nil || string(pw) != "secret" {
		t.Errorf("ok: %q, %v", pw, err)
	}
	for name, want := range map[string]string{
		write("script", "#!/bin/sh\necho pw\n", 0o700): "is executable",
		write("empty", "\n", 0o600):                    "is empty",
		dir:                                            "is a directory",
		filepath.Join(dir, "missing"):                  "no such file",
	} {
		if _, err := ReadVaultPasswordFile(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
