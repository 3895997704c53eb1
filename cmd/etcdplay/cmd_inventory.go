package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/etcdplay/etcdplay/inventory"
)

// inventoryCmdOptions are the flags of etcdplay inventory.
type inventoryCmdOptions struct {
	inventoryOptions
	outputOptions
	List      bool
	YAML      bool
	Graph     bool
	Host      string
	ExtraVars []string
}

func inventoryCommand() *cli.Command {
	var opts inventoryCmdOptions
	return &cli.Command{
		Name:      "inventory",
		Usage:     "show the hosts, groups and variables of an inventory",
		ArgsUsage: "[PATTERN]",
		Description: "Lists each host matching PATTERN (default all, within --limit) with its\n" +
			"address, port, user, groups and resolved variables, as etcdplay will use\n" +
			"them. Values are shown as JSON, so \"2379\" is a string and 2379 a number.\n" +
			"--list, --yaml and --host print what ansible-inventory prints, in the same\n" +
			"shape, so tools that read its output read etcdplay's; values decrypted\n" +
			"from Ansible Vault are shown as " + inventory.VaultedText + ".\n\n" +
			"   etcdplay inventory -i inv.ini                 every host and its variables\n" +
			"   etcdplay inventory -i inv.ini 'etcd:!etcd-3'  the hosts a pattern selects\n" +
			"   etcdplay inventory -i inv.ini --graph [GROUP] the group tree\n" +
			"   etcdplay inventory -i inv.ini --host etcd-1   one host, with where each variable is set\n" +
			"   etcdplay inventory -i inv.ini --list          as ansible-inventory --list (JSON)\n" +
			"   etcdplay inventory -i inv.ini --list --yaml   as ansible-inventory --list --yaml",
		Flags: flags(opts.inventoryOptions.flags(), opts.outputOptions.flags(), []cli.Flag{
			&cli.BoolFlag{DisableDefaultText: true, Name: "list", Destination: &opts.List, Usage: "print hosts, groups and variables as ansible-inventory --list does (JSON, or YAML with --yaml)"},
			&cli.BoolFlag{DisableDefaultText: true, Name: "yaml", Aliases: []string{"y"}, Destination: &opts.YAML, Usage: "with --list or --host: YAML, as ansible-inventory --yaml"},
			&cli.BoolFlag{DisableDefaultText: true, Name: "graph", Destination: &opts.Graph, Usage: "draw the group tree under GROUP (the argument; default all)"},
			&cli.StringFlag{Name: "host", Destination: &opts.Host, Usage: "show the host called `NAME` and where each of its variables is set"},
			listFlag(&opts.ExtraVars, "extra-vars", "e", "show the variables as run -e would set them (`KEY=VALUE`, @FILE or {...}): --host names what they override"),
		}),
		Before: applyAnsibleCfg,
		Action: func(c *cli.Context) error { return runInventory(invocationOf(c), opts, c.Args().Slice()) },
	}
}

