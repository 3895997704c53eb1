package engine

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// callHosts runs a host module on every target that is not absent: each
// host's arguments are bound first, on the playbook's thread; then the
// batches (serial=) fan out, failed and unreachable hosts leave the run,
// and the call returns one result per target.
func (r *runner) callHosts(th *starlark.Thread, m Module, info ModuleInfo, pos string, o *callOptions, hosts []*Host, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fail := func(host string, err error) error {
		return &Error{Pos: pos, Module: info.Name, Host: host, Err: err}
	}
	results := make([]*HostResult, len(hosts))
	var run []*Host
	var absent []absence
	index := map[string]int{}
	for i, h := range hosts {
		index[h.Name()] = i
		if a, ok := r.absent(h); ok {
			absent = append(absent, a)
			results[i] = &HostResult{Host: h, Module: info.Name, Status: StatusSkipped, Msg: a.skipMsg()}
			continue
		}
		if o.runOnce && len(run) == 1 {
			continue
		}
		run = append(run, h)
	}
	// Per-host arguments are resolved here, on the playbook's thread and
	// before any host is contacted: the work itself then runs in parallel.
	planners := make(map[string]planner, len(run))
	var stepArgs map[string]string
	if r.inPlan() {
		stepArgs = map[string]string{}
	}
	for _, h := range run {
		a, kw, per, err := r.argsFor(th, h, args, kwargs)
		if err != nil {
			return nil, fail(h.Name(), inputErr(err))
		}
		if stepArgs != nil {
			stepArgs[h.Name()] = r.argText(a, kw)
		}
		p, err := m.bind(a, kw)
		if err != nil {
			if !per {
				return nil, fail("", err)
			}
			return nil, fail(h.Name(), err)
		}
		planners[h.Name()] = p
	}

	step, err := r.beginStep(info.Name, pos, false, hosts, stepArgs)
	if err != nil {
		return nil, fail("", err)
	}
	t := r.newTask(info.Name, pos, o)
	t.step = step
	names := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if results[index[h.Name()]] != nil || planners[h.Name()].host != nil {
			names = append(names, h.Name())
		}
	}
	for _, h := range run {
		t.order = append(t.order, h.Name())
		t.hosts = append(t.hosts, h.h)
	}
	r.emit(Event{Type: EventTaskStart, Task: t.id, Module: info.Name, Pos: pos, Hosts: names, Serial: o.serial, Check: r.cfg.Check})
	r.pauseBefore(t)
	taskStart := time.Now()
	if len(hosts) == 0 {
		r.emit(Event{Type: EventWarning, Task: t.id, Module: info.Name, Pos: pos, Msg: "no hosts to run on"})
	}
	for _, hr := range results {
		if hr != nil {
			r.emitResult(t, hr)
		}
	}

	batches := batch(run, o.serial)
	stopped := ""
	for bi, b := range batches {
		if r.ctx.Err() != nil || t.aborted() != nil {
			break
		}
		t.batchNo = bi + 1
		r.fanOut(t, b, func(h *Host) *HostResult {
			hr := r.retry(t, h, func() *HostResult { return r.attemptHost(t, h, planners[h.Name()]) })
			if r.releaseConns {
				r.release(h.h)
			}
			return hr
		}, func(h *Host, hr *HostResult) { results[index[h.Name()]] = hr })
		if o.serial > 0 && bi < len(batches)-1 {
			var bad []string
			for _, h := range b {
				if hr := results[index[h.Name()]]; hr != nil && !hr.ok() && !r.ignored(o, hr) {
					bad = append(bad, h.Name())
				}
			}
			if len(bad) > 0 {
				stopped = fmt.Sprintf("not started: %s failed in batch %d of %d", strings.Join(bad, ", "), bi+1, len(batches))
				break
			}
		}
	}

	// Hosts the call never started on: a rolling batch failed, or Ctrl-C.
	var notStarted []string
	for _, h := range run {
		if results[index[h.Name()]] != nil {
			continue
		}
		notStarted = append(notStarted, h.Name())
		if stopped != "" {
			hr := &HostResult{Host: h, Module: info.Name, Status: StatusSkipped, Msg: stopped}
			results[index[h.Name()]] = hr
			r.emitResult(t, hr)
		}
	}
	// Failed and unreachable hosts leave the run unless the call ignores it.
	for _, hr := range results {
		if hr == nil || hr.ok() || hr.Status == StatusInterrupted || r.ignored(o, hr) {
			continue
		}
		r.drop(hr.Host.Name(), dropInfo{
			why:         fmt.Sprintf("%s %s at %s", info.Name, hr.Status, orAdHoc(pos)),
			msg:         firstLine(hr.Msg),
			unreachable: hr.Status == StatusUnreachable,
		})
	}
	r.emit(Event{Type: EventTaskEnd, Task: t.id, Module: info.Name, Pos: pos, Duration: Millis(time.Since(taskStart))})
	r.endStep(step, results, o, stepArgs)

	if e := t.aborted(); e != nil {
		return nil, e
	}
	if r.ctx.Err() != nil {
		r.noteInterrupted(t, notStarted)
		return nil, fail("", errInterrupted)
	}
	if stopped != "" {
		// A rolling change does not roll a failure on to the rest, and the
		// playbook does not go on as if it had.
		return nil, fail("", fmt.Errorf("serial: %s; not started: %s", strings.TrimPrefix(stopped, "not started: "), strings.Join(notStarted, ", ")))
	}
	if !r.adhoc && len(hosts) > 0 {
		if err := noHostLeft(o, run, absent, results, index, r); err != nil {
			host := ""
			if len(hosts) == 1 {
				host = hosts[0].Name()
			}
			return nil, fail(host, err)
		}
	}
	var done []*HostResult
	for _, hr := range results {
		if hr != nil {
			done = append(done, hr)
		}
	}
	return newResults(info.Name, pos, done), nil
}

