package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// callCluster runs a cluster module once, through the first of its
// targets that answers (attemptCluster), and returns that one result,
// reported under the host that answered.
func (r *runner) callCluster(m Module, info ModuleInfo, pos string, o *callOptions, hosts []*Host, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fail := func(host string, err error) error {
		return &Error{Pos: pos, Module: info.Name, Host: host, Err: err}
	}
	args, kwargs, err := frozenArgs(args, kwargs)
	if err != nil {
		return nil, fail("", inputErr(err))
	}
	p, err := m.bind(args, kwargs)
	if err != nil {
		return nil, fail("", err)
	}
	var targets []*Host
	var left []string
	for _, h := range hosts {
		if a, ok := r.absent(h); ok {
			left = append(left, a.note())
			continue
		}
		targets = append(targets, h)
	}
	if len(targets) == 0 {
		msg := "no target to reach the cluster through"
		if len(left) > 0 {
			msg += ": " + strings.Join(left, "; ")
		}
		return nil, fail("", errors.New(msg))
	}
	var stepArgs map[string]string
	if r.inPlan() {
		stepArgs = map[string]string{"": r.argText(args, kwargs)}
	}
	step, err := r.beginStep(info.Name, pos, true, hosts, stepArgs)
	if err != nil {
		return nil, fail("", err)
	}
	t := r.newTask(info.Name, pos, o)
	t.step = step
	names := make([]string, len(targets))
	for i, h := range targets {
		names[i] = h.Name()
	}
	t.order = names[:1]
	for _, h := range targets {
		t.hosts = append(t.hosts, h.h)
	}
	r.emit(Event{Type: EventTaskStart, Task: t.id, Module: info.Name, Pos: pos, Hosts: names, Cluster: true, Check: r.cfg.Check})
	r.pauseBefore(t)
	start := time.Now()
	var hr *HostResult
	r.fanOut(t, targets[:1], func(*Host) *HostResult {
		return r.retry(t, targets[0], func() *HostResult { return r.attemptCluster(t, targets, p) })
	}, func(_ *Host, x *HostResult) { hr = x })
	if hr != nil && hr.Host != targets[0] {
		// The result is reported under the host that answered.
		t.setState(hr.Host.Name(), taskDone)
	}
	r.emit(Event{Type: EventTaskEnd, Task: t.id, Module: info.Name, Pos: pos, Duration: Millis(time.Since(start))})
	r.endStep(step, []*HostResult{hr}, o, nil)
	if e := t.aborted(); e != nil {
		return nil, e
	}
	if r.ctx.Err() != nil || hr == nil {
		r.noteInterrupted(t, nil)
		return nil, fail("", errInterrupted)
	}
	switch {
	case hr.Status == StatusFailed && !o.ignoreErrors:
		return nil, fail(hr.Host.Name(), errors.New(hr.Msg))
	case hr.Status == StatusUnreachable && !o.ignoreUnreachable:
		return nil, fail("", errors.New(hr.Msg))
	}
	return hr, nil
}

// attemptCluster tries the targets in order until one answers.
func (r *runner) attemptCluster(t *task, targets []*Host, p planner) *HostResult {
	ctx, cancel := r.attemptContext(t)
	defer cancel()
	inv := make([]*inventory.Host, len(targets))
	for i, h := range targets {
		inv[i] = h.h
	}
	var notes []string
	for _, h := range targets {
		hr := &HostResult{Host: h, Module: t.module}
		conn, err := r.connect(ctx, h.h)
		if err == nil {
			c := &ClusterCall{HostCall: r.hostCall(t, h, conn, hr), Targets: inv}
			var planning bool
			err, planning = r.apply(ctx, c.HostCall, func(ctx context.Context) (Plan, error) { return p.cluster(ctx, c) })
			if err == nil {
				return hr
			}
			if !planning || !(errors.Is(err, ErrTryNext) || transport.IsUnreachable(err)) || ctx.Err() != nil {
				r.classify(t, hr, err)
				return hr
			}
		}
		if transport.IsUnreachable(err) {
			r.forget(h.h)
		}
		msg := err.Error()
		var ue *transport.UnreachableError
		if errors.As(err, &ue) {
			msg = "unreachable: " + ue.Err.Error()
		}
		notes = append(notes, h.Name()+": "+msg)
		if r.ctx.Err() != nil {
			return &HostResult{Host: h, Module: t.module, Status: StatusInterrupted, Msg: "interrupted"}
		}
		if len(notes) < len(targets) {
			r.emit(Event{Type: EventWarning, Task: t.id, Module: t.module, Pos: t.pos, Host: h.Name(), Msg: msg + "; trying the next target"})
		}
	}
	return &HostResult{Host: targets[0], Module: t.module, Status: StatusUnreachable, Msg: "no target answered: " + strings.Join(notes, "; ")}
}
