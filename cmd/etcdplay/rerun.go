package main

import (
	"slices"
	"sort"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// The commands a run prints as remedies (ctx.command, ctx.command_for,
// ctx.exec_command) are built from the command line as it was typed
// (invocation.argv), not from the options structs, so that they say
// again what the operator said, in the operator's words: -i as given,
// ansible.cfg's settings left to ansible.cfg.

// dropOnRerun are the flags a command printed as a remedy leaves out: it
// is run for real, and takes the lock only when the operator says so.
var dropOnRerun = []string{"check", "C", "diff", "D", "break-lock"}

// commandFor is the command line of this run with another playbook (""
// keeps it) and the extra vars in vars set (replacing any -e of the same
// key; an empty value drops it): what a playbook prints as the command
// that continues, undoes or repairs something. The inventory, limit and
// connection flags are the run's own.
func commandFor(ci invocation, playbook string, vars map[string]string) string {
	flagWords, pos := runFlags(ci, func(name, value string) bool {
		if slices.Contains(dropOnRerun, name) {
			return false
		}
		if name == "e" || name == "extra-vars" {
			if k, _, ok := strings.Cut(value, "="); ok {
				if _, set := vars[k]; set {
					return false
				}
			}
		}
		// A password typed on the command line is never printed: the
		// command is shown without it, and takes it from
		// etcd_password_file or the environment.
		if secretExtraVar(name, value) {
			return false
		}
		return true
	})
	if playbook == "" && len(pos) > 0 {
		playbook = pos[0]
	}
	words := []string{"etcdplay", ci.command.Name, playbook}
	words = append(words, flagWords...)
	for _, k := range sortedKeys(vars) {
		if vars[k] != "" {
			words = append(words, "-e", k+"="+vars[k])
		}
	}
	return transport.Quote(words...)
}

// execCommandFor is the etcdplay exec command that runs module on the
// hosts of pattern with args, reaching them as this run does (its
// inventory, limit and connection flags): a remedy that is one module
// call.
func execCommandFor(ci invocation, pattern, module string, args map[string]string) string {
	var hosts struct {
		inventoryOptions
		connectionOptions
	}
	keep := map[string]bool{}
	for _, f := range flags(hosts.inventoryOptions.flags(), hosts.connectionOptions.flags()) {
		for _, n := range f.Names() {
			keep[n] = true
		}
	}
	flagWords, _ := runFlags(ci, func(name, value string) bool {
		if name == "e" || name == "extra-vars" {
			return hostExtraVar(value)
		}
		return keep[name]
	})
	words := append([]string{"etcdplay", "exec"}, flagWords...)
	words = append(words, pattern, "-m", module)
	for _, k := range sortedKeys(args) {
		words = append(words, "-a", k+"="+args[k])
	}
	return transport.Quote(words...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runFlags splits the command line of this command into its flags (the
// words of those keep accepts, as typed) and its positional arguments.
func runFlags(ci invocation, keep func(name, value string) bool) (flagWords, pos []string) {
	if len(ci.argv) < 2 {
		return nil, nil
	}
	fl, pos := splitArgs(ci.command, ci.argv[2:])
	for _, f := range fl {
		if keep(f.name, f.value) {
			flagWords = append(flagWords, f.words...)
		}
	}
	return flagWords, pos
}

// hostExtraVar says whether an extra var of a run (-e VALUE) is one an
// exec remedy needs too: how hosts and etcd are reached (ansible_*,
// etcd_*: TLS files, the etcd user) or a file or mapping that may hold
// them; a playbook's own parameters (old=, new=) are left out, and so are
// secrets typed on the command line.
func hostExtraVar(value string) bool {
	if strings.HasPrefix(value, "@") || strings.HasPrefix(strings.TrimSpace(value), "{") {
		return true
	}
	k, _, _ := strings.Cut(value, "=")
	return (strings.HasPrefix(k, "etcd_") || strings.HasPrefix(k, "ansible_")) && !engine.SecretName(k)
}

// secretExtraVar reports whether the flag name=value is an extra var (-e)
// that sets a secret (engine.SecretName).
func secretExtraVar(name, value string) bool {
	k, _, _ := strings.Cut(value, "=")
	return (name == "e" || name == "extra-vars") && engine.SecretName(k)
}
