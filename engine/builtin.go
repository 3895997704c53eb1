package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// commonTypes are the arguments every module call takes; the wrapper
// handles them. A module that declares a parameter of the same name takes
// it over (wait_healthy's timeout= is how long to wait, and the module
// handles it).
var commonTypes = map[string]reflect.Type{
	"hosts":              valueType,
	"ignore_errors":      reflect.TypeFor[bool](),
	"ignore_unreachable": reflect.TypeFor[bool](),
	"timeout":            reflect.TypeFor[Duration](),
	"retries":            reflect.TypeFor[int](),
	"delay":              reflect.TypeFor[Duration](),
	"until":              reflect.TypeFor[starlark.Callable](),
	"become":             reflect.TypeFor[bool](),
	"become_user":        stringType,
	"run_once":           reflect.TypeFor[bool](),
	"serial":             reflect.TypeFor[int](),
}

// CommonArgs are the names of the arguments every module call takes.
func CommonArgs() []string {
	var ns []string
	for n := range commonTypes {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// helperNames are the builtins a playbook has besides modules.
var helperNames = []string{"fail", "json", "on_failure", "refuse", "serial", "struct"}

// callOptions are a call's common arguments.
type callOptions struct {
	hosts             starlark.Value
	ignoreErrors      bool
	ignoreUnreachable bool
	timeout           time.Duration
	retries           int
	delay             time.Duration
	until             starlark.Callable
	become            *bool
	becomeUser        string
	runOnce           bool
	serial            int
}

const defaultUntilRetries = 3

// parseOptions takes the common arguments out of kwargs.
func parseOptions(info ModuleInfo, kwargs []starlark.Tuple) (*callOptions, []starlark.Tuple, error) {
	o := &callOptions{retries: -1, delay: time.Second}
	var rest []starlark.Tuple
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		v := kv[1]
		if _, ok := commonTypes[name]; !ok {
			rest = append(rest, kv)
			continue
		}
		if _, taken := info.Param(name); taken {
			rest = append(rest, kv)
			continue
		}
		var err error
		switch name {
		case "hosts":
			o.hosts = v
		case "ignore_errors":
			err = unpackOne(name, v, &o.ignoreErrors)
		case "ignore_unreachable":
			err = unpackOne(name, v, &o.ignoreUnreachable)
		case "timeout":
			o.timeout, err = parseDuration(v)
		case "delay":
			o.delay, err = parseDuration(v)
		case "retries":
			err = unpackOne(name, v, &o.retries)
			if err == nil && o.retries < 0 {
				err = fmt.Errorf("retries: got %d, want 0 or more", o.retries)
			}
		case "until":
			if v != starlark.None {
				f, ok := v.(starlark.Callable)
				if !ok {
					err = fmt.Errorf("until: got %s, want a function of the result, e.g. lambda r: r.rc == 0", v.Type())
				}
				o.until = f
			}
		case "become":
			var b bool
			err = unpackOne(name, v, &b)
			o.become = &b
		case "become_user":
			err = unpackOne(name, v, &o.becomeUser)
		case "run_once":
			err = unpackOne(name, v, &o.runOnce)
		case "serial":
			err = unpackOne(name, v, &o.serial)
			if err == nil && o.serial < 0 {
				err = fmt.Errorf("serial: got %d, want the number of hosts per batch", o.serial)
			}
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+":") {
				err = fmt.Errorf("%s: %v", name, err)
			}
			return nil, nil, err
		}
	}
	if o.retries < 0 {
		o.retries = 0
		if o.until != nil {
			o.retries = defaultUntilRetries
		}
	}
	return o, rest, nil
}

func unpackOne(name string, v starlark.Value, p any) error {
	if _, ok := p.(*bool); ok {
		b, err := ansibleBool(v)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		v = b
	}
	err := starlark.UnpackArgs(name, nil, []starlark.Tuple{{starlark.String(name), v}}, name, p)
	if err != nil {
		// "name: for parameter name: got ..." reads badly; keep the tail.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": got "); i >= 0 {
			msg = msg[i+2:]
		}
		return fmt.Errorf("%s: %s", name, msg)
	}
	return nil
}

// task is one module call in progress.
type task struct {
	id     int
	module string
	pos    string
	opts   *callOptions

	mu      sync.Mutex
	state   map[string]int    // host -> taskRunning, taskDone
	order   []string          // hosts the call means to run on
	hosts   []*inventory.Host // the same, for HostCall.Peers
	abort   *Error
	batchNo int
}

const (
	taskRunning = 1
	taskDone    = 2
)

func (t *task) setState(host string, s int) {
	t.mu.Lock()
	t.state[host] = s
	t.mu.Unlock()
}

func (t *task) setAbort(e *Error) {
	t.mu.Lock()
	if t.abort == nil {
		t.abort = e
	}
	t.mu.Unlock()
}

func (t *task) aborted() *Error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.abort
}

