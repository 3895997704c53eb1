package main

import (
	"context"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/modules"
)

// execOptions are the flags of etcdplay exec: run's, and the module to
// run instead of a command.
type execOptions struct {
	runOptions
	Module string
	Args   []string
}

func execCommand() *cli.Command {
	var opts execOptions
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command (or a module with -m) on every host matching PATTERN",
		ArgsUsage: "PATTERN [-- CMD [ARG...]]",
		Description: `Runs CMD on every host PATTERN matches, in parallel (at most --forks at a
time), over one SSH connection per host. CMD is given to the remote user's
shell as ssh(1) does, so pipes and variables work; quote it to keep it from
the local shell. Each host's output is printed as a block headed by its name,
status and exit status as it finishes, then a recap line. A command exiting
0 is ok, any other exit status fails its host.

With -m MODULE the module runs instead, with arguments from -a key=value,
shown as etcdplay run shows a module call.

etcdplay doc output describes the JSON events of -o json; a command is
the module "exec" there.

Examples:
   etcdplay exec -i inv.ini etcd -- systemctl is-active etcd
   etcdplay exec -i inv.ini 'etcd:!etcd-3' -b -- 'journalctl -u etcd -n 20 --no-pager'
   etcdplay exec -i inv.ini all -o json -- uptime
   etcdplay exec -i inv.ini etcd -m systemd -a unit=etcd -a state=restarted`,
		Flags: append(opts.flags("set every host's variables, as run -e does: `KEY=VALUE`, @FILE or {...}; repeat for more",
			"report what would change, change nothing (a command is not run)",
			"with -m: show file content changes as diffs"),
			&cli.StringFlag{Name: "module", Aliases: []string{"m"}, Destination: &opts.Module, Usage: "run `MODULE` instead of a command (see etcdplay doc)"},
			listFlag(&opts.Args, "args", "a", "module argument `KEY=VALUE`; repeat for more"),
		),
		Before: applyAnsibleCfg,
		Action: func(c *cli.Context) error { return runExec(c.Context, invocationOf(c), opts, c.Args().Slice()) },
	}
}

// runExec runs one call on the hosts matching the pattern, args[0]: the
// command after "--" (the engine's exec module, shown as blocks) or, with
// -m, the module with its -a arguments (shown as a playbook's call, each
// host's stdout too).
func runExec(ctx context.Context, ci invocation, opts execOptions, args []string) error {
	if len(args) == 0 {
		return badInput("exec: missing PATTERN (e.g. 'etcd' or 'all'); see etcdplay exec --help")
	}
	pattern, cmdArgs := args[0], args[1:]
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	switch {
	case opts.Module != "" && len(cmdArgs) > 0:
		return badInput("exec: give either -m MODULE with -a KEY=VALUE or a command after --, not both")
	case opts.Module == "" && len(cmdArgs) == 0:
		return badInput("exec: missing command: etcdplay exec -i INV %s -- CMD [ARG...]", pattern)
	}
	inv, vars, err := loadInventoryVars(opts.inventoryOptions, opts.ExtraVars)
	if err != nil {
		return err
	}
	// A pattern that matches nothing is a mistake to say before
	// connecting anywhere.
	if hosts, err := inv.Select(pattern); err != nil {
		return badInput("pattern %q: %v", pattern, err)
	} else if len(hosts) == 0 {
		return badInput("pattern %q matches no host (within --limit)", pattern)
	}
	out := newPrinter(ci, opts.outputOptions, engine.TextOptions{ShowOutput: true, Blocks: opts.Module == ""})
	conn, closeConns, err := newConnector(opts.connectionOptions, false)
	if err != nil {
		return err
	}
	defer closeConns()
	cfg := engineConfig(ci, opts.runOptions, inv, vars, conn, out)
	var rec *engine.Recap
	if opts.Module != "" {
		cfg.Modules = modules.All()
		rec, err = engine.RunModule(ctx, cfg, opts.Module, pattern, opts.Args)
	} else {
		rec, err = engine.RunCommand(ctx, cfg, pattern, strings.Join(cmdArgs, " "))
	}
	out.Close()
	return runOutcome(rec, err)
}
