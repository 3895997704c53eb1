package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/modules"
	"github.com/etcdplay/etcdplay/playbooks"
)

// checkOptions are the flags of etcdplay check.
type checkOptions struct {
	Inventory         []string
	VaultPasswordFile string
	Output            string
}

func checkCommand() *cli.Command {
	var opts checkOptions
	return &cli.Command{
		Name:      "check",
		Usage:     "check a playbook without running it or connecting anywhere",
		ArgsUsage: "PLAYBOOK",
		Description: `Parses PLAYBOOK and every file it loads and reports, with file:line:col:
syntax errors, undefined names, loads of missing files or names, unknown
modules, unknown or missing module arguments, and a missing main(ctx).
With -i, literal host patterns and names (ctx.hosts("etcd"),
ctx.host("etcd-1"), a pattern string as a target) must match the
inventory. Exits 4 when a problem is found.

Examples:
   etcdplay check ./site.star
   etcdplay check replace -i inv.ini`,
		Flags: []cli.Flag{
			inventoryFlag(&opts.Inventory, "also check host patterns against inventory `FILE`"),
			vaultFlag(&opts.VaultPasswordFile),
			outputFlag(&opts.Output, "output `FORMAT`: text or json (one problem per line)"),
		},
		Before: applyAnsibleCfg,
		Action: func(c *cli.Context) error { return runCheck(invocationOf(c), opts, c.Args().Slice()) },
	}
}

func runCheck(ci invocation, opts checkOptions, args []string) error {
	if len(args) != 1 {
		return badInput("check: want one PLAYBOOK, got %d arguments", len(args))
	}
	pb, err := engine.OpenPlaybook(args[0], playbooks.FS)
	if err != nil {
		return err
	}
	cfg := engine.CheckConfig{Modules: modules.All(), Shipped: playbooks.FS}
	if len(opts.Inventory) > 0 {
		inv, err := openInventory(opts.Inventory, opts.VaultPasswordFile)
		if err != nil {
			return err
		}
		cfg.Inventory = inv
	}
	diags := engine.Check(pb, cfg)
	for _, d := range diags {
		if opts.Output == "json" {
			b, _ := json.Marshal(d)
			fmt.Fprintf(ci.stdout, "%s\n", b)
		} else {
			fmt.Fprintln(ci.stdout, d)
		}
	}
	if len(diags) > 0 {
		return badInput("%s: %d problem(s)", pb.Name(), len(diags))
	}
	if opts.Output == "text" {
		fmt.Fprintf(ci.stdout, "%s: ok\n", pb.Name())
	}
	return nil
}