func (r *runner) newTask(module, pos string, o *callOptions) *task {
	r.tasks++
	return &task{id: r.tasks, module: module, pos: pos, opts: o, state: map[string]int{}}
}

// call is the one wrapper every module goes through.
func (r *runner) call(th *starlark.Thread, m Module, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	info := m.Info()
	pos := callerPos(th)
	fail := func(host string, err error) error {
		return &Error{Pos: pos, Module: info.Name, Host: host, Err: err}
	}
	if r.ctx.Err() != nil {
		return nil, fail("", errInterrupted)
	}
	o, kwargs, err := parseOptions(info, kwargs)
	if err != nil {
		return nil, fail("", inputErr(err))
	}
	target := o.hosts
	if target == nil {
		if len(args) == 0 {
			return nil, fail("", BadInput("no target: give a host, a list of hosts or a pattern as the first argument (or hosts=)"))
		}
		target, args = args[0], args[1:]
	}
	hosts, err := r.targets(target)
	if err != nil {
		return nil, fail("", inputErr(err))
	}
	if info.Kind == ClusterKind {
		return r.callCluster(m, info, pos, o, hosts, args, kwargs)
	}
	return r.callHosts(th, m, info, pos, o, hosts, args, kwargs)
}

// targets flattens a call's target value into hosts, in order, each once:
// a host, a pattern string, a list (or tuple, set, results) of those.
func (r *runner) targets(v starlark.Value) ([]*Host, error) {
	var out []*Host
	seen := map[string]bool{}
	add := func(h *Host) {
		if !seen[h.Name()] {
			seen[h.Name()] = true
			out = append(out, h)
		}
	}
	var walk func(v starlark.Value, depth int) error
	walk = func(v starlark.Value, depth int) error {
		switch v := v.(type) {
		case *Host:
			add(v)
		case starlark.String:
			hs, err := r.selectHosts(string(v))
			if err != nil {
				return fmt.Errorf("hosts %q: %v", string(v), err)
			}
			for _, h := range hs {
				add(h)
			}
		case *HostResult:
			add(v.Host)
		case *Results:
			for _, x := range v.results {
				add(x.Host)
			}
		case starlark.Iterable:
			if depth > 3 {
				return fmt.Errorf("targets nested too deep")
			}
			it := v.Iterate()
			defer it.Done()
			var x starlark.Value
			for it.Next(&x) {
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("target: got %s, want a host, a list of hosts or a pattern string", v.Type())
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// perHost resolves an argument value for one host: a dict whose keys are
// all hosts gives the host's entry, a function is called with the host.
// Other values are the same for every host.
func (r *runner) perHost(th *starlark.Thread, h *Host, v starlark.Value) (starlark.Value, bool, error) {
	switch v := v.(type) {
	case *starlark.Dict:
		if v.Len() == 0 {
			return v, false, nil
		}
		for _, k := range v.Keys() {
			if _, ok := k.(*Host); !ok {
				return v, false, nil
			}
		}
		x, found, _ := v.Get(h)
		if !found {
			var names []string
			for _, k := range v.Keys() {
				names = append(names, k.(*Host).Name())
			}
			return nil, true, fmt.Errorf("no value for %s in the dict keyed by host (it has %s)", h.Name(), strings.Join(names, ", "))
		}
		return x, true, nil
	case starlark.Callable:
		x, err := starlark.Call(th, v, starlark.Tuple{h}, nil)
		if err != nil {
			return nil, true, fmt.Errorf("%s(%s): %w", v.Name(), h.Name(), err)
		}
		return x, true, nil
	}
	return v, false, nil
}

func (r *runner) argsFor(th *starlark.Thread, h *Host, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, bool, error) {
	any := false
	a := make(starlark.Tuple, len(args))
	for i, v := range args {
		x, per, err := r.perHost(th, h, v)
		if err == nil {
			x, err = frozenCopy(x)
		}
		if err != nil {
			return nil, nil, true, err
		}
		any = any || per
		a[i] = x
	}
	kw := make([]starlark.Tuple, len(kwargs))
	for i, kv := range kwargs {
		x, per, err := r.perHost(th, h, kv[1])
		if err == nil {
			x, err = frozenCopy(x)
		}
		if err != nil {
			return nil, nil, true, fmt.Errorf("%s: %w", kv[0].(starlark.String).GoString(), err)
		}
		any = any || per
		kw[i] = starlark.Tuple{kv[0], x}
	}
	return a, kw, any, nil
}

// frozenArgs is frozenCopy of every argument.
func frozenArgs(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, error) {
	a := make(starlark.Tuple, len(args))
	for i, v := range args {
		c, err := frozenCopy(v)
		if err != nil {
			return nil, nil, err
		}
		a[i] = c
	}
	kw := make([]starlark.Tuple, len(kwargs))
	for i, kv := range kwargs {
		c, err := frozenCopy(kv[1])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", kv[0].(starlark.String).GoString(), err)
		}
		kw[i] = starlark.Tuple{kv[0], c}
	}
	return a, kw, nil
}

func (r *runner) callHosts(th *starlark.Thread, m Module, info ModuleInfo, pos string, o *callOptions, hosts []*Host, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fail := func(host string, err error) error {
		return &Error{Pos: pos, Module: info.Name, Host: host, Err: err}
	}
	results := make([]*HostResult, len(hosts))
	var run []*Host
	index := map[string]int{}
	for i, h := range hosts {
		index[h.Name()] = i
		if why, ok := r.droppedWhy(h.Name()); ok {
			results[i] = &HostResult{Host: h, Module: info.Name, Status: StatusSkipped, Msg: "left the run: " + why}
			continue
		}
		if r.limited(h.h) {
			results[i] = &HostResult{Host: h, Module: info.Name, Status: StatusSkipped, Msg: "outside --limit"}
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
	for _, h := range run {
		a, kw, per, err := r.argsFor(th, h, args, kwargs)
		if err != nil {
			return nil, fail(h.Name(), inputErr(err))
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

	t := r.newTask(info.Name, pos, o)
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
			return r.retry(t, h, func() *HostResult { return r.attemptHost(t, h, planners[h.Name()]) })
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
		if err := noHostLeft(o, run, results, index, r); err != nil {
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
func noHostLeft(o *callOptions, run []*Host, results []*HostResult, index map[string]int, r *runner) error {
	var parts []string
	unreachable := true
	if len(run) == 0 {
		for _, hr := range results {
			if hr == nil || hr.Status != StatusSkipped || !strings.HasPrefix(hr.Msg, "left the run: ") {
				return nil
			}
			parts = append(parts, hr.Host.Name()+" "+hr.Msg)
			unreachable = unreachable && r.droppedUnreachable(hr.Host.Name())
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

func (r *runner) ignored(o *callOptions, hr *HostResult) bool {
	switch hr.Status {
	case StatusFailed:
		return o.ignoreErrors
	case StatusUnreachable:
		return o.ignoreUnreachable
	}
	return false
}

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

func orAdHoc(pos string) string {
	if pos == "" {
		return "(ad hoc)"
	}
	return pos
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

func (r *runner) hostCall(t *task, h *Host, conn transport.Conn, hr *HostResult) *HostCall {
	become, user := r.become(t.opts, h.h)
	return &HostCall{
		Host: h.h, Conn: conn, Check: r.cfg.Check, Diff: r.cfg.Diff,
		Become: become, BecomeUser: user, Vars: r.cfg.Vars,
		r: r, task: t, res: hr, applying: new(atomic.Bool),
	}
}

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
	p, err := plan(ctx)
	if err != nil {
		return err, true
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
		if why, ok := r.droppedWhy(h.Name()); ok {
			left = append(left, h.Name()+" left the run earlier ("+why+")")
			continue
		}
		if r.limited(h.h) {
			left = append(left, h.Name()+" is outside --limit")
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
	t := r.newTask(info.Name, pos, o)
	names := make([]string, len(targets))
	for i, h := range targets {
		names[i] = h.Name()
	}
	t.order = names[:1]
	for _, h := range targets {
		t.hosts = append(t.hosts, h.h)
	}
	r.emit(Event{Type: EventTaskStart, Task: t.id, Module: info.Name, Pos: pos, Hosts: names, Cluster: true, Check: r.cfg.Check})
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// predeclared are the names every playbook file sees besides Starlark's
// own: the modules, fail, refuse, on_failure, serial, struct and json.
func (r *runner) predeclared() starlark.StringDict {
	d := starlark.StringDict{
		"fail":       starlark.NewBuiltin("fail", r.fail),
		"refuse":     starlark.NewBuiltin("refuse", r.fail),
		"on_failure": starlark.NewBuiltin("on_failure", r.onFailure),
		"serial":     starlark.NewBuiltin("serial", r.serial),
		"struct":     starlark.NewBuiltin("struct", starlarkstruct.Make),
		"json":       json.Module,
	}
	for name, b := range r.builtins {
		if _, dup := d[name]; dup {
			panic("module " + name + " has the name of a builtin")
		}
		d[name] = b
	}
	return d
}

// fail stops the run with a message, placed at the call (exit status 1);
// refuse does the same for a safety check of the playbook (exit status 5).
func (r *runner) fail(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	sep := " "
	if err := starlark.UnpackArgs(b.Name(), nil, kwargs, "sep?", &sep); err != nil {
		return nil, err
	}
	parts := make([]string, len(args))
	for i, v := range args {
		if s, ok := starlark.AsString(v); ok {
			parts[i] = s
		} else {
			parts[i] = v.String()
		}
	}
	msg := strings.Join(parts, sep)
	if b.Name() == "refuse" {
		// A playbook's own safety check: nothing was changed by the step it
		// refuses, and the exit status says so (5), as a module's would.
		return nil, &Error{Pos: callerPos(th), Err: &RefusedError{Msg: msg}}
	}
	return nil, &Error{Pos: callerPos(th), Err: errors.New(msg)}
}
