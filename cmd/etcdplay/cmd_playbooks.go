package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory/suggest"
	"github.com/etcdplay/etcdplay/playbooks"
)

func playbooksCommand() *cli.Command {
	return &cli.Command{
		Name:      "playbooks",
		Usage:     "list the playbooks shipped in etcdplay",
		ArgsUsage: "[NAME]",
		Description: `Lists the shipped playbooks with the first line of their documentation.
With NAME, prints that playbook's documentation (its parameters), or with
--source its source, a starting point for your own.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{DisableDefaultText: true, Name: "source", Usage: "print the playbook's source"},
		},
		Action: playbooksAction,
	}
}

func playbooksAction(c *cli.Context) error {
	w := c.App.Writer
	list := engine.ShippedPlaybooks(playbooks.FS)
	if c.NArg() == 0 {
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
	name := c.Args().First()
	for _, p := range list {
		if p.Name != name {
			continue
		}
		if c.Bool("source") {
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
