package engine

import (
	"fmt"
	"runtime/debug"
	"time"

	"go.starlark.net/starlark"
)

// retry runs attempt until it succeeds (or until= holds), at most
// 1+retries times, delay apart.
func (r *runner) retry(t *task, h *Host, attempt func() *HostResult) (hr *HostResult) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			hr = &HostResult{Host: h, Module: t.module, Status: StatusFailed, Msg: fmt.Sprintf("internal error: %v", p)}
			t.setAbort(&Error{Pos: t.pos, Module: t.module, Host: h.Name(), Err: fmt.Errorf("internal error: %v\n%s", p, debug.Stack())})
		}
		hr.Duration = time.Since(start)
	}()
	o := t.opts
	total := 1 + o.retries
	for i := 1; ; i++ {
		hr = attempt()
		hr.Attempts = i
		if r.ctx.Err() != nil || t.aborted() != nil || (o.retries == 0 && o.until == nil) {
			return hr
		}
		ok, err := r.satisfied(t, hr)
		if err != nil {
			t.setAbort(&Error{Pos: t.pos, Module: t.module, Host: h.Name(), Err: err})
			return hr
		}
		if ok {
			return hr
		}
		if i >= total {
			if o.until != nil && hr.Status != StatusUnreachable {
				hr.Status = StatusFailed
				hr.Msg = fmt.Sprintf("until not satisfied after %d attempts (last: %s)", i, orDash(firstLine(hr.Msg)))
			}
			return hr
		}
		why := firstLine(hr.Msg)
		if o.until != nil && hr.ok() {
			why = "until not satisfied"
		}
		r.emit(Event{Type: EventProgress, Task: t.id, Module: t.module, Pos: t.pos, Host: h.Name(), Attempts: i,
			Msg: fmt.Sprintf("attempt %d of %d: %s; retrying in %s", i, total, orDash(why), o.delay)})
		select {
		case <-time.After(o.delay):
		case <-r.ctx.Done():
			return hr
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// satisfied says whether a result ends the retries: until= holds, or
// without until=, the attempt succeeded. A result of check mode whose
// actions did not run ends them too: waiting on it would wait forever.
func (r *runner) satisfied(t *task, hr *HostResult) (bool, error) {
	if hr.Pending {
		return true, nil
	}
	if t.opts.until == nil || hr.Status == StatusUnreachable {
		return hr.ok(), nil
	}
	r.starMu.Lock()
	defer r.starMu.Unlock()
	th := r.newThread("until")
	v, err := starlark.Call(th, t.opts.until, starlark.Tuple{hr}, nil)
	if err != nil {
		return false, fmt.Errorf("until: %w", err)
	}
	return bool(v.Truth()), nil
}
