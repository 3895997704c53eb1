package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/inventory/suggest"
	"github.com/etcdplay/etcdplay/modules"
	"github.com/etcdplay/etcdplay/playbooks"
)

func docCommand() *cli.Command {
	return &cli.Command{
		Name:      "doc",
		Usage:     "show the documentation of a module, a shipped playbook or a topic",
		ArgsUsage: "[NAME]",
		Description: `Without NAME, lists the modules and topics. NAME is a module (etcdplay doc
copy), a shipped playbook (etcdplay doc replace), or a topic: "playbook"
(writing playbooks: ctx, targets, results, common arguments) or "output"
(the JSON events of --output json) or "etcd" (a member's variables: names,
URLs, TLS, authentication, how etcdplay reaches it) or "plan" (run
--check --plan-out and run --apply).`,
		Action: func(c *cli.Context) error { return runDoc(invocationOf(c), c.Args().Slice()) },
	}
}

// runDoc prints the page args names, or the list of pages.
func runDoc(ci invocation, args []string) error {
	w := ci.stdout
	mods := modules.All()
	if len(args) == 0 {
		fmt.Fprintln(w, "MODULES (etcdplay doc NAME)")
		width := 0
		for _, m := range mods {
			width = max(width, len(m.Info().Name))
		}
		for _, m := range mods {
			info := m.Info()
			kind := ""
			if info.Kind == engine.ClusterKind {
				kind = " [cluster]"
			}
			fmt.Fprintf(w, "   %-*s  %s%s\n", width, info.Name, modules.Summary(info.Name), kind)
		}
		fmt.Fprintln(w, "\nTOPICS")
		fmt.Fprintln(w, "   playbook  writing playbooks: ctx, targets, results, common arguments")
		fmt.Fprintln(w, "   output    the JSON events of --output json")
		fmt.Fprintln(w, "   etcd      a member's variables: names, URLs, TLS, authentication, dialing")
		fmt.Fprintln(w, "   plan      reviewed changes: run --check --plan-out, run --apply")
		fmt.Fprintln(w, "\nShipped playbooks: etcdplay playbooks")
		return nil
	}
	if len(args) > 1 {
		return badInput("doc: want one NAME, got %d", len(args))
	}
	name := args[0]
	for _, m := range mods {
		info := m.Info()
		if info.Name != name {
			continue
		}
		doc, _ := modules.Doc(name)
		fmt.Fprintf(w, "%s (%s module)\n\n", name, info.Kind)
		fmt.Fprintln(w, indentDoc(doc))
		var common []string
		for _, n := range engine.CommonArgs() {
			if _, taken := info.Param(n); !taken {
				common = append(common, n+"=")
			}
		}
		fmt.Fprintf(w, "\nCommon arguments (etcdplay doc playbook): %s\n", strings.Join(common, ", "))
		return nil
	}
	if t, ok := topics()[name]; ok {
		fmt.Fprint(w, t)
		return nil
	}
	for _, p := range engine.ShippedPlaybooks(playbooks.FS) {
		if p.Name == name {
			fmt.Fprintf(w, "%s (shipped playbook: etcdplay run %s)\n\n%s\n", p.Name, p.Name, indentDoc(p.Doc))
			return nil
		}
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Info().Name)
	}
	for t := range topics() {
		names = append(names, t)
	}
	sort.Strings(names)
	return badInput("doc: no module, topic or shipped playbook %q%s; etcdplay doc lists them", name, suggest.Hint(name, names))
}

func indentDoc(doc string) string {
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "    " + strings.ReplaceAll(l, "\t", "    ")
		}
	}
	return strings.Join(lines, "\n")
}

// topics are the documentation topics: the engine's and the etcd layer's.
func topics() map[string]string {
	t := map[string]string{"etcd": etcd.Topic}
	for k, v := range engine.Topics {
		t[k] = v
	}
	return t
}
