package main

import (
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine/transport"
)

// argvKey is where run keeps the command line, as reorderArgs left it
// (flags before positional arguments), for commandFor.
const argvKey = "argv"

// dropOnRerun are the flags a command printed as a remedy leaves out: it
// is run for real, and takes the lock only when the operator says so.
var dropOnRerun = []string{"check", "C", "diff", "D", "break-lock"}

// commandFor is the command line of this run with another playbook (""
// keeps it) and the extra vars in vars set (replacing any -e of the same
// key; an empty value drops it): what a playbook prints as the command
// that continues, undoes or repairs something. The inventory, limit and connection flags are the
// run's own.
func commandFor(c *cli.Context, playbook string, vars map[string]string) string {
	flagWords, pos := runFlags(c, func(name, value string) bool {
		if slices.Contains(dropOnRerun, name) {
			return false
		}
		if name == "e" || name == "extra-vars" {
			if k, _, ok := strings.Cut(value, "="); ok {
				if _, set := vars[k]; set {
					return false
				}
				// A password typed on the command line is never
				// printed: the command is shown without it, and takes
				// it from etcd_password_file or the environment.
				if secretName(k) {
					return false
				}
			}
		}
		return true
	})
	if playbook == "" && len(pos) > 0 {
		playbook = pos[0]
	}
	words := []string{"etcdplay", c.Command.Name, playbook}
	words = append(words, flagWords...)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
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
func execCommandFor(c *cli.Context, pattern, module string, args map[string]string) string {
	exec := execCommand()
	keep := map[string]bool{}
	for _, f := range flags(inventoryFlags(), connectionFlags()) {
		for _, n := range f.Names() {
			keep[n] = true
		}
	}
	flagWords, _ := runFlags(c, func(name, value string) bool {
		if name == "e" || name == "extra-vars" {
			return hostExtraVar(value)
		}
		return keep[name]
	})
	words := append([]string{"etcdplay", exec.Name}, flagWords...)
	words = append(words, pattern, "-m", module)
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		words = append(words, "-a", k+"="+args[k])
	}
	return transport.Quote(words...)
}

// runFlags splits the command line of this command into its flags (as
// words, each flag with its value, those keep accepts) and its positional
// arguments.
func runFlags(c *cli.Context, keep func(name, value string) bool) (flagWords, pos []string) {
	argv, _ := c.App.Metadata[argvKey].([]string)
	if len(argv) < 2 {
		return nil, nil
	}
	takesValue := map[string]bool{}
	for _, f := range c.Command.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	rest := argv[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return flagWords, append(pos, rest[i:]...) // exec's command: no flags of ours
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue && takesValue[name] && i+1 < len(rest) {
			i++
			value, hasValue = rest[i], true
		}
		if !keep(name, value) {
			continue
		}
		flagWords = append(flagWords, "-"+strings.Repeat("-", min(len(name)-1, 1))+name)
		if hasValue {
			flagWords = append(flagWords, value)
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
	return (strings.HasPrefix(k, "etcd_") || strings.HasPrefix(k, "ansible_")) && !secretName(k)
}
