package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/modules"
	"github.com/etcdplay/etcdplay/playbooks"
)

func checkCommand() *cli.Command {
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
			inventoryFlag("also check host patterns against inventory `FILE`"),
			vaultFlag(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output `FORMAT`: text or json (one problem per line)"},
		},
		Before: applyAnsibleCfg,
		Action: checkAction,
	}
}

func checkAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return badInput("check: want one PLAYBOOK, got %d arguments", c.NArg())
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	pb, err := engine.OpenPlaybook(c.Args().First(), playbooks.FS)
	if err != nil {
		return err
	}
	cfg := engine.CheckConfig{Modules: modules.All(), Shipped: playbooks.FS}
	if paths := listValues(c, "inventory"); len(paths) > 0 {
		inv, err := openInventory(c, paths)
		if err != nil {
			return err
		}
		cfg.Inventory = inv
	}
	diags := engine.Check(pb, cfg)
	for _, d := range diags {
		if format == "json" {
			b, _ := json.Marshal(d)
			fmt.Fprintf(c.App.Writer, "%s\n", b)
		} else {
			fmt.Fprintln(c.App.Writer, d)
		}
	}
	if len(diags) > 0 {
		return badInput("%s: %d problem(s)", pb.Name(), len(diags))
	}
	if format == "text" {
		fmt.Fprintf(c.App.Writer, "%s: ok\n", pb.Name())
	}
	return nil
}
