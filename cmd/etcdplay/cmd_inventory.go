package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/inventory"
)

func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "inventory",
		Usage:     "show the hosts, groups and variables of an inventory",
		ArgsUsage: "[PATTERN]",
		Description: "Lists each host matching PATTERN (default all, within --limit) with its\n" +
			"address, port, user, groups and resolved variables, as etcdplay will use\n" +
			"them. Values are shown as JSON, so \"2379\" is a string and 2379 a number.\n\n" +
			"   etcdplay inventory -i inv.ini                 every host and its variables\n" +
			"   etcdplay inventory -i inv.ini 'etcd:!etcd-3'  the hosts a pattern selects\n" +
			"   etcdplay inventory -i inv.ini --graph [GROUP] the group tree\n" +
			"   etcdplay inventory -i inv.ini --host etcd-1   one host, with where each variable is set\n" +
			"   etcdplay inventory -i inv.ini -o json         like ansible-inventory --list",
		Flags: flags(inventoryFlags(), outputFlags(), []cli.Flag{
			&cli.BoolFlag{DisableDefaultText: true, Name: "list", Usage: "list hosts and their variables (the default)"},
			&cli.BoolFlag{DisableDefaultText: true, Name: "graph", Usage: "draw the group tree under GROUP (the argument; default all)"},
			&cli.StringFlag{Name: "host", Usage: "show the host called `NAME` and where each of its variables is set"},
		}),
		Action: runInventory,
	}
}

func runInventory(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	inv, err := loadInventory(c)
	if err != nil {
		return err
	}
	for _, w := range inv.Warnings() {
		fmt.Fprintf(c.App.ErrWriter, "etcdplay: warning: %s\n", w)
	}
	args := c.Args().Slice()
	graph, host := c.Bool("graph"), c.String("host")
	switch {
	case len(args) > 1:
		return badInput("inventory: expected at most one PATTERN, found %d arguments: %s (join terms with ',' or ':')", len(args), strings.Join(args, " "))
	case graph && host != "":
		return badInput("inventory: --graph and --host: expected one of them")
	case graph && c.Bool("list"), host != "" && c.Bool("list"):
		return badInput("inventory: --list with --graph or --host: expected one of them")
	}

	out := bufio.NewWriter(c.App.Writer)
	defer out.Flush()
	switch {
	case graph:
		if format == "json" {
			return badInput("inventory --graph draws text: expected -o text (for JSON use --list -o json)")
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
		if format == "json" {
			return writeJSON(out, hostVars(h))
		}
		writeHost(out, h, true)
		return nil
	}

	pattern := "all"
	if len(args) == 1 {
		pattern = args[0]
	}
	hosts, err := inv.Select(pattern)
	if err != nil {
		return badInput("pattern %q: %v", pattern, err)
	}
	if format == "json" {
		return writeJSON(out, listJSON(inv, hosts))
	}
	if len(hosts) == 0 {
		fmt.Fprintln(out, "(no hosts)")
	}
	for i, h := range hosts {
		if i > 0 {
			fmt.Fprintln(out)
		}
		writeHost(out, h, c.Count("verbose") > 0)
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
func writeHost(w io.Writer, h *inventory.Host, sources bool) {
	fmt.Fprintln(w, hostHeader(h))
	fmt.Fprintf(w, "  groups: %s\n", strings.Join(h.Groups, ", "))
	vars := hostVars(h)
	if len(vars) == 0 {
		fmt.Fprintln(w, "  vars: (none)")
		return
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
		lines[i] = fmt.Sprintf("    %s: %s", k, jsonText(vars[k]))
		width = max(width, len(lines[i]))
	}
	for i, k := range names {
		if src := h.VarSource(k); sources && src != "" {
			fmt.Fprintf(w, "%-*s  # %s\n", min(width, 60), lines[i], src)
		} else {
			fmt.Fprintln(w, lines[i])
		}
	}
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
// too).
func hostVars(h *inventory.Host) map[string]any {
	out := make(map[string]any, len(h.Vars))
	for k, v := range h.Vars {
		if !inventory.MagicVar(k) {
			out[k] = v
		}
	}
	return out
}

// listJSON is the shape of ansible-inventory --list: a key per group with
// its hosts (those selected) and children, and _meta.hostvars.
func listJSON(inv *inventory.Inventory, hosts []*inventory.Host) map[string]any {
	selected := make(map[string]bool, len(hosts))
	hostvars := map[string]any{}
	for _, h := range hosts {
		selected[h.Name] = true
		if v := hostVars(h); len(v) > 0 {
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
	return out
}

func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonSafe(v)); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// jsonText is one value as compact JSON.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonSafe(v)); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// jsonSafe replaces what JSON cannot hold (infinities and NaN, which YAML
// and Python literals can give) with strings.
func jsonSafe(v any) any {
	switch v := v.(type) {
	case float64:
		switch {
		case math.IsInf(v, 1):
			return "inf"
		case math.IsInf(v, -1):
			return "-inf"
		case math.IsNaN(v):
			return "nan"
		}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonSafe(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonSafe(x)
		}
		return out
	}
	return v
}
