package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// Plans (etcdplay doc plan): a check run writes one with --plan-out; run
// --apply FILE runs the command the plan holds, for real, after a check
// run made again reads the cluster and the hosts as the plan says, and
// following the plan's steps (engine.Config.Follow).
//
// A plan holds nothing that depends on when it was made, so that the
// same cluster and inputs give the same bytes; its age, which --apply
// bounds, is its file's modification time. That time is what a reviewer
// can see (ls -l) and what writing the plan again renews, which is
// right: a plan made again and identical holds now. A copy that does not
// keep the time (cp without -p, a checkout) makes a plan young; its
// safety does not rest on the age, since --apply reads everything the
// plan rests on again before it changes anything.

// planOptions are run's flags for plans.
type planOptions struct {
	PlanOut    string
	Apply      string
	PlanMaxAge time.Duration
}

func (o *planOptions) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "plan-out", Destination: &o.PlanOut, Usage: "with --check: write the plan, every step with its arguments and effects and what it rests on, to `FILE` for review and --apply"},
		&cli.StringFlag{Name: "apply", Destination: &o.Apply, Usage: "run the plan in `FILE` (written by --check --plan-out) exactly; refused when the cluster or the hosts no longer read as it says"},
		&cli.DurationFlag{Name: "plan-max-age", Value: time.Hour, Destination: &o.PlanMaxAge, Usage: "with --apply: refuse a plan whose file was written more than `DURATION` ago"},
	}
}

// planRunFlags are the flags of a run that make it one that writes or
// applies a plan, or say only how its output looks: a plan's command
// leaves them out, and they are what --apply takes besides the plan.
var planRunFlags = []string{"check", "C", "diff", "D", "output", "o", "verbose", "v", "break-lock", "plan-out", "apply", "plan-max-age"}

// pathFlags are the flags whose value is a file on the control machine:
// a plan's command names them absolutely, so that --apply finds them
// from anywhere.
var pathFlags = []string{"inventory", "i", "private-key", "known-hosts", "ssh-config", "vault-password-file", "vault-pass-file"}

// appliedPlan is the plan a run applies (run --apply), as runApply hands
// it to the run it starts.
type appliedPlan struct {
	file string
	plan *engine.PlanFile
}

type appliedPlanKey struct{}

// planCommand is the run's command line as a plan records it: after
// "etcdplay run", the playbook, then the flags as typed but for
// planRunFlags and secrets typed on the command line, with the files
// they name (the playbook, inventories, keys, @vars) made absolute.
func planCommand(ci invocation) []string {
	fl, pos := splitArgs(ci.command, ci.argv[2:])
	var words []string
	for i, p := range pos {
		if i == 0 && localPlaybook(p) {
			p = absPath(p)
		}
		words = append(words, p)
	}
	for _, f := range fl {
		switch {
		case slices.Contains(planRunFlags, f.name):
		case secretExtraVar(f.name, f.value):
		case slices.Contains(pathFlags, f.name) && f.value != "":
			words = append(words, flagWord(f.name), absPath(f.value))
		case (f.name == "e" || f.name == "extra-vars") && strings.HasPrefix(f.value, "@"):
			words = append(words, flagWord(f.name), "@"+absPath(f.value[1:]))
		default:
			words = append(words, f.words...)
		}
	}
	return words
}

// flagWord is the flag called name as typed: -i, --inventory.
func flagWord(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// localPlaybook says whether a run's PLAYBOOK is a file here, not the
// name of a shipped playbook (as engine.OpenPlaybook finds it).
func localPlaybook(p string) bool {
	if !strings.HasSuffix(p, ".star") && !strings.ContainsRune(p, '/') {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

var (
	exeOnce sync.Once
	exeSum  string
)

// binary is this etcdplay as a plan records it.
func binary() engine.PlanBinary {
	exeOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := os.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			exeSum = hex.EncodeToString(h.Sum(nil))
		}
	})
	return engine.PlanBinary{Version: version, SHA256: exeSum}
}

// buildPlan is the plan of a check run that recorded rec.
func buildPlan(ci invocation, pb *engine.Playbook, inv *inventory.Inventory, vars map[string]any, rec *engine.PlanRecord) *engine.PlanFile {
	return &engine.PlanFile{
		Format:    engine.PlanFormat,
		Etcdplay:  binary(),
		Playbook:  pb.Name(),
		Files:     rec.Files,
		Command:   planCommand(ci),
		ExtraVars: engine.PlanVars(vars, nil),
		Hosts:     engine.PlanHosts(inv, vars),
		State:     rec.State,
		Steps:     rec.Steps,
	}
}

// remakeCommand is the command that makes the plan of p again, into
// file.
func remakeCommand(p *engine.PlanFile, file string) string {
	words := append([]string{"etcdplay", "run"}, p.Command...)
	return transport.Quote(append(words, "--check", "--plan-out", file)...)
}

// writePlan writes the plan file, atomically: a reviewer never reads half
// a plan.
func writePlan(file string, p *engine.PlanFile) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, p.Marshal(), 0o644); err != nil {
		return fmt.Errorf("--plan-out: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--plan-out: %w", err)
	}
	return nil
}

// planNote says where the plan went and how to run it, after the run's
// output (on stderr when stdout is JSON events).
func planNote(ci invocation, o outputOptions, file string, p *engine.PlanFile) {
	w := ci.stdout
	if o.Output == "json" {
		w = ci.stderr
	}
	fmt.Fprintf(w, "\nplan written to %s: %d steps, %d of which change something. Review it, then run it with:\n    %s\n",
		file, len(p.Steps), p.Changing(), transport.Quote("etcdplay", "run", "--apply", file))
}

