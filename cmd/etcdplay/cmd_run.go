package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/modules"
	"github.com/etcdplay/etcdplay/playbooks"
)

// runOptions are the flags of etcdplay run; exec has them too.
type runOptions struct {
	inventoryOptions
	connectionOptions
	outputOptions
	ExtraVars []string
	Check     bool
	Diff      bool
	BreakLock bool
}

// flags are run's flags; exec words -e, --check and --diff for itself.
func (o *runOptions) flags(extraVars, check, diff string) []cli.Flag {
	return flags(o.inventoryOptions.flags(), o.connectionOptions.flags(), o.outputOptions.flags(), []cli.Flag{
		listFlag(&o.ExtraVars, "extra-vars", "e", extraVars),
		&cli.BoolFlag{DisableDefaultText: true, Name: "check", Aliases: []string{"C"}, Destination: &o.Check, Usage: check},
		&cli.BoolFlag{DisableDefaultText: true, Name: "diff", Aliases: []string{"D"}, Destination: &o.Diff, Usage: diff},
		// See etcdplay doc cluster_lock.
		&cli.BoolFlag{DisableDefaultText: true, Name: "break-lock", Destination: &o.BreakLock, Usage: "take the cluster lock even when another etcdplay run holds it (its holder is named when it is refused)"},
	})
}

