package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
)

type shellArgs struct {
	Cmd      string
	Creates  string
	Removes  string
	Chdir    string
	Stdin    string
	ReadOnly bool
}

// shell runs a command line through the shell on each host. Pipes,
// redirections, variables and globs work as in the login user's POSIX
// shell; prefer command when none of those are needed.
//
// Arguments:
//
//	cmd      the shell command line
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
//	shell(ctx.hosts("etcd"), "journalctl -u etcd -n 50 --no-pager | grep -i error || true")
var shellModule = &engine.HostModule[shellArgs]{
	Name: "shell",
	Args: func(a *shellArgs) []any {
		return []any{"cmd", &a.Cmd, "creates?", &a.Creates, "removes?", &a.Removes, "chdir?", &a.Chdir, "stdin?", &a.Stdin, "read_only?", &a.ReadOnly}
	},
	Validate: func(a *shellArgs) error {
		if strings.TrimSpace(a.Cmd) == "" {
			return fmt.Errorf("cmd is empty")
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.HostCall, a *shellArgs) (engine.Plan, error) {
		show := a.Cmd
		if len(show) > 80 {
			show = show[:77] + "..."
		}
		return planRun(ctx, c, runSpec{line: a.Cmd, show: show, creates: a.Creates, removes: a.Removes, chdir: a.Chdir, stdin: a.Stdin, readOnly: a.ReadOnly})
	},
}
