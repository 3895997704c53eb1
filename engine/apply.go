package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/etcdplay/etcdplay/engine/transport"
)

// attemptHost runs a host module once on h.
func (r *runner) attemptHost(t *task, h *Host, p planner) *HostResult {
	hr := &HostResult{Host: h, Module: t.module}
	conn, err := r.connect(r.ctx, h.h)
	if err != nil {
		r.classify(t, hr, err)
		return hr
	}
	c := r.hostCall(t, h, conn, hr)
	ctx, cancel := r.attemptContext(t)
	defer cancel()
	if err, _ := r.apply(ctx, c, func(ctx context.Context) (Plan, error) { return p.host(ctx, c) }); err != nil {
		r.classify(t, hr, err)
	}
	return hr
}

// hostCall is the HostCall a module's Plan and actions get for h.
func (r *runner) hostCall(t *task, h *Host, conn transport.Conn, hr *HostResult) *HostCall {
	become, user := r.become(t.opts, h.h)
	return &HostCall{
		// A plan shows every file's diff, --diff or not.
		Host: h.h, Conn: conn, Check: r.cfg.Check, Diff: r.cfg.Diff || r.cfg.Record != nil,
		Become: become, BecomeUser: user, Vars: r.cfg.Vars,
		r: r, task: t, res: hr, applying: new(atomic.Bool),
	}
}

// attemptContext bounds one attempt by the call's timeout=, if any.
func (r *runner) attemptContext(t *task) (context.Context, context.CancelFunc) {
	if t.opts.timeout > 0 {
		return context.WithTimeout(r.ctx, t.opts.timeout)
	}
	return context.WithCancel(r.ctx)
}

// apply plans and, outside check mode, runs the plan's actions. planning
// reports whether an error came from Plan (nothing was changed).
func (r *runner) apply(ctx context.Context, c *HostCall, plan func(context.Context) (Plan, error)) (err error, planning bool) {
	hr := c.res
	if transport.Tracing() {
		ctx = transport.WithTrace(ctx, fmt.Sprintf("task %d %s %s", c.task.id, c.task.module, c.task.pos))
	}
	p, err := plan(ctx)
	if err != nil {
		return err, true
	}
	if c.task.step != nil {
		hr.planned = r.plannedActions(c.Host.Name, p)
		if err := c.task.step.guard(c.Host.Name, hr.planned); err != nil {
			return err, true
		}
	}
	if len(p.Actions) == 0 {
		hr.Status, hr.Msg = StatusOK, p.Reason
		if p.Skip != "" {
			hr.Status, hr.Msg = StatusSkipped, p.Skip
		}
		return nil, true
	}
	descs := make([]string, len(p.Actions))
	var diffs strings.Builder
	for i, a := range p.Actions {
		descs[i] = a.Desc
		if a.Diff != nil && r.cfg.Diff {
			diffs.WriteString(a.Diff.unified(c.Host.Name))
		}
	}
	r.resMu.Lock()
	hr.Diff = diffs.String()
	r.resMu.Unlock()
	if r.cfg.Check {
		r.noteWrites(c.Host.Name, p)
		hr.Status, hr.Pending = StatusChanged, true
		hr.Msg = "would " + strings.Join(descs, "; would ")
		return nil, false
	}
	c.applying.Store(true)
	defer c.applying.Store(false)
	for i, a := range p.Actions {
		if err := a.Do(ctx); err != nil {
			if i > 0 {
				return fmt.Errorf("%s: %w (done before it: %s)", a.Desc, err, strings.Join(descs[:i], "; ")), false
			}
			return fmt.Errorf("%s: %w", a.Desc, err), false
		}
	}
	hr.Status, hr.Msg = StatusChanged, strings.Join(descs, "; ")
	return nil, false
}

// classify records an error as the result's status and message; refusals
// and bad input also stop the run.
func (r *runner) classify(t *task, hr *HostResult, err error) {
	var (
		ref *RefusedError
		in  *InputError
		ue  *transport.UnreachableError
	)
	switch {
	case r.ctx.Err() != nil:
		hr.Status, hr.Msg = StatusInterrupted, "interrupted"
	case errors.As(err, &ue):
		hr.Status, hr.Msg = StatusUnreachable, ue.Err.Error()
		r.forget(hr.Host.h)
	case t.opts.timeout > 0 && errors.Is(err, context.DeadlineExceeded):
		hr.Status, hr.Msg = StatusFailed, fmt.Sprintf("timed out after %s", t.opts.timeout)
	case errors.As(err, &ref), errors.As(err, &in):
		hr.Status, hr.Msg = StatusFailed, err.Error()
		t.setAbort(&Error{Pos: t.pos, Module: t.module, Host: hr.Host.Name(), Err: err})
	default:
		hr.Status, hr.Msg = StatusFailed, err.Error()
	}
}