func runCommand() *cli.Command {
	var opts runOptions
	var plan planOptions
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

A plan (etcdplay doc plan): --check --plan-out FILE writes what the run
would do, step by step, and what that rests on, for review; --apply FILE
runs exactly that, and is refused when the cluster or the hosts read
otherwise by then.

Examples:
   etcdplay run bootstrap -i inv.ini
   etcdplay run replace -i inv.ini -e old=etcd-2 -e new=etcd-4 --check --diff
   etcdplay run replace -i inv.ini -e old=etcd-2 -e new=etcd-4 --check --plan-out replace.plan
   etcdplay run --apply replace.plan
   etcdplay run ./site.star -i inv.yaml -l 'etcd:!etcd-3' -f 50 -e @vars.yaml`,
		Flags: append(opts.flags("set ctx.vars and every host's variables: `KEY=VALUE`, @FILE (YAML or JSON) or an inline {...} mapping; repeat for more",
			"report what would change, change nothing", "show file content changes as diffs"), plan.flags()...),
		Before: applyAnsibleCfg,
		Action: func(c *cli.Context) error { return runRun(c.Context, invocationOf(c), opts, plan, c.Args().Slice()) },
	}
}

func runRun(ctx context.Context, ci invocation, opts runOptions, po planOptions, args []string) error {
	applied, _ := ctx.Value(appliedPlanKey{}).(*appliedPlan)
	switch {
	case po.Apply != "" && applied == nil:
		return runApply(ctx, ci, opts, po, args)
	case po.PlanOut != "" && !opts.Check:
		return badInput("--plan-out writes the plan of a check run: add --check (etcdplay run PLAYBOOK ... --check --plan-out FILE)")
	}
	if len(args) != 1 {
		return badInput("run: want one PLAYBOOK (a .star file or a shipped playbook's name), got %d arguments", len(args))
	}
	if po.PlanOut != "" && localPlaybook(args[0]) {
		// Positions name it as the plan's command does, from anywhere.
		args[0] = absPath(args[0])
	}
	pb, err := engine.OpenPlaybook(args[0], playbooks.FS)
	if err != nil {
		return err
	}
	mods := modules.All()
	if diags := engine.Check(pb, engine.CheckConfig{Modules: mods, Shipped: playbooks.FS}); len(diags) > 0 {
		for _, d := range diags {
			fmt.Fprintln(ci.stderr, d)
		}
		return badInput("%s: %d problem(s) found by etcdplay check; nothing was run", pb.Name(), len(diags))
	}
	inv, vars, err := loadInventoryVars(opts.inventoryOptions, opts.ExtraVars)
	if err != nil {
		return err
	}
	out := newPrinter(ci, opts.outputOptions, engine.TextOptions{})
	conn, closeConns, err := newConnector(opts.connectionOptions, true)
	if err != nil {
		return err
	}
	defer closeConns()
	cfg := engineConfig(ci, opts, inv, vars, conn, out)
	cfg.Modules = mods
	cfg.Vars = vars
	if dir, ok := pb.Local(); ok {
		cfg.BaseDir = dir
	}
	if applied != nil {
		if err := recheckPlan(ctx, ci, cfg, pb, inv, vars, applied); err != nil {
			return err
		}
		cfg.Follow = applied.plan.Steps
	}
	if po.PlanOut != "" {
		cfg.Record = &engine.PlanRecord{}
	}
	rec, err := engine.Run(ctx, cfg, pb)
	out.Close()
	err = runOutcome(rec, err)
	if po.PlanOut != "" {
		if err != nil {
			fmt.Fprintf(ci.stderr, "etcdplay: no plan written to %s: the check run did not end well, and a real run would not either\n", po.PlanOut)
			return err
		}
		p := buildPlan(ci, pb, inv, vars, cfg.Record)
		if err := writePlan(po.PlanOut, p); err != nil {
			return err
		}
		planNote(ci, opts.outputOptions, po.PlanOut, p)
	}
	return err
}

// engineConfig is the part of a run's configuration that run and exec
// share: the inventory with its extra vars, how hosts are reached, the
// modes, where events go, and how the commands a run prints as remedies
// are made.
func engineConfig(ci invocation, opts runOptions, inv *inventory.Inventory, vars map[string]any, conn engine.Connector, out engine.Output) engine.Config {
	return engine.Config{
		Inventory:  inv,
		Connector:  conn,
		Check:      opts.Check,
		Diff:       opts.Diff,
		Forks:      opts.Forks,
		Become:     opts.Become,
		BecomeUser: opts.BecomeUser,
		Output:     out,
		Shipped:    playbooks.FS,
		Command:    commandFor(ci, "", nil),
		CommandFor: func(playbook string, vars map[string]string) string { return commandFor(ci, playbook, vars) },
		ExecCommandFor: func(pattern, module string, args map[string]string) string {
			return execCommandFor(ci, pattern, module, args)
		},
		BreakLock: opts.BreakLock,
		HostAttrs: etcd.HostAttrs(),
		Secrets:   secretVars(vars),
		// A rehearsal aid, see pauseBefore in the engine.
		PauseBefore: os.Getenv("ETCDPLAY_PAUSE_BEFORE"),
	}
}

// loadInventoryVars loads the inventory and gives every host the extra
// vars (-e), which it returns too: they win over every inventory
// variable, as in Ansible.
func loadInventoryVars(o inventoryOptions, extraVars []string) (*inventory.Inventory, map[string]any, error) {
	inv, err := o.load()
	if err != nil {
		return nil, nil, err
	}
	vars, err := engine.ParseVars(extraVars)
	if err != nil {
		return nil, nil, badInput("%v", err)
	}
	inv.SetExtraVars(vars)
	return inv, vars, nil
}

// printer is an engine output the command closes when the run ends.
type printer interface {
	engine.Output
	Close()
}

// newPrinter returns the printer -o asks for, writing to the command's
// writers. text says how the text printer shows results (ShowOutput,
// Blocks); colour, progress and verbosity come from here.
func newPrinter(ci invocation, o outputOptions, text engine.TextOptions) printer {
	if o.Output == "json" {
		return jsonPrinter{engine.NewJSON(ci.stdout), ci.stderr}
	}
	if f, ok := ci.stdout.(*os.File); ok {
		text.Color, text.Progress = useColor(f), isTerminal(f)
	}
	text.Verbose = o.verbosity()
	return engine.NewText(ci.stdout, ci.stderr, text)
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
		if s, ok := v.(string); ok && engine.SecretName(k) {
			out = append(out, s)
		}
	}
	return out
}
