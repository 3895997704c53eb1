package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// ansible.cfg: a team's existing Ansible setup works without flags.
// etcdplay reads the one file Ansible would read (the first that exists
// of $ANSIBLE_CONFIG, ./ansible.cfg unless the current directory is
// world-writable, ~/.ansible.cfg, /etc/ansible/ansible.cfg) and takes
// from it what it has a flag for; a flag (or its environment variable)
// given on the command line wins:
//
//	[defaults] inventory            -i (a comma-separated list, relative to the file)
//	[defaults] remote_user          -u
//	[defaults] private_key_file     --private-key
//	[defaults] forks                -f
//	[defaults] host_key_checking    False: --accept-new-host-keys
//	[defaults] vault_password_file  --vault-password-file
//	[ssh_connection] ssh_args       User, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking (sshArgsFlags)
//
// Other settings are Ansible's alone and are not read.

// ansibleCfgPaths are the places Ansible looks for its configuration, in
// its order.
func ansibleCfgPaths() (paths []string, warning string) {
	if p, ok := os.LookupEnv("ANSIBLE_CONFIG"); ok {
		p = expandHome(p)
		if isDirectory(p) {
			p = filepath.Join(p, "ansible.cfg")
		}
		paths = append(paths, p)
	}
	if cwd, err := os.Getwd(); err == nil {
		if fi, err := os.Stat(cwd); err == nil && fi.Mode().Perm()&0o002 != 0 {
			// As Ansible: anyone could have put that file there.
			if _, err := os.Stat(filepath.Join(cwd, "ansible.cfg")); err == nil {
				warning = fmt.Sprintf("not reading %s: the directory is world-writable", filepath.Join(cwd, "ansible.cfg"))
			}
		} else {
			paths = append(paths, filepath.Join(cwd, "ansible.cfg"))
		}
	}
	paths = append(paths, expandHome("~/.ansible.cfg"), "/etc/ansible/ansible.cfg")
	return paths, warning
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// cfgValue is one setting of an ansible.cfg, and where it is.
type cfgValue struct {
	value string
	file  string
	line  int
}

func (v cfgValue) String() string { return fmt.Sprintf("%s:%d", v.file, v.line) }

// readAnsibleCfg reads the settings of an ansible.cfg as Python's
// configparser reads them (as Ansible does): [section] headers, "key =
// value" or "key: value" with the key in any case, indented lines
// continuing a value, comments on lines starting with # or ;, and after
// " ;" on a line. Keys are "section.key".
func readAnsibleCfg(path string) (map[string]cfgValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]cfgValue{}
	section, last := "", ""
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		if j := strings.Index(line, " ;"); j >= 0 {
			line = strings.TrimRight(line[:j], " \t")
		} else if j := strings.Index(line, "\t;"); j >= 0 {
			line = strings.TrimRight(line[:j], " \t")
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			v := out[last]
			v.value += "\n" + strings.TrimSpace(line)
			out[last] = v
			continue
		}
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: section header %q has no closing ]", path, i+1, trimmed)
			}
			section, last = strings.TrimSpace(trimmed[1:end]), ""
			continue
		}
		k := strings.IndexAny(line, "=:")
		if k < 0 {
			return nil, fmt.Errorf("%s:%d: expected key = value, found %q", path, i+1, trimmed)
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: %q comes before any [section]", path, i+1, trimmed)
		}
		last = section + "." + strings.ToLower(strings.TrimSpace(line[:k]))
		out[last] = cfgValue{value: strings.TrimSpace(line[k+1:]), file: path, line: i + 1}
	}
	return out, nil
}

