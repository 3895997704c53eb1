package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/modules"
	"github.com/etcdplay/etcdplay/playbooks"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a playbook: a .star file or the name of a shipped playbook",
		ArgsUsage: "PLAYBOOK",
		Description: `Runs PLAYBOOK's main(ctx) against the inventory. PLAYBOOK is a path to a
.star file or the name of a shipped playbook (etcdplay playbooks lists them).
The playbook is checked first (etcdplay check): a playbook with an unknown
module, a misspelt argument or an undefined name does not start.

Each module call is shown as a task header, one line per host (ok, changed,
failed, unreachable, skipped) and a recap at the end. With --check nothing is
changed on any host: every module reports what it would do. etcdplay doc
playbook describes the playbook language; etcdplay doc output the JSON
events of -o json.

Examples:
   etcdplay run bootstrap -i inv.ini
   etcdplay run replace -i inv.ini -e old=etcd-2 -e new=etcd-4 --check --diff
   etcdplay run ./site.star -i inv.yaml -l 'etcd:!etcd-3' -f 50 -e @vars.yaml`,
		Flags:  flags(inventoryFlags(), connectionFlags(), outputFlags(), playFlags()),
		Before: applyAnsibleCfg,
		Action: runAction,
	}
}

func playFlags() []cli.Flag {
	return []cli.Flag{
		extraVarsFlag("set ctx.vars and every host's variables: `KEY=VALUE`, @FILE (YAML or JSON) or an inline {...} mapping; repeat for more"),
		&cli.BoolFlag{DisableDefaultText: true, Name: "check", Aliases: []string{"C"}, Usage: "report what would change, change nothing"},
		&cli.BoolFlag{DisableDefaultText: true, Name: "diff", Aliases: []string{"D"}, Usage: "show file content changes as diffs"},
		breakLockFlag(),
	}
}

// breakLockFlag takes a cluster lock another run holds (see etcdplay doc
// cluster_lock).
func breakLockFlag() cli.Flag {
	return &cli.BoolFlag{DisableDefaultText: true, Name: "break-lock", Usage: "take the cluster lock even when another etcdplay run holds it (its holder is named when it is refused)"}
}

func runAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return badInput("run: want one PLAYBOOK (a .star file or a shipped playbook's name), got %d arguments", c.NArg())
	}
	pb, err := engine.OpenPlaybook(c.Args().First(), playbooks.FS)
	if err != nil {
		return err
	}
	mods := modules.All()
	if diags := engine.Check(pb, engine.CheckConfig{Modules: mods, Shipped: playbooks.FS}); len(diags) > 0 {
		for _, d := range diags {
			fmt.Fprintln(c.App.ErrWriter, d)
		}
		return badInput("%s: %d problem(s) found by etcdplay check; nothing was run", pb.Name(), len(diags))
	}
	inv, vars, err := loadInventoryVars(c)
	if err != nil {
		return err
	}
	out, err := newPrinter(c, engine.TextOptions{})
	if err != nil {
		return err
	}
	conn, closeConns, err := newConnector(c)
	if err != nil {
		return err
	}
	defer closeConns()
	cfg := engineConfig(c, inv, conn, out)
	cfg.Modules = mods
	cfg.Vars = vars
	if dir, ok := pb.Local(); ok {
		cfg.BaseDir = dir
	}
	rec, err := engine.Run(c.Context, cfg, pb)
	out.Close()
	return runOutcome(rec, err)
}

// engineConfig is the part of a run's configuration that comes from the
// common flags.
func engineConfig(c *cli.Context, inv *inventory.Inventory, conn engine.Connector, out engine.Output) engine.Config {
	return engine.Config{
		Inventory:  inv,
		Connector:  conn,
		Check:      c.Bool("check"),
		Diff:       c.Bool("diff"),
		Forks:      c.Int("forks"),
		Become:     c.Bool("become"),
		BecomeUser: c.String("become-user"),
		Output:     out,
		Shipped:    playbooks.FS,
		Command:    commandFor(c, "", nil),
		CommandFor: func(playbook string, vars map[string]string) string { return commandFor(c, playbook, vars) },
		ExecCommandFor: func(pattern, module string, args map[string]string) string {
			return execCommandFor(c, pattern, module, args)
		},
		BreakLock: c.Bool("break-lock"),
		HostAttrs: etcd.HostAttrs(),
		Secrets:   secretVars(extraVars(c)),
	}
}