func runInventory(ci invocation, opts inventoryCmdOptions, args []string) error {
	inv, _, err := loadInventoryVars(opts.inventoryOptions, opts.ExtraVars)
	if err != nil {
		return err
	}
	for _, w := range inv.Warnings() {
		fmt.Fprintf(ci.stderr, "etcdplay: warning: %s\n", w)
	}
	format := opts.Output
	graph, host, list, asYAML := opts.Graph, opts.Host, opts.List, opts.YAML
	switch {
	case len(args) > 1:
		return badInput("inventory: expected at most one PATTERN, found %d arguments: %s (join terms with ',' or ':')", len(args), strings.Join(args, " "))
	case graph && host != "":
		return badInput("inventory: --graph and --host: expected one of them")
	case graph && list, host != "" && list:
		return badInput("inventory: --list with --graph or --host: expected one of them")
	case asYAML && graph:
		return badInput("inventory --graph draws text: --yaml goes with --list or --host")
	case asYAML && format == "json":
		return badInput("inventory: --yaml and -o json: expected one of them")
	}

	out := bufio.NewWriter(ci.stdout)
	defer out.Flush()
	switch {
	case graph:
		if format == "json" {
			return badInput("inventory --graph draws text: expected -o text (for JSON use --list)")
		}
		group := "all"
		if len(args) == 1 {
			group = args[0]
		}
		if err := inv.Graph(out, group); err != nil {
			return badInput("--graph: %v", err)
		}
		return nil

	case host != "":
		if len(args) > 0 {
			return badInput("inventory --host %s: expected no PATTERN argument, found %q", host, args[0])
		}
		h, ok := inv.Host(host)
		if !ok {
			return noHost(inv, host)
		}
		vars, err := hostVars(h)
		if err != nil {
			return badInput("%v", err)
		}
		switch {
		case asYAML:
			return writeYAML(out, inventory.YAMLNode(vars))
		case format == "json":
			return writeJSON(out, vars, "")
		}
		return writeHost(out, h, true)
	}

	pattern := "all"
	if len(args) == 1 {
		pattern = args[0]
	}
	hosts, err := inv.Select(pattern)
	if err != nil {
		return badInput("pattern %q: %v", pattern, err)
	}
	switch {
	case asYAML:
		node, err := listYAML(inv, hosts)
		if err != nil {
			return badInput("%v", err)
		}
		return writeYAML(out, node)
	case list || format == "json":
		v, err := listJSON(inv, hosts)
		if err != nil {
			return badInput("%v", err)
		}
		indent := ""
		if list {
			indent = "    " // as ansible-inventory --list indents
		}
		return writeJSON(out, v, indent)
	}
	if len(hosts) == 0 {
		fmt.Fprintln(out, "(no hosts)")
	}
	for i, h := range hosts {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := writeHost(out, h, opts.verbosity() > 0); err != nil {
			return err
		}
	}
	return nil
}

// noHost explains a --host NAME that is not a host: a group, or a typo.
func noHost(inv *inventory.Inventory, name string) error {
	if _, ok := inv.Group(name); ok {
		return badInput("--host %s: %q is a group, not a host: expected a host name (list a group's hosts with: etcdplay inventory -i INV %s)", name, name, name)
	}
	if _, err := inv.Select(name); err != nil {
		return badInput("--host: %v", err)
	}
	return badInput("--host: no host named %q", name)
}

// writeHost prints one host as a block: a header with how etcdplay will
// reach it, its groups, and its variables (with where each is set when
// sources is true).
func writeHost(w io.Writer, h *inventory.Host, sources bool) error {
	vars, err := hostVars(h)
	if err != nil {
		return badInput("%v", err)
	}
	fmt.Fprintln(w, hostHeader(h))
	fmt.Fprintf(w, "  groups: %s\n", strings.Join(h.Groups, ", "))
	if len(vars) == 0 {
		fmt.Fprintln(w, "  vars: (none)")
		return nil
	}
	fmt.Fprintln(w, "  vars:")
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	width := 0
	for i, k := range names {
		lines[i] = fmt.Sprintf("    %s: %s", k, jsonValue(nil, vars[k], "", 0))
		width = max(width, len(lines[i]))
	}
	for i, k := range names {
		if src := h.VarSource(k); sources && src != "" {
			fmt.Fprintf(w, "%-*s  # %s\n", min(width, 60), lines[i], src)
		} else {
			fmt.Fprintln(w, lines[i])
		}
	}
	return nil
}

// hostHeader is "etcd-1 (10.77.0.11:2222, user root, become)".
func hostHeader(h *inventory.Host) string {
	var parts []string
	addr := h.Address()
	switch {
	case h.Port() != 0:
		parts = append(parts, net.JoinHostPort(addr, strconv.Itoa(h.Port())))
	case addr != h.Name:
		parts = append(parts, addr)
	}
	if u := h.User(); u != "" {
		parts = append(parts, "user "+u)
	}
	if k := h.KeyFile(); k != "" {
		parts = append(parts, "key "+k)
	}
	if b, set := h.Become(); set && b {
		become := "become"
		if u := h.BecomeUser(); u != "" {
			become += " " + u
		}
		parts = append(parts, become)
	}
	if len(parts) == 0 {
		return h.Name
	}
	return h.Name + " (" + strings.Join(parts, ", ") + ")"
}