// applyAnsibleCfg is the Before of the commands that read an inventory
// or connect: it sets each flag the command has and the command line does
// not from the ansible.cfg in force, if there is one.
func applyAnsibleCfg(c *cli.Context) error {
	paths, warning := ansibleCfgPaths()
	if warning != "" {
		fmt.Fprintf(c.App.ErrWriter, "etcdplay: warning: %s\n", warning)
	}
	var path string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		return nil
	}
	cfg, err := readAnsibleCfg(path)
	if err != nil {
		return badInput("ansible.cfg: %v", err)
	}
	if c.Count("verbose") > 0 {
		fmt.Fprintf(c.App.ErrWriter, "etcdplay: using %s\n", path)
	}
	dir := filepath.Dir(path)
	// set gives flag the value of the setting key, unless the command
	// has no such flag or the command line gave it.
	set := func(flag, key, value string) error {
		if !hasFlag(c, flag) || c.IsSet(flag) {
			return nil
		}
		if err := c.Set(flag, value); err != nil {
			return badInput("%s: %s = %s: %v", cfg[key], key, cfg[key].value, err)
		}
		return nil
	}
	// resolve is a path of a setting: ~ expanded, relative to the
	// directory of the ansible.cfg, as Ansible resolves paths there.
	resolve := func(p string) string {
		p = expandHome(p)
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p
	}
	file := func(key string) string { return resolve(cfg[key].value) }

	if v, ok := cfg["defaults.inventory"]; ok && hasFlag(c, "inventory") && !c.IsSet("inventory") {
		for _, p := range strings.Split(v.value, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if err := c.Set("inventory", resolve(p)); err != nil {
				return err
			}
		}
	}
	if v, ok := cfg["defaults.remote_user"]; ok && v.value != "" {
		if err := set("user", "defaults.remote_user", v.value); err != nil {
			return err
		}
	}
	if _, ok := cfg["defaults.private_key_file"]; ok && hasFlag(c, "private-key") && !c.IsSet("private-key") {
		p := file("defaults.private_key_file")
		if err := regularFile(p); err != nil {
			return badInput("%s: private_key_file = %s: %v: expected a private key file", cfg["defaults.private_key_file"], p, err)
		}
		if err := set("private-key", "defaults.private_key_file", p); err != nil {
			return err
		}
	}
	if v, ok := cfg["defaults.forks"]; ok {
		n, err := strconv.Atoi(v.value)
		if err != nil || n < 1 {
			return badInput("%s: forks = %s: expected a number of hosts, at least 1", v, v.value)
		}
		if err := set("forks", "defaults.forks", v.value); err != nil {
			return err
		}
	}
	if v, ok := cfg["defaults.host_key_checking"]; ok {
		check, isBool := inventory.Bool(v.value)
		if !isBool {
			return badInput("%s: host_key_checking = %s: expected True or False", v, v.value)
		}
		if !check {
			// Ansible then accepts any key, a changed one too; etcdplay
			// records new keys and still refuses changed ones.
			if err := set("accept-new-host-keys", "defaults.host_key_checking", "true"); err != nil {
				return err
			}
		}
	}
	if _, ok := cfg["defaults.vault_password_file"]; ok {
		if err := set("vault-password-file", "defaults.vault_password_file", file("defaults.vault_password_file")); err != nil {
			return err
		}
	}
	if v, ok := cfg["ssh_connection.ssh_args"]; ok {
		flags, err := sshArgsFlags(v.value)
		if err != nil {
			return badInput("%s: ssh_args: %v", v, err)
		}
		for _, f := range flags {
			if err := set(f.flag, "ssh_connection.ssh_args", expandHome(f.value)); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasFlag(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// flagValue is a flag set from ssh_args.
type flagValue struct{ flag, value string }

// sshArgsFlags reads the ssh(1) options of ansible.cfg's ssh_args (with
// engine.SSHOption, as the engine reads ansible_ssh_common_args) into the
// flags that do the same: User or -l (--user), IdentityFile or -i
// (--private-key), UserKnownHostsFile (--known-hosts, its first file),
// StrictHostKeyChecking=no or accept-new (--accept-new-host-keys: changed
// keys are still refused). Options that would send every connection
// elsewhere than etcdplay would go (ProxyJump or -J, ProxyCommand, Port
// or -p, HostName) are refused with where to put them instead; the rest
// (ControlMaster, ControlPersist, -C, ...) only tune the ssh program
// Ansible runs and are ignored.
func sshArgsFlags(args string) ([]flagValue, error) {
	for _, name := range []string{"ProxyJump", "ProxyCommand", "Port", "HostName"} {
		if engine.SSHOption(args, name) != "" {
			return nil, fmt.Errorf("%s is not applied by etcdplay to every host: set it per host in ~/.ssh/config, or (ProxyJump, Port) as ansible_ssh_common_args or ansible_port in the inventory", name)
		}
	}
	var out []flagValue
	if v := engine.SSHOption(args, "User"); v != "" {
		out = append(out, flagValue{"user", v})
	}
	if v := engine.SSHOption(args, "IdentityFile"); v != "" {
		out = append(out, flagValue{"private-key", v})
	}
	if v := engine.SSHOption(args, "UserKnownHostsFile"); v != "" {
		out = append(out, flagValue{"known-hosts", v})
	}
	switch strings.ToLower(engine.SSHOption(args, "StrictHostKeyChecking")) {
	case "no", "off", "accept-new":
		out = append(out, flagValue{"accept-new-host-keys", "true"})
	}
	return out, nil
}
