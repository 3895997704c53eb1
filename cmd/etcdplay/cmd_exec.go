package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/modules"
)

func execCommand() *cli.Command {
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
		Flags: flags(inventoryFlags(), connectionFlags(), outputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "module", Aliases: []string{"m"}, Usage: "run `MODULE` instead of a command (see etcdplay doc)"},
			listFlag("args", "a", "module argument `KEY=VALUE`; repeat for more"),
			extraVarsFlag("set every host's variables, as run -e does: `KEY=VALUE`, @FILE or {...}; repeat for more"),
			&cli.BoolFlag{DisableDefaultText: true, Name: "check", Aliases: []string{"C"}, Usage: "report what would change, change nothing (a command is not run)"},
			&cli.BoolFlag{DisableDefaultText: true, Name: "diff", Aliases: []string{"D"}, Usage: "with -m: show file content changes as diffs"},
			breakLockFlag(),
		}),
		Before: applyAnsibleCfg,
		Action: execAction,
	}
}

func execAction(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		return badInput("exec: missing PATTERN (e.g. 'etcd' or 'all'); see etcdplay exec --help")
	}
	pattern, cmdArgs := args[0], args[1:]
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	module := c.String("module")
	switch {
	case module != "" && len(cmdArgs) > 0:
		return badInput("exec: give either -m MODULE with -a KEY=VALUE or a command after --, not both")
	case module == "" && len(cmdArgs) == 0:
		return badInput("exec: missing command: etcdplay exec -i INV %s -- CMD [ARG...]", pattern)
	}
	inv, _, err := loadInventoryVars(c)
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
	out, err := newPrinter(c, engine.TextOptions{ShowOutput: true, Blocks: module == ""})
	if err != nil {
		return err
	}
	conn, closeConns, err := newConnector(c)
	if err != nil {
		return err
	}
	defer closeConns()
	cfg := engineConfig(c, inv, conn, out)
	var rec *engine.Recap
	if module != "" {
		cfg.Modules = modules.All()
		rec, err = engine.RunModule(c.Context, cfg, module, pattern, listValues(c, "args"))
	} else {
		rec, err = engine.RunCommand(c.Context, cfg, pattern, strings.Join(cmdArgs, " "))
	}
	out.Close()
	return runOutcome(rec, err)
}
