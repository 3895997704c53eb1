// Package inventory reads Ansible inventories, INI and YAML, so that an
// existing Ansible inventory works unchanged, and selects hosts from them
// with Ansible's host patterns (--limit, a play's hosts, an ad-hoc
// target). It resolves every host's variables with Ansible's precedence
// and gives the connection variables typed accessors.
//
// # Formats
//
// INI, as Ansible's ini plugin reads it:
//
//	etcd-0 ansible_host=10.77.0.10    # before any section: ungrouped
//
//	[etcd]
//	etcd-[1:3] ansible_user=root      # a range: etcd-1, etcd-2, etcd-3
//	10.77.0.20:2222                   # host:port
//	[2001:db8::7]:22                  # an IPv6 address with a port
//
//	[etcd:vars]
//	etcd_version=3.6.16
//
//	[cluster:children]
//	etcd
//
// Ranges are [start:end] or [start:end:step], inclusive, numeric (a
// zero-padded start keeps its width: [01:10]) or by single letters
// ([a:f]). Lines starting with # or ; are comments; on host lines a # also
// starts a comment anywhere outside quotes.
//
// Variable values are read as Python literals, as Ansible does (with
// ast.literal_eval), both on host lines and in [group:vars] sections:
// 2379 is an int, 1.5 a float, True and False booleans, None is nil, [1,
// 2] a list, {'a': 1} a map, and anything else a string. Host lines are
// split like a shell splits words, so a value with blanks needs quotes,
// and a number meant as a string needs two pairs: port="'2379'". See
// "Differences from Ansible" for lowercase true and false, and comments
// after [group:vars] values.
// Although Ansible's documentation says [group:vars] values are strings,
// its code reads them as literals (ansible/ansible#86229), and so does
// this package.
//
// A [x:children] entry naming a group that no [group] or [group:children]
// section defines, in the same file or an earlier one, is an error, as in
// Ansible (which added the check against typos): write an empty [group]
// section for a deliberately empty group. So is a [x:vars] section for an
// undefined group.
//
// YAML (and JSON), as Ansible's yaml plugin reads it:
//
//	all:
//	  vars:
//	    ansible_user: root
//	  children:
//	    etcd:
//	      hosts:
//	        etcd-[1:3]:
//	        etcd-4:
//	          ansible_host: 10.77.0.14
//
// Plain scalars follow YAML 1.1 as PyYAML resolves them (yes/no/on/off are
// booleans, 0755 is octal). The JSON that ansible-inventory --list prints
// (hosts and children as lists, host variables in _meta.hostvars) is read
// too.
//
// Load picks the format by extension (.yaml, .yml, .json: YAML; .ini:
// INI) and otherwise by the first line that is not a comment. A directory
// loads its files in name order, like Ansible. Load also reads
// group_vars/ and host_vars/ in the directory of each inventory (or in
// the directory given), as Ansible's host_group_vars plugin does: for a
// group or host NAME, the file NAME, NAME.yml, NAME.yaml or NAME.json, or
// every file in a directory NAME/. Parse reads no files but the one it is
// given.
//
// # Ansible Vault
//
// With Options.VaultPassword (ReadVaultPasswordFile reads it as Ansible
// does), !vault values and inventory, group_vars and host_vars files
// encrypted with ansible-vault (format 1.1 or 1.2, AES256) are decrypted.
// Without it an encrypted file is an error, and a !vault value a
// *VarError when its host's variable is used. A decrypted string is a
// Vaulted, whose JSON and YAML encodings are VaultedText; Host.Secret
// tells what else came from a vault, for printers to hide.
//
// # Templates
//
// Variables may use the part of Jinja that inventories use ({{ name }},
// inventory_hostname, groups['g'], hostvars['h']['v'], the filters
// default, lower, upper, replace and join: see template.go), evaluated for
// each host. Anything else is a *VarError in Host.Vars that Host.Lookup
// returns, naming the host, the variable and the expression: it stops what
// reads that variable (the engine refuses a host with one, since modules
// read variables without a way to fail), never the loading of the
// inventory.
//
// # Groups and precedence
//
// Every host is in "all"; a host in no other group is in "ungrouped".
// Groups without a parent are children of "all". A host's variables are
// merged from its groups in order of depth (all, then parents, then their
// children), then ansible_group_priority (higher wins), then name, and
// the host's own variables win over all of them, as described in
// Ansible's "How variables are merged". Variables from group_vars/ files
// come after all inventory group variables (group_vars/all first, then
// the other groups in the same order), and host_vars/ files after the
// host's inventory variables: Ansible's default precedence. Host.Vars
// also has
// inventory_hostname, inventory_hostname_short, group_names,
// inventory_file and inventory_dir.
//
// # Connection variables
//
// Each accessor takes the first variable set of its list, Ansible's names
// first:
//
//	Address()     ansible_host, ansible_ssh_host, host, address (else the host name)
//	Port()        ansible_port, ansible_ssh_port, port (also host:port; 0 when unset)
//	User()        ansible_user, ansible_ssh_user, user
//	KeyFile()     ansible_ssh_private_key_file, ansible_private_key_file, private_key
//	Become()      ansible_become, become (true/false, yes/no, on/off, 1/0)
//	BecomeUser()  ansible_become_user, become_user
//
// The short names (host, port, user, private_key, become, become_user)
// are etcdplay's own; note that a group variable called "port" or "user"
// is taken as the SSH port or user. Values that cannot work (a port that
// is not a number from 1 to 65535, a become that is not a boolean, an
// empty address or user) are reported when the inventory is loaded, at
// the line that set them; when they come from a template, they are a
// *VarError instead, and Host.ConnectionError reports it before anyone
// connects. Booleans, here and wherever etcdplay reads one, are read by
// Bool, Ansible's rule.
//
// # Patterns
//
// See Inventory.Select. Hosts, Select and Graph honour the limit set with
// SetLimit (--limit); Host and Group do not.
//
// # Differences from Ansible
//
// The package reads inventories as ansible-core 2.14 does, but refuses
// where Ansible would quietly do something else (the README lists the
// same):
//
//   - A pattern term that names no host or group is an error (Ansible warns
//     and selects nothing); so is a subscript on a name that is not a group
//     (etcd-[12] is a subscript, never a glob), and a limit of only
//     separators (Ansible then limits nothing, ansible#85278).
//   - A key given twice in one YAML mapping (a host, a variable) is an
//     error (PyYAML keeps the last); so is a key other than hosts, vars
//     and children in a YAML group, with a suggestion (host: for hosts:).
//   - In INI, lowercase true and false are booleans (in Ansible they are
//     strings, both truthy, a known trap), and a " # comment" after a
//     [group:vars] value that is not a literal is dropped (Ansible keeps it
//     in the string; quote the value to keep a #).
//   - Templates are evaluated for the subset above only.
//   - A vault password file that is executable is refused (Ansible runs it),
//     and decrypted values are never printed (ansible-inventory prints the
//     ciphertext, and encrypted files in plain text).
package inventory
