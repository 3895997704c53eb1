package inventory

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