// extraVars are the extra vars loadInventoryVars read, or none.
func extraVars(c *cli.Context) map[string]any {
	vars, _ := c.App.Metadata[extraVarsKey].(map[string]any)
	return vars
}

// extraVarsFlag is -e of run, exec and inventory.
func extraVarsFlag(usage string) cli.Flag { return listFlag("extra-vars", "e", usage) }

// extraVarsKey is where loadInventoryVars keeps the command's extra vars.
const extraVarsKey = "extra vars"

// loadInventoryVars loads the inventory and gives every host the extra
// vars (-e): they win over every inventory variable, as in Ansible.
func loadInventoryVars(c *cli.Context) (*inventory.Inventory, map[string]any, error) {
	inv, err := loadInventory(c)
	if err != nil {
		return nil, nil, err
	}
	vars, err := engine.ParseVars(listValues(c, "extra-vars"))
	if err != nil {
		return nil, nil, badInput("%v", err)
	}
	inv.SetExtraVars(vars)
	c.App.Metadata[extraVarsKey] = vars
	return inv, vars, nil
}

// printer is an engine output the command closes when the run ends.
type printer interface {
	engine.Output
	Close()
}

// newPrinter returns the printer --output asks for, writing to the app's
// writers. text says how the text printer shows results (ShowOutput,
// Blocks); colour, progress and verbosity come from here.
func newPrinter(c *cli.Context, text engine.TextOptions) (printer, error) {
	format, err := outputFormat(c)
	if err != nil {
		return nil, err
	}
	if format == "json" {
		return jsonPrinter{engine.NewJSON(c.App.Writer), c.App.ErrWriter}, nil
	}
	if f, ok := c.App.Writer.(*os.File); ok {
		text.Color, text.Progress = useColor(f), isTerminal(f)
	}
	text.Verbose = c.Count("verbose")
	return engine.NewText(c.App.Writer, c.App.ErrWriter, text), nil
}

// jsonPrinter writes events as JSON lines and, for the people watching,
// the error that stopped the run on stderr too.
type jsonPrinter struct {
	*engine.JSON
	errw io.Writer
}

func (p jsonPrinter) Emit(e engine.Event) {
	p.JSON.Emit(e)
	if e.Type == engine.EventError {
		fmt.Fprintf(p.errw, "etcdplay: %s\n", e.Msg)
	}
}

// runOutcome maps how a run ended to the error run() turns into the exit
// code. The engine has already printed the error and the recap.
func runOutcome(rec *engine.Recap, err error) error {
	if err != nil {
		return reported{err}
	}
	if rec != nil && (rec.Failed > 0 || rec.Unreachable > 0) {
		return &hostsError{failed: rec.Failed, unreachable: rec.Unreachable}
	}
	return nil
}

// reported is an error the engine's output has already shown: main only
// takes its exit code from it.
type reported struct{ err error }

func (r reported) Error() string   { return r.err.Error() }
func (r reported) Unwrap() []error { return []error{r.err, errQuiet} }

// secretVars are the values of extra vars whose names say they are
// secrets (etcd_password, *_token, ...): the run masks them in its
// output. Passwords are better given in a file or the environment.
func secretVars(vars map[string]any) []string {
	var out []string
	for k, v := range vars {
		if s, ok := v.(string); ok && secretName(k) {
			out = append(out, s)
		}
	}
	return out
}

// secretName says whether an extra var's name says it holds a secret:
// a password, passwd, secret or token, but not a file that holds one
// (etcd_password_file is a path).
func secretName(k string) bool {
	lk := strings.ToLower(k)
	if strings.HasSuffix(lk, "_file") || strings.HasSuffix(lk, "_path") {
		return false
	}
	return strings.Contains(lk, "password") || strings.Contains(lk, "passwd") || strings.Contains(lk, "secret") || strings.HasSuffix(lk, "_token")
}
