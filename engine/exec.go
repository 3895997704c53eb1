package engine

import (
	"context"
	"fmt"

	"github.com/etcdplay/etcdplay/engine/transport"
)

// RunCommand runs a shell command line on the hosts matching pattern, as
// etcdplay exec -- CMD does: one ad-hoc call (see RunModule) of the exec
// module, so the fan-out, become, statuses, Ctrl-C and events are a
// playbook call's. cfg.Modules is not used.
func RunCommand(ctx context.Context, cfg Config, pattern, line string) (*Recap, error) {
	cfg.Modules = []Module{execModule}
	// Nothing reaches a host again once its command ended: its
	// connection goes then, and at most --forks are open at once.
	return runAdHoc(ctx, cfg, execModule.Name, pattern, []string{"cmd=" + line}, true)
}

type execArgs struct{ Cmd string }

// execModule runs one command line through the login user's shell on each
// host, as ssh(1) does. It is RunCommand's and no playbook's: playbooks
// have shell and command, with creates=, removes= and a check mode that
// says what would run.
//
// An ad-hoc command cannot say what it would change, so it is never
// reported changed: exit status 0 is ok, any other (or a signal) is
// failed. That is why it runs while planning, where a module only reads,
// rather than as an action; in check mode it does not run and the host is
// skipped. Its rc, stdout and stderr are the result's; what an
// interrupted command printed before its session was closed is kept too.
var execModule = &HostModule[execArgs]{
	Name: "exec",
	Args: func(a *execArgs) []any { return []any{"cmd", &a.Cmd} },
	Plan: func(ctx context.Context, c *HostCall, a *execArgs) (Plan, error) {
		if c.Check {
			return Plan{Skip: "not run in check mode: a command cannot say what it would change"}, nil
		}
		res, err := c.Command(ctx, transport.Command{Line: a.Cmd, Login: true})
		if err != nil {
			if ctx.Err() != nil {
				c.r.resMu.Lock()
				c.setStreams(res)
				c.r.resMu.Unlock()
			}
			return Plan{}, err
		}
		c.SetOutput(res)
		switch {
		case res.Signal != "":
			return Plan{}, fmt.Errorf("killed by signal %s", res.Signal)
		case res.ExitStatus != 0:
			return Plan{}, fmt.Errorf("exit status %d", res.ExitStatus)
		}
		return Plan{}, nil
	},
}
