package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
)

// planShowOptions are the flags of etcdplay plan show.
type planShowOptions struct {
	JSON bool
}

func planCommandLine() *cli.Command {
	var opts planShowOptions
	return &cli.Command{
		Name:  "plan",
		Usage: "read a plan written by etcdplay run --check --plan-out",
		Description: `A plan is what a run would do, step by step, and what that rests on: the
cluster and the hosts as the modules read them, the playbook, the
inventory, the extra vars, the etcdplay binary. etcdplay run --apply FILE
runs exactly that (etcdplay doc plan).`,
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "print a plan: its text, or with --json its machine part",
			ArgsUsage: "FILE",
			Description: `Prints the plan in FILE as text, rendered from its machine part (which is
what --apply reads), or with --json that machine part. A file whose text is
not the rendering of its machine part (edited by hand) is refused.`,
			Flags: []cli.Flag{
				&cli.BoolFlag{DisableDefaultText: true, Name: "json", Destination: &opts.JSON, Usage: "print the machine part as JSON"},
			},
			Action: func(c *cli.Context) error { return runPlanShow(invocationOf(c), opts, c.Args().Slice()) },
		}},
	}
}

// runPlanShow prints the plan in args[0].
func runPlanShow(ci invocation, opts planShowOptions, args []string) error {
	if len(args) != 1 {
		return badInput("plan show: want one FILE (a plan written by etcdplay run --check --plan-out), got %d arguments", len(args))
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return badInput("plan show: %v", err)
	}
	p, err := engine.ParsePlanFile(args[0], data)
	if err != nil {
		return err
	}
	if opts.JSON {
		b, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(ci.stdout, "%s\n", b)
		return nil
	}
	fmt.Fprint(ci.stdout, p.Text())
	return nil
}
