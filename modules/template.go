package modules

import (
	"context"
	"fmt"
	"os"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
)

type templateArgs struct {
	Dest    string
	Src     string
	Content string
	Vars    *starlark.Dict
	Mode    engine.FileMode
	Owner   string
	Group   string
	Backup  bool
}

// template renders a Go template for each host and writes it as copy does.
// The file is written only when it differs, atomically, with mode, owner,
// group and backup.
//
// The template sees the host's inventory variables (inventory_hostname,
// group_names, ansible_host, ...), then the run's extra vars (-e), then
// vars=, each overriding the one before, as {{.name}}; and the host as
// {{.host.name}} and {{.host.address}}. A variable the template uses but
// nobody set is an error, not an empty string. Besides the standard
// functions there are join (a list and a separator), default (a fallback
// and a value), upper, lower, trim, and quote (a Go-quoted string).
//
// Arguments:
//
//	dest     path of the file on the host
//	src      the template, a file on the control machine (relative to the
//	         playbook's directory); or
//	content  the template text
//	vars     a dict of more variables (or a dict keyed by host, or a
//	         function of the host, for per-host values)
//	mode, owner, group, backup   as for copy
//
// The result has dest, sha256 and, after a backup, backup_file.
//
// Check mode: renders, compares, and reports (with --diff, the diff); writes
// nothing.
//
// Example:
//
//	template(ctx.hosts("etcd"), src = "templates/etcd.conf.tmpl", dest = "/etc/etcd/etcd.conf",
//	         vars = {"cluster": initial_cluster(ctx.hosts("etcd"))}, become = True)
var templateModule = &engine.HostModule[templateArgs]{
	Name: "template",
	Args: func(a *templateArgs) []any {
		return []any{"dest", &a.Dest, "src?", &a.Src, "content?", &a.Content, "vars?", &a.Vars, "mode?", &a.Mode, "owner?", &a.Owner, "group?", &a.Group, "backup?", &a.Backup}
	},
	Validate: func(a *templateArgs) error {
		if a.Dest == "" {
			return fmt.Errorf("dest is empty")
		}
		if (a.Src == "") == (a.Content == "") {
			return fmt.Errorf("give either src= (a template file) or content= (the template text)")
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.HostCall, a *templateArgs) (engine.Plan, error) {
		text, name := a.Content, "content"
		if a.Src != "" {
			b, err := os.ReadFile(c.LocalPath(a.Src))
			if err != nil {
				return engine.Plan{}, engine.BadInput("src: %v", err)
			}
			text, name = string(b), a.Src
		}
		data, err := templateData(c, a.Vars)
		if err != nil {
			return engine.Plan{}, engine.BadInput("vars: %v", err)
		}
		out, err := render(name, text, data)
		if err != nil {
			return engine.Plan{}, err
		}
		return planWrite(ctx, c, wantFile{Path: a.Dest, Content: out, Mode: a.Mode, Owner: a.Owner, Group: a.Group, Backup: a.Backup, Secret: isSecret(out)})
	},
}
