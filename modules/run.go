package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// runSpec is a command for command and shell: what runs, how it shows,
// and when it need not run.
type runSpec struct {
	line    string // shell command line
	show    string // as shown to the operator
	creates string
	removes string
	chdir   string
	stdin   string
	// readOnly says the command only reads: it runs while planning (so in
	// check mode too) and never reports a change.
	readOnly bool
}

// planRun decides whether the command runs: creates= existing or removes=
// missing mean nothing to do. Running a command is the one action; it
// records rc, stdout and stderr and fails on a non-zero exit status.
func planRun(ctx context.Context, c *engine.HostCall, s runSpec) (engine.Plan, error) {
	var checks []string
	if s.creates != "" {
		checks = append(checks, s.creates)
	}
	if s.removes != "" {
		checks = append(checks, s.removes)
	}
	if len(checks) > 0 {
		ex, err := readFact(ctx, c, existsFact(s.chdir, checks...))
		if err != nil {
			return engine.Plan{}, err
		}
		if s.creates != "" && ex[0] {
			return engine.NothingToDo("not run: %s exists", s.creates), nil
		}
		if s.removes != "" && !ex[len(ex)-1] {
			return engine.NothingToDo("not run: %s does not exist", s.removes), nil
		}
	}
	line := s.line
	if s.chdir != "" {
		line = "cd " + transport.QuoteWord(s.chdir) + " && " + line
	}
	run := func(ctx context.Context) error {
		cmd := transport.Command{Line: line, Login: true}
		if s.stdin != "" {
			cmd.Stdin = strings.NewReader(s.stdin)
		}
		res, err := c.Command(ctx, cmd)
		if err != nil {
			return err
		}
		c.SetOutput(res)
		if res.Signal != "" {
			return fmt.Errorf("killed by signal %s", res.Signal)
		}
		if res.ExitStatus != 0 {
			return fmt.Errorf("exit status %d", res.ExitStatus)
		}
		return nil
	}
	if s.readOnly {
		if err := run(ctx); err != nil {
			return engine.Plan{}, err
		}
		return engine.NothingToDo("ran %s (read-only)", s.show), nil
	}
	return engine.Do(engine.Action{Desc: "run " + s.show, Do: run}), nil
}

// shellOK runs a command line that must succeed.
func shellOK(ctx context.Context, c *engine.HostCall, line string) (transport.Result, error) {
	res, err := c.Shell(ctx, line)
	if err != nil {
		return res, err
	}
	if res.ExitStatus != 0 {
		return res, engine.CommandError("sh", res)
	}
	return res, nil
}
