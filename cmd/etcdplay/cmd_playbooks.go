package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory/suggest"
	"github.com/etcdplay/etcdplay/playbooks"
)

// playbooksOptions are the flags of etcdplay playbooks.
type playbooksOptions struct {
	Source bool
}

func playbooksCommand() *cli.Command {
	var opts playbooksOptions
	return &cli.Command{
		Name:      "playbooks",
		Usage:     "list the playbooks shipped in etcdplay",
		ArgsUsage: "[NAME]",
		Description: `Lists the shipped playbooks with the first line of their documentation.
With NAME, prints that playbook's documentation (its parameters), or with
--source its source, a starting point for your own.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{DisableDefaultText: true, Name: "source", Destination: &opts.Source, Usage: "print the playbook's source"},
		},
		Action: func(c *cli.Context) error { return runPlaybooks(invocationOf(c), opts, c.Args().Slice()) },
	}
}

// runPlaybooks lists the shipped playbooks, or shows the one args names:
// its documentation, or with --source its source.
func runPlaybooks(ci invocation, opts playbooksOptions, args []string) error {
	w := ci.stdout
	list := engine.ShippedPlaybooks(playbooks.FS)
	if len(args) == 0 {
		if len(list) == 0 {
			fmt.Fprintln(w, "no playbooks are shipped in this build")
			return nil
		}
		width := 0
		for _, p := range list {
			width = max(width, len(p.Name))
		}
		for _, p := range list {
			fmt.Fprintf(w, "%-*s  %s\n", width, p.Name, p.Summary)
		}
		fmt.Fprintln(w, "\nRun one with etcdplay run NAME -i INVENTORY; etcdplay playbooks NAME shows its parameters.")
		return nil
	}
	name := args[0]
	for _, p := range list {
		if p.Name != name {
			continue
		}
		if opts.Source {
			pb, err := engine.OpenPlaybook(name, playbooks.FS)
			if err != nil {
				return err
			}
			_, err = w.Write(pb.Source())
			return err
		}
		fmt.Fprintf(w, "%s\n", p.Doc)
		return nil
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	return badInput("playbooks: no shipped playbook %q%s", name, suggest.Hint(name, names))
}