// hostVars are a host's variables without the magic ones, which the
// header and groups line already show (ansible-inventory leaves them out
// too), each resolved: a template that cannot be evaluated is an error
// here, naming the host, the variable and the expression. What came from
// Ansible Vault is shown as inventory.VaultedText.
func hostVars(h *inventory.Host) (map[string]any, error) {
	out := make(map[string]any, len(h.Vars))
	names := make([]string, 0, len(h.Vars))
	for k := range h.Vars {
		names = append(names, k)
	}
	sort.Strings(names) // the same error first every time
	for _, k := range names {
		if inventory.MagicVar(k) {
			continue
		}
		v, _, err := h.Lookup(k)
		if err != nil {
			return nil, err
		}
		if h.Secret(k) {
			v = inventory.VaultedText
		}
		out[k] = v
	}
	return out, nil
}

// listJSON is the shape of ansible-inventory --list: a key per group with
// its hosts (those selected) and children, in the order they were added,
// groups with neither left out, and _meta.hostvars.
func listJSON(inv *inventory.Inventory, hosts []*inventory.Host) (map[string]any, error) {
	selected := make(map[string]bool, len(hosts))
	hostvars := map[string]any{}
	for _, h := range hosts {
		selected[h.Name] = true
		v, err := hostVars(h)
		if err != nil {
			return nil, err
		}
		if len(v) > 0 {
			hostvars[h.Name] = v
		}
	}
	out := map[string]any{"_meta": map[string]any{"hostvars": hostvars}}
	for _, g := range inv.Groups() {
		entry := map[string]any{}
		if len(g.Children) > 0 {
			entry["children"] = g.Children
		}
		if g.Name != "all" {
			var names []string
			for _, h := range g.Hosts {
				if selected[h] {
					names = append(names, h)
				}
			}
			if len(names) > 0 {
				entry["hosts"] = names
			}
		}
		if len(entry) > 0 {
			out[g.Name] = entry
		}
	}
	return out, nil
}

// listYAML is the shape of ansible-inventory --list --yaml: the tree from
// all down, each group with its children and its (selected) hosts, a
// host's variables under its first appearance and {} under the others,
// and an empty group as {}.
func listYAML(inv *inventory.Inventory, hosts []*inventory.Host) (*yaml.Node, error) {
	selected := make(map[string]*inventory.Host, len(hosts))
	for _, h := range hosts {
		selected[h.Name] = h
	}
	shown := map[string]bool{}
	var group func(g *inventory.Group) (map[string]any, error)
	group = func(g *inventory.Group) (map[string]any, error) {
		body := map[string]any{}
		children := map[string]any{}
		for _, name := range g.Children {
			c, _ := inv.Group(name)
			sub, err := group(c)
			if err != nil {
				return nil, err
			}
			children[name] = sub
		}
		if len(children) > 0 {
			body["children"] = children
		}
		members := map[string]any{}
		if g.Name != "all" {
			for _, name := range g.Hosts {
				h := selected[name]
				if h == nil {
					continue
				}
				vars := map[string]any{}
				if !shown[name] {
					shown[name] = true
					v, err := hostVars(h)
					if err != nil {
						return nil, err
					}
					vars = v
				}
				members[name] = vars
			}
		}
		if len(members) > 0 {
			body["hosts"] = members
		}
		return body, nil
	}
	all, _ := inv.Group("all")
	tree, err := group(all)
	if err != nil {
		return nil, err
	}
	return inventory.YAMLNode(map[string]any{"all": tree}), nil
}

// writeJSON writes v as one JSON document (see jsonValue).
func writeJSON(w io.Writer, v any, indent string) error {
	b := jsonValue(nil, v, indent, 0)
	_, err := w.Write(append(b, '\n'))
	return err
}

func writeYAML(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}