// runApply runs the plan in po.Apply: it checks what the file alone
// tells (a plan, not edited, not too old, made by this etcdplay), then
// runs the plan's command with the plan to follow.
func runApply(ctx context.Context, ci invocation, opts runOptions, po planOptions, args []string) error {
	if len(args) > 0 {
		return badInput("--apply %s: the plan names its playbook; give no PLAYBOOK (got %s)", po.Apply, strings.Join(args, " "))
	}
	if opts.Check {
		return badInput("--apply runs a plan for real; to see what it does, read it (etcdplay plan show %s)", po.Apply)
	}
	if po.PlanMaxAge <= 0 {
		return badInput("--plan-max-age %s: expected a duration above zero, such as 1h or 24h", po.PlanMaxAge)
	}
	// What the apply adds to the plan's command: how output looks, the
	// lock, secrets the plan does not record. Anything else is the plan's.
	fl, _ := splitArgs(ci.command, ci.argv[2:])
	var more []string
	for _, f := range fl {
		switch {
		case f.name == "apply" || f.name == "plan-max-age":
		case slices.Contains(planRunFlags, f.name) && f.name != "check" && f.name != "C" && f.name != "plan-out":
			more = append(more, f.words...)
		case secretExtraVar(f.name, f.value):
			more = append(more, f.words...)
		default:
			return badInput("--apply %s: %s is the plan's to say (its command is %s); with --apply give only -o, -v, --diff, --break-lock, --plan-max-age and -e for a secret the plan does not record",
				po.Apply, strings.Join(f.words, " "), strings.Join(planCommandOf(po.Apply), " "))
		}
	}
	data, err := os.ReadFile(po.Apply)
	if err != nil {
		return badInput("--apply: %v", err)
	}
	p, err := engine.ParsePlanFile(po.Apply, data)
	if err != nil {
		return err
	}
	st, err := os.Stat(po.Apply)
	if err != nil {
		return badInput("--apply: %v", err)
	}
	remake := remakeCommand(p, po.Apply)
	switch age := time.Since(st.ModTime()); {
	case age < -time.Minute:
		return engine.Refuse("%s was written %s from now, by its modification time: this machine's clock or the file's time is wrong, and the plan's age cannot be told. Make the plan again: %s",
			po.Apply, (-age).Round(time.Second), remake)
	case age > po.PlanMaxAge:
		older := transport.Quote("etcdplay", "run", "--apply", po.Apply, "--plan-max-age", (age + time.Minute).Round(time.Minute).String())
		return engine.Refuse("%s was written %s ago (its modification time), more than --plan-max-age %s: what was reviewed may be out of date. Make the plan again and review it: %s\nor, to apply this one all the same (it is still read again first): %s",
			po.Apply, age.Round(time.Second), po.PlanMaxAge, remake, older)
	}
	if b := binary(); b != p.Etcdplay {
		return engine.Refuse("%s was made by etcdplay %s (sha256 %.12s), and this is etcdplay %s (sha256 %.12s): a plan runs with the etcdplay that made it. Nothing was changed. Make the plan again with this one: %s",
			po.Apply, p.Etcdplay.Version, p.Etcdplay.SHA256, b.Version, b.SHA256, remake)
	}
	app := newApp()
	argv := reorderArgs(app, append(append([]string{ci.argv[0], "run"}, p.Command...), more...))
	app.Writer, app.ErrWriter = ci.stdout, ci.stderr
	app.Metadata = map[string]any{argvKey: argv}
	return app.RunContext(context.WithValue(ctx, appliedPlanKey{}, &appliedPlan{file: po.Apply, plan: p}), argv)
}

// planCommandOf is the command of the plan in file, for a message; nil
// when the file is no plan.
func planCommandOf(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	p, err := engine.ParsePlanFile(file, data)
	if err != nil {
		return nil
	}
	return append([]string{"etcdplay", "run"}, p.Command...)
}

// saidIn reports whether the differences say err already: the step it
// stopped at fails, with err's message.
func saidIn(diffs []string, err error) bool {
	var e *engine.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, d := range diffs {
		if strings.Contains(d, e.Err.Error()) {
			return true
		}
	}
	return false
}

// recheckPlan makes the plan again, in a check run that shows nothing,
// and refuses, naming each difference, when it is not the plan applied:
// the cluster, a host, the inventory, a file or the playbook changed.
func recheckPlan(ctx context.Context, ci invocation, cfg engine.Config, pb *engine.Playbook, inv *inventory.Inventory, vars map[string]any, ap *appliedPlan) error {
	remake := remakeCommand(ap.plan, ap.file)
	cfg.Check, cfg.Output, cfg.Follow = true, nil, nil
	cfg.Record = &engine.PlanRecord{}
	rec, err := engine.Run(ctx, cfg, pb)
	if engine.Interrupted(err) {
		return err
	}
	if err == nil && rec != nil && (rec.Failed > 0 || rec.Unreachable > 0) {
		err = fmt.Errorf("%d host(s) failed, %d unreachable", rec.Failed, rec.Unreachable)
	}
	// What was read up to where a failed check run stopped says what
	// changed, as a whole one does.
	diffs := ap.plan.Differences(buildPlan(ci, pb, inv, vars, cfg.Record))
	if err != nil && !saidIn(diffs, err) {
		diffs = append(diffs, "made again, its check run stops: "+err.Error())
	}
	if len(diffs) > 0 {
		return engine.Refuse("the plan %s no longer holds: what it rests on reads otherwise now:\n  %s\nNothing was changed. Make the plan again and review it: %s",
			ap.file, strings.Join(diffs, "\n  "), remake)
	}
	return nil
}
