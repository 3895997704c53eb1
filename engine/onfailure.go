package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// onFailureTimeout bounds how long a playbook's on_failure function may
// read the hosts and the cluster after a run stopped: the operator is
// waiting for the prompt, often after Ctrl-C.
const onFailureTimeout = 15 * time.Second

// onFailure implements on_failure(fn): fn(failure) runs when the run ends
// badly after it changed something, to say where that leaves the hosts and
// the cluster and which command continues or undoes the change. It runs
// in check mode (its module calls read, never change) with its own
// deadline; its print() lines are the recap's TO RECOVER section and its
// module calls are not shown. A later call replaces the function.
func (r *runner) onFailure(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn); err != nil {
		return nil, &Error{Pos: callerPos(th), Err: inputErr(err)}
	}
	r.onFail = fn
	return starlark.None, nil
}

// runOnFailure calls the playbook's on_failure function, if it set one,
// with what stopped the run (e, nil when hosts failed without stopping
// it).
func (r *runner) runOnFailure(e *Error) {
	if r.onFail == nil {
		return
	}
	f := failureValue(e)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), onFailureTimeout)
	defer cancel()
	saved, check := r.ctx, r.cfg.Check
	r.ctx, r.cfg.Check = ctx, true
	// Hosts that left the run may be read again: a host that failed a
	// step may well answer a question about where it stands.
	r.emitMu.Lock()
	r.quiet = true
	dropped := r.dropped
	r.dropped = map[string]dropInfo{}
	r.emitMu.Unlock()
	defer func() {
		r.emitMu.Lock()
		r.quiet = false
		r.dropped = dropped
		r.emitMu.Unlock()
		r.ctx, r.cfg.Check = saved, check
	}()
	th := r.newThread("on_failure")
	stop := r.cancelOnDone(th)
	defer stop()
	if _, err := starlark.Call(th, r.onFail, starlark.Tuple{f}, nil); err != nil {
		msg := err.Error()
		var ee *Error
		if errors.As(err, &ee) {
			msg = ee.Error()
		}
		r.addRecovery(fmt.Sprintf("(could not read where the run left things: %s)", msg))
	}
}

// failureValue is the argument of the on_failure function: where the run
// stopped and why. Without e (hosts failed, the run went on to its end)
// the fields are empty.
func failureValue(e *Error) starlark.Value {
	d := starlark.StringDict{
		"pos":         starlark.String(""),
		"module":      starlark.String(""),
		"host":        starlark.String(""),
		"msg":         starlark.String(""),
		"interrupted": starlark.False,
		"refused":     starlark.False,
	}
	if e != nil {
		var ref *RefusedError
		d["pos"] = starlark.String(e.Pos)
		d["module"] = starlark.String(e.Module)
		d["host"] = starlark.String(e.Host)
		d["msg"] = starlark.String(e.Error())
		d["interrupted"] = starlark.Bool(Interrupted(e))
		d["refused"] = starlark.Bool(errors.As(e, &ref))
	}
	return starlarkstruct.FromStringDict(starlark.String("failure"), d)
}
