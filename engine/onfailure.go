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

// undoTimeout bounds how long a playbook's undo function may work after
// a run stopped: it may add a member back and wait for it to catch up.
const undoTimeout = 5 * time.Minute

// onFailure implements on_failure(fn, undo = None): fn(failure) runs when
// the run ends badly after it changed something, to say where that leaves
// the hosts and the cluster and which command continues or undoes the
// change. It runs in check mode (its module calls read, never change)
// with its own deadline; its print() lines are the recap's TO RECOVER
// section and its module calls are not shown. undo(failure), when given,
// runs before it and for real, to take the change back (a playbook gives
// it when asked to, -e on_failure=rollback): its module calls change
// hosts and the cluster and are shown, its print() lines go to the recap
// too. It does not run after Ctrl-C, which asks to stop now. A later
// call replaces both functions.
func (r *runner) onFailure(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	var undo starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn, "undo?", &undo); err != nil {
		return nil, &Error{Pos: callerPos(th), Err: inputErr(err)}
	}
	r.onFail, r.onUndo = fn, nil
	if undo != starlark.None {
		u, ok := undo.(starlark.Callable)
		if !ok {
			return nil, &Error{Pos: callerPos(th), Module: b.Name(), Err: BadInput("undo: got %s, want a function of the failure, or None", undo.Type())}
		}
		r.onUndo = u
	}
	return starlark.None, nil
}

// runUndo calls the playbook's undo function, if it set one, for real,
// with what stopped the run, and reports whether it did. The hosts that
// left the run are back in it for the undo: the new member that failed
// is the one it takes away; those its calls drop count in the recap.
func (r *runner) runUndo(e *Error) bool {
	if r.onUndo == nil || (e != nil && Interrupted(e)) || r.ctx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, undoTimeout)
	defer cancel()
	if msg := r.afterRun("undo", r.onUndo, e, ctx, false, &r.undoing, true); msg != "" {
		r.addRecovery(fmt.Sprintf("the undo stopped: %s", msg))
	}
	return true
}

// runOnFailure calls the playbook's on_failure function, if it set one,
// with what stopped the run (e, nil when hosts failed without stopping
// it), in check mode. Hosts that left the run may be read again: a host
// that failed a step may well answer a question about where it stands.
func (r *runner) runOnFailure(e *Error) {
	if r.onFail == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), onFailureTimeout)
	defer cancel()
	if msg := r.afterRun("on_failure", r.onFail, e, ctx, true, &r.quiet, false); msg != "" {
		r.addRecovery(fmt.Sprintf("(could not read where the run left things: %s)", msg))
	}
}

// afterRun calls fn(failure) once the run has stopped: on a thread of
// its own, within ctx, in check mode or not, with flag (quiet, undoing)
// set while it runs and the hosts that left the run back in it; keep
// keeps the hosts its calls drop out of the run afterwards. It returns
// fn's error as the recap says it, "" for none.
func (r *runner) afterRun(name string, fn starlark.Callable, e *Error, ctx context.Context, check bool, flag *bool, keep bool) string {
	saved, savedCheck := r.ctx, r.cfg.Check
	r.ctx, r.cfg.Check = ctx, check
	r.emitMu.Lock()
	*flag = true
	dropped := r.dropped
	r.dropped = map[string]dropInfo{}
	r.emitMu.Unlock()
	defer func() {
		r.emitMu.Lock()
		*flag = false
		for h, d := range r.dropped {
			if _, before := dropped[h]; keep && !before {
				dropped[h] = d
			}
		}
		r.dropped = dropped
		r.emitMu.Unlock()
		r.ctx, r.cfg.Check = saved, savedCheck
	}()
	th := r.newThread(name)
	stop := r.cancelOnDone(th)
	defer stop()
	if _, err := starlark.Call(th, fn, starlark.Tuple{failureValue(e)}, nil); err != nil {
		var ee *Error
		if errors.As(err, &ee) {
			return ee.Error()
		}
		return err.Error()
	}
	return ""
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
