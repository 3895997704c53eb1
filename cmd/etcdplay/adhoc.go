package main

import (
	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/modules"
)

// runAdhocModule runs one module on the hosts matching pattern, as a
// playbook call would, with arguments from -a key=value (etcdplay exec -m).
// --check and --diff apply; each host's stdout is shown.
func runAdhocModule(c *cli.Context, inv *inventory.Inventory, pattern, module string, args []string) error {
	// As plain exec: a pattern that matches nothing is a mistake to say
	// before connecting anywhere.
	if hosts, err := inv.Select(pattern); err != nil {
		return badInput("pattern %q: %v", pattern, err)
	} else if len(hosts) == 0 {
		return badInput("pattern %q matches no host (within --limit)", pattern)
	}
	out, err := newPrinter(c, true)
	if err != nil {
		return err
	}
	conn, closeConns, err := newConnector(c)
	if err != nil {
		return err
	}
	defer closeConns()
	cfg := engineConfig(c, inv, conn, out)
	cfg.Modules = modules.All()
	rec, err := engine.RunModule(c.Context, cfg, module, pattern, args)
	out.Close()
	return runOutcome(rec, err)
}