// noHostLeft is the error that stops a playbook when no target of a call
// came through it (see NoHostsLeftError), or nil. Targets outside --limit
// do not count: the limit is the operator's choice.
func noHostLeft(o *callOptions, run []*Host, absent []absence, results []*HostResult, index map[string]int, r *runner) error {
	var parts []string
	unreachable := true
	if len(run) == 0 {
		for _, a := range absent {
			if a.left == nil {
				return nil
			}
			parts = append(parts, a.host.Name()+" "+a.skipMsg())
			unreachable = unreachable && a.left.unreachable
		}
		if len(parts) == 0 {
			return nil
		}
		return &NoHostsLeftError{Unreachable: unreachable, Detail: strings.Join(parts, "; ")}
	}
	for _, h := range run {
		hr := results[index[h.Name()]]
		if hr == nil || hr.ok() || r.ignored(o, hr) {
			return nil
		}
		if hr.Status != StatusUnreachable {
			unreachable = false
		}
		what := firstLine(hr.Msg)
		if hr.Status == StatusUnreachable {
			what = "unreachable: " + what
		}
		if len(run) > 1 {
			what = h.Name() + ": " + what
		}
		parts = append(parts, what)
	}
	return &NoHostsLeftError{Unreachable: unreachable, Detail: strings.Join(parts, "; ")}
}

// ignored reports whether the call keeps hr's host in the run despite it
// (ignore_errors=, ignore_unreachable=).
func (r *runner) ignored(o *callOptions, hr *HostResult) bool {
	switch hr.Status {
	case StatusFailed:
		return o.ignoreErrors
	case StatusUnreachable:
		return o.ignoreUnreachable
	}
	return false
}

// noteInterrupted records for the recap which hosts of t were done, in
// flight and not started when the run was interrupted.
func (r *runner) noteInterrupted(t *task, notStarted []string) {
	in := &Interruption{Task: t.id, Module: t.module, Pos: t.pos, Done: []string{}, InFlight: []string{}, NotStarted: []string{}}
	t.mu.Lock()
	for _, h := range t.order {
		switch t.state[h] {
		case taskDone:
			in.Done = append(in.Done, h)
		case taskRunning:
			in.InFlight = append(in.InFlight, h)
		default:
			in.NotStarted = append(in.NotStarted, h)
		}
	}
	t.mu.Unlock()
	r.emitMu.Lock()
	r.interrupted = in
	r.emitMu.Unlock()
}

// batch splits hosts into batches of n, in order (one batch when n is 0).
func batch(hosts []*Host, n int) [][]*Host {
	if n <= 0 || n >= len(hosts) {
		return [][]*Host{hosts}
	}
	var out [][]*Host
	for len(hosts) > 0 {
		k := min(n, len(hosts))
		out = append(out, hosts[:k])
		hosts = hosts[k:]
	}
	return out
}

// fanOut runs work on hosts, at most Forks at once, and reports each
// result as it comes.
func (r *runner) fanOut(t *task, hosts []*Host, work func(*Host) *HostResult, done func(*Host, *HostResult)) {
	sem := make(chan struct{}, r.cfg.Forks)
	var wg sync.WaitGroup
	var mu sync.Mutex
loop:
	for _, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-r.ctx.Done():
			break loop
		}
		if r.ctx.Err() != nil || t.aborted() != nil {
			<-sem
			break
		}
		t.setState(h.Name(), taskRunning)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hr := work(h)
			if hr.Status != StatusInterrupted {
				t.setState(h.Name(), taskDone)
			}
			mu.Lock()
			done(h, hr)
			mu.Unlock()
			r.emitResult(t, hr)
		}()
	}
	wg.Wait()
}

// emitResult reports one host's result as a host_result event.
func (r *runner) emitResult(t *task, hr *HostResult) {
	r.resMu.Lock()
	e := Event{
		Type: EventHostResult, Task: t.id, Module: t.module, Pos: t.pos,
		Host: hr.Host.Name(), Status: hr.Status, Msg: hr.Msg, RC: hr.RC,
		Stdout: hr.Stdout, Stderr: hr.Stderr, Diffs: hr.Diff,
		Attempts: hr.Attempts, Duration: Millis(hr.Duration),
		Ignored: r.ignored(t.opts, hr), Pending: hr.Pending,
	}
	if len(hr.Data) > 0 {
		e.Data = make(map[string]any, len(hr.Data))
		for k, v := range hr.Data {
			e.Data[k] = v
		}
	}
	r.resMu.Unlock()
	r.emit(e)
}

func orAdHoc(pos string) string {
	if pos == "" {
		return "(ad hoc)"
	}
	return pos
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
