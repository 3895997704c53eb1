package inventory

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Vaulted is a variable's value decrypted from Ansible Vault: the plain
// text, in a type of its own so that what prints variables can tell it
// apart and show VaultedText instead. It is a string to everything that
// reads it (fmt, text/template, a conversion to a Starlark string), so
// modules and templates get the secret; only its JSON and YAML encodings
// hide it.
type Vaulted string

// VaultedText is what etcdplay shows for a Vaulted value. ansible-inventory
// prints the ciphertext instead (as __ansible_vault); etcdplay prints
// neither, so that no listing hands out material to attack the password
// with.
const VaultedText = "<vaulted>"

// MarshalJSON hides the value.
func (Vaulted) MarshalJSON() ([]byte, error) { return []byte(`"` + VaultedText + `"`), nil }

// MarshalYAML hides the value.
func (Vaulted) MarshalYAML() (any, error) { return VaultedText, nil }

// Ansible Vault's format 1.1 (and 1.2, which adds a vault id to the
// header), as ansible-vault writes it: a header line, then hex lines of
// the hex of salt, HMAC and ciphertext, one per line. The keys come from
// PBKDF2-HMAC-SHA256 of the password and the salt, 10000 iterations, 80
// bytes: the AES-256 key, the HMAC-SHA256 key and the CTR counter's
// start; the plain text is PKCS#7 padded to AES's block.
const (
	vaultPrefix     = "$ANSIBLE_VAULT;"
	vaultIterations = 10000
)

// isVaulted reports whether data is an Ansible Vault envelope.
func isVaulted(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(vaultPrefix))
}

// errVaultPassword is a vault whose HMAC does not match: the wrong
// password (or a damaged file).
var errVaultPassword = errors.New("the vault password does not decrypt it (HMAC mismatch): expected the password it was encrypted with")

// decryptVault opens an Ansible Vault envelope with password.
func decryptVault(envelope, password []byte) ([]byte, error) {
	text := strings.TrimSpace(string(envelope))
	header, body, _ := strings.Cut(text, "\n")
	fields := strings.Split(strings.TrimSpace(header), ";")
	if len(fields) < 3 || fields[0] != "$ANSIBLE_VAULT" {
		return nil, fmt.Errorf("bad vault header %s: expected $ANSIBLE_VAULT;1.1;AES256", quote(header))
	}
	if v := fields[1]; v != "1.1" && v != "1.2" {
		return nil, fmt.Errorf("vault format %s: expected 1.1 or 1.2", v)
	}
	if c := fields[2]; c != "AES256" {
		return nil, fmt.Errorf("vault cipher %s: expected AES256", c)
	}
	outer, err := hex.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("vault body is not hex: %v", err)
	}
	parts := strings.Split(string(outer), "\n")
	if len(parts) != 3 {
		return nil, fmt.Errorf("vault body has %d parts: expected salt, HMAC and ciphertext", len(parts))
	}
	var salt, mac, ciphertext []byte
	for i, p := range []*[]byte{&salt, &mac, &ciphertext} {
		if *p, err = hex.DecodeString(parts[i]); err != nil {
			return nil, fmt.Errorf("vault %s is not hex: %v", []string{"salt", "HMAC", "ciphertext"}[i], err)
		}
	}
	if len(password) == 0 {
		return nil, errors.New("empty vault password")
	}
	aesKey, hmacKey, iv, err := vaultKeys(password, salt)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, hmacKey)
	h.Write(ciphertext)
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, errVaultPassword
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCTR(block, iv).XORKeyStream(plain, ciphertext)
	n := len(plain)
	if n == 0 || n%aes.BlockSize != 0 {
		return nil, errors.New("vault plain text is not padded to the AES block")
	}
	pad := int(plain[n-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(plain[n-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("vault plain text has bad PKCS#7 padding")
	}
	return plain[:n-pad], nil
}

func vaultKeys(password, salt []byte) (aesKey, hmacKey, iv []byte, err error) {
	k, err := pbkdf2.Key(sha256.New, string(password), salt, vaultIterations, 80)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("vault key: %v", err) // FIPS mode refusing a short salt
	}
	return k[:32], k[32:64], k[64:80], nil
}

// ReadVaultPasswordFile reads a vault password file as Ansible does: the
// first line, without surrounding blanks. An executable file is a script
// to Ansible, which runs it; etcdplay does not run it.
func ReadVaultPasswordFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errors.New(pathErr(err))
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory: expected a file holding the vault password")
	}
	if fi.Mode()&0o111 != 0 {
		return nil, errors.New("is executable: Ansible would run it as a script for the password; etcdplay does not run scripts: write the password in a file that is not executable (chmod 600)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.New(pathErr(err))
	}
	line, _, _ := strings.Cut(string(data), "\n")
	password := strings.TrimSpace(line)
	if password == "" {
		return nil, errors.New("is empty: expected the vault password on its first line")
	}
	return []byte(password), nil
}

// lockedVault stands for a !vault value read without a password: an
// error for each host whose variable it is, when that is used.
type lockedVault struct{}

// vaultNoPassword is that error's message.
const vaultNoPassword = "is encrypted with Ansible Vault: give the password with --vault-password-file FILE"

// openVault decrypts a file encrypted with Ansible Vault.
func (b *builder) openVault(path string, data []byte) ([]byte, error) {
	if len(b.vaultPassword) == 0 {
		return nil, &ParseError{File: path, Msg: "this file " + vaultNoPassword}
	}
	plain, err := decryptVault(data, b.vaultPassword)
	if err != nil {
		return nil, &ParseError{File: path, Line: 1, Msg: "cannot decrypt this Ansible Vault file: " + err.Error()}
	}
	return plain, nil
}
