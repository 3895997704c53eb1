package modules

import (
	"context"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

type commandArgs struct {
	Cmd      engine.Argv
	Creates  string
	Removes  string
	Chdir    string
	Stdin    string
	ReadOnly bool
}

// command runs a program on each host, without a shell. Every word reaches
// the program as it is, so there are no quoting surprises, and no pipes,
// redirections or variables (use shell for those).
//
// Arguments:
//
//	cmd      the command: a list of words, or a string split into words as
//	         a shell would (quotes and backslashes; nothing is expanded)
//	creates  a path; if it exists on the host the command is not run (ok)
//	removes  a path; if it does not exist the command is not run (ok)
//	chdir    directory to run the command in
//	stdin    text given to the command on its standard input
//	read_only  True when the command only reads (a fact, a status): it
//	         runs in check mode too and reports ok, never changed
//
// The result has rc, stdout and stderr (without the trailing newline). A
// non-zero exit status fails the host.
//
// Check mode: creates= and removes= are checked; the command is reported as
// "would run" and not run, unless read_only=True.
//
// Example:
//
//	r = command(ctx.hosts("etcd"), ["etcdctl", "endpoint", "health"], retries = 5, until = lambda r: r.rc == 0)
//	command(h, "tar xzf /tmp/etcd.tgz -C /opt", creates = "/opt/etcd")
var commandModule = &engine.HostModule[commandArgs]{
	Name: "command",
	Args: func(a *commandArgs) []any {
		return []any{"cmd", &a.Cmd, "creates?", &a.Creates, "removes?", &a.Removes, "chdir?", &a.Chdir, "stdin?", &a.Stdin, "read_only?", &a.ReadOnly}
	},
	Plan: func(ctx context.Context, c *engine.HostCall, a *commandArgs) (engine.Plan, error) {
		line := transport.Quote(a.Cmd...)
		if a.Chdir != "" {
			line = "exec " + line
		}
		show := transport.Quote(a.Cmd...)
		if len(show) > 100 {
			show = show[:97] + "..."
		}
		return planRun(ctx, c, runSpec{line: line, show: show, creates: a.Creates, removes: a.Removes, chdir: a.Chdir, stdin: a.Stdin, readOnly: a.ReadOnly})
	},
}
