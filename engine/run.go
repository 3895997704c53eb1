package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// Connector opens connections to hosts. The engine reaches hosts only
// through it and treats any error from Connect as the host being
// unreachable.
type Connector interface {
	Connect(ctx context.Context, h *inventory.Host) (transport.Conn, error)
}

// Releaser is a Connector that can close one host's connection before
// the run ends: a run that will not contact the host again (etcdplay exec
// -- CMD) releases each as its host finishes, so that a run over many
// hosts holds no more connections than it runs at once.
type Releaser interface {
	Release(h *inventory.Host)
}

// Config is what a run needs.
type Config struct {
	Inventory *inventory.Inventory
	Connector Connector
	// Modules are the builtins playbooks can call (modules.All()).
	Modules []Module
	// Vars are the extra vars (-e), ctx.vars in the playbook.
	Vars map[string]any
	// Check runs modules without their actions; Diff shows file changes.
	Check, Diff bool
	// Forks bounds the hosts worked on at once (default 20).
	Forks int
	// Become and BecomeUser are the defaults from the command line (-b,
	// --become-user); a call's become= and the inventory's ansible_become
	// decide per host (see the playbook documentation).
	Become     bool
	BecomeUser string
	// Output receives the run's events. Nil discards them.
	Output Output
	// Shipped holds the shipped playbooks and their lib/ (package
	// playbooks): load("lib/...") falls back to it.
	Shipped fs.FS
	// BaseDir is where relative local paths of modules (copy src=, fetch
	// dest=) resolve; "" is the working directory.
	BaseDir string
	// Command is the command line that started the run, as a shell would
	// take it again: ctx.command in playbooks, which print it as the
	// command that continues a run that stopped.
	Command string
	// CommandFor is Command with another playbook ("" keeps it) and
	// these extra vars (a var whose value is "" is left out):
	// ctx.command_for, for remedies that are another playbook's run. Nil:
	// a bare "etcdplay run PLAYBOOK -e k=v ..." of the vars set.
	CommandFor func(playbook string, vars map[string]string) string
	// ExecCommandFor is the etcdplay exec command that runs module on the
	// hosts of pattern with args, reaching the hosts as this run does:
	// ctx.exec_command, for a remedy that is one module call.
	ExecCommandFor func(pattern, module string, args map[string]string) string
	// Secrets are masked in the run's output from the start (values of
	// the command line that name a password).
	Secrets []string
	// HostAttrs are attributes of host values besides the engine's own
	// (name, address, port, user, groups, vars): h.etcd.
	HostAttrs map[string]HostAttr
	// BreakLock asks the modules that take a cluster lock to break one
	// held by another run (etcdplay run --break-lock).
	BreakLock bool
	// Record, with Check, collects the run's plan (etcdplay run --check
	// --plan-out): its steps, what the modules read, the playbook's files.
	Record *PlanRecord
	// Follow are the steps of the plan the run follows (etcdplay run
	// --apply): a call that is not the plan's next step, or an action
	// whose effect that step does not have, is refused before it acts.
	Follow []PlanStep
	// PauseBefore names a module whose first task the run stops at, once
	// its task_start is out, until it is interrupted
	// (ETCDPLAY_PAUSE_BEFORE).
	PauseBefore string
}

// Run runs a playbook's main(ctx) and returns its recap. The error, if any,
// is an *Error (placed at the call that stopped the run) and has already
// been emitted as an error event; the recap event is emitted in every case.
func Run(ctx context.Context, cfg Config, pb *Playbook) (*Recap, error) {
	r := newRunner(ctx, cfg)
	r.emit(Event{Type: EventStart, Playbook: pb.Name(), Check: cfg.Check, Diff: cfg.Diff})
	err := r.pauseTarget()
	if err == nil {
		err = r.runMain(pb)
	}
	if err == nil {
		err = r.followedAll()
	}
	return r.finish(err)
}

// RunModule runs one module call ad hoc, as etcdplay exec -m does: module
// on the hosts matching pattern, with "key=value" arguments (see
// ParseModuleArgs).
func RunModule(ctx context.Context, cfg Config, module, pattern string, kvs []string) (*Recap, error) {
	return runAdHoc(ctx, cfg, module, pattern, kvs, false)
}

// runAdHoc is RunModule; release closes each host's connection as soon
// as its host is done (see Releaser).
func runAdHoc(ctx context.Context, cfg Config, module, pattern string, kvs []string, release bool) (*Recap, error) {
	r := newRunner(ctx, cfg)
	r.adhoc, r.releaseConns = true, release
	r.emit(Event{Type: EventStart, AdHoc: true, Check: cfg.Check, Diff: cfg.Diff, Module: module})
	if err := r.pauseTarget(); err != nil {
		return r.finish(err)
	}
	b, ok := r.builtins[module]
	if !ok {
		return r.finish(&Error{Err: BadInput("no module %s%s (etcdplay doc lists them)", module, suggest.Hint(module, r.moduleNames()))})
	}
	kwargs, err := ParseModuleArgs(r.modules[module].Info(), kvs)
	if err != nil {
		return r.finish(&Error{Module: module, Err: inputErr(err)})
	}
	th := r.newThread("adhoc")
	stop := r.cancelOnDone(th)
	_, err = starlark.Call(th, b, starlark.Tuple{starlark.String(pattern)}, kwargs)
	stop()
	return r.finish(err)
}

// runner is the state of one run.
type runner struct {
	cfg      Config
	ctx      context.Context
	adhoc    bool
	start    time.Time
	modules  map[string]Module
	builtins map[string]*starlark.Builtin
	loader   *loader
	playCtx  *playCtx
	thread   *starlark.Thread // main thread, for cancellation by serial()

	hostMu   sync.Mutex
	hostVals map[string]*Host
	inLimit  map[string]bool
	invOrder map[string]int

	connMu sync.Mutex
	conns  map[string]transport.Conn
	// ahead are ctx.connect's dials (connectAhead), nil before the first.
	ahead *aheadDials
	// releaseConns closes each host's connection once its call is done:
	// the run makes one call and nothing else reaches the hosts (RunCommand).
	releaseConns bool

	emitMu sync.Mutex
	recap  map[string]*HostRecap

	resMu sync.Mutex // guards HostResults while modules fill them

	// starMu serialises Starlark calls made from worker goroutines (until=)
	// with each other; the main thread is blocked in the builtin meanwhile.
	starMu sync.Mutex

	tasks       int
	dropped     map[string]dropInfo // host -> where and why it left the run
	recovery    []string            // IfRunFails notes, in order, guarded by emitMu
	droppedList []string
	abort       *Error // set to stop the run from outside a builtin's return
	interrupted *Interruption

	// onFail is the playbook's on_failure function; quiet (guarded by
	// emitMu) is set while it runs: its print() lines are recovery notes
	// and its other events are not shown.
	onFail starlark.Callable
	quiet  bool

	// secrets are masked in every event (HostCall.Secret).
	secretMu sync.Mutex
	secrets  []string

	// undoing is set (guarded by emitMu) while the playbook's undo
	// function runs (on_failure(fn, undo=)).
	onUndo  starlark.Callable
	undoing bool

	// planMu guards the plan the run records or follows: the steps of
	// main begun, what the modules observed, the files check mode would
	// have written (WouldWrite), by host.
	planMu   sync.Mutex
	stepN    int
	observed map[string]PlanState
	would    map[string]map[string]wouldFile

	// stateMu guards the modules' run state (RunKey), endMu AtRunEnd's
	// functions.
	stateMu sync.Mutex
	state   map[any]*runEntry
	endMu   sync.Mutex
	atEnd   []func()

	paused atomic.Bool // a task has stopped for Config.PauseBefore
}

func newRunner(ctx context.Context, cfg Config) *runner {
	if cfg.Forks <= 0 {
		cfg.Forks = 20
	}
	r := &runner{
		cfg:      cfg,
		ctx:      ctx,
		start:    time.Now(),
		modules:  map[string]Module{},
		builtins: map[string]*starlark.Builtin{},
		hostVals: map[string]*Host{},
		conns:    map[string]transport.Conn{},
		recap:    map[string]*HostRecap{},
		dropped:  map[string]dropInfo{},
		invOrder: map[string]int{},
	}
	if cfg.Inventory != nil {
		for i, h := range cfg.Inventory.Hosts() {
			r.invOrder[h.Name] = i
		}
		if hs, err := cfg.Inventory.Select("all"); err == nil {
			r.inLimit = map[string]bool{}
			for _, h := range hs {
				r.inLimit[h.Name] = true
			}
		}
	}
	for _, s := range cfg.Secrets {
		r.addSecret(s)
	}
	for _, m := range cfg.Modules {
		name := m.Info().Name
		r.modules[name] = m
		r.builtins[name] = starlark.NewBuiltin(name, func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return r.call(th, m, args, kwargs)
		})
	}
	vars, err := ToStarlark(cfg.Vars)
	if err != nil {
		vars = starlark.NewDict(0)
	}
	if cfg.Vars == nil {
		vars = starlark.NewDict(0)
	}
	vars.Freeze()
	r.playCtx = &playCtx{r: r, vars: vars.(*starlark.Dict)}
	r.loader = newLoader(cfg.Shipped, r.predeclared())
	return r
}

func (r *runner) moduleNames() []string {
	var ns []string
	for n := range r.modules {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func (r *runner) newThread(name string) *starlark.Thread {
	th := &starlark.Thread{
		Name: name,
		Print: func(th *starlark.Thread, msg string) {
			r.emit(Event{Type: EventPrint, Pos: callerPos(th), Msg: msg})
		},
	}
	th.Load = r.loader.load
	return th
}

// cancelOnDone cancels th's Starlark evaluation when the run's context is
// done (Ctrl-C), so a busy playbook loop stops too.
func (r *runner) cancelOnDone(th *starlark.Thread) (stop func()) {
	done := make(chan struct{})
	ctx := r.ctx // on_failure and undo run under a context of their own, set back after
	go func() {
		select {
		case <-ctx.Done():
			th.Cancel("interrupted")
		case <-done:
		}
	}()
	return func() { close(done) }
}

func (r *runner) runMain(pb *Playbook) error {
	th := r.newThread("main")
	r.thread = th
	stop := r.cancelOnDone(th)
	defer stop()
	globals, err := r.loader.execPlaybook(th, pb)
	if err != nil {
		return err
	}
	main, ok := globals["main"].(*starlark.Function)
	if !ok {
		return &Error{Pos: pb.Name() + ":1:1", Err: BadInput("no main(ctx) function: a playbook defines def main(ctx): and etcdplay calls it")}
	}
	if main.NumParams() < 1 {
		return &Error{Pos: main.Position().String(), Err: BadInput("main takes no parameters: define it as def main(ctx):")}
	}
	_, err = starlark.Call(th, main, starlark.Tuple{r.playCtx}, nil)
	return err
}

// finish turns the error that ended the run into an *Error, emits it and
// the recap.
func (r *runner) finish(err error) (*Recap, error) {
	e := r.explain(err)
	if e != nil {
		r.emit(Event{Type: EventError, Pos: e.Pos, Module: e.Module, Host: e.Host, Msg: e.Error(), Backtrace: e.Backtrace})
		err = e
	}
	rec := r.buildRecap()
	failed := e != nil || rec.Failed > 0 || rec.Unreachable > 0
	if failed && rec.Changed && !r.cfg.Check {
		// Something was changed and the run did not end well: the
		// playbook's undo, if it asked for one, takes it back, and its
		// on_failure says where that leaves things.
		if r.runUndo(e) {
			rec = r.buildRecap() // the undo's results count too
		}
		r.runOnFailure(e)
	}
	r.finishRecord()
	r.runEnd()
	if failed {
		rec.Recovery = r.recovery
	}
	if e != nil {
		rec.Error = e.Error()
	}
	r.emit(Event{Type: EventRecap, Recap: rec})
	return rec, err
}

func (r *runner) explain(err error) *Error {
	if err == nil {
		return nil
	}
	var (
		e    *Error
		eval *starlark.EvalError
	)
	bt := ""
	if errors.As(err, &eval) {
		bt = eval.Backtrace()
	}
	switch {
	case r.abort != nil:
		c := *r.abort
		e = &c
	case errors.As(err, &e):
		c := *e
		e = &c
	case r.ctx.Err() != nil:
		e = &Error{Err: errInterrupted}
	case eval != nil:
		e = &Error{Pos: topPos(eval.CallStack), Err: errors.New(eval.Msg)}
		var ie *InputError
		if errors.As(err, &ie) {
			e.Err = &InputError{Err: e.Err}
		}
	default:
		e = &Error{Err: inputErr(err)}
	}
	if e.Backtrace == "" {
		e.Backtrace = bt
	}
	return e
}

// topPos is the innermost position in Starlark code.
func topPos(stack starlark.CallStack) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if p := stack[i].Pos; p.IsValid() && p.Filename() != "<builtin>" {
			return p.String()
		}
	}
	return ""
}

func (r *runner) emit(e Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.redact(&e)
	// What on_failure's function or an undo prints is the recap's.
	if (r.quiet || r.undoing) && e.Type == EventPrint {
		if !slices.Contains(r.recovery, e.Msg) {
			r.recovery = append(r.recovery, e.Msg)
		}
		return
	}
	if r.quiet {
		return
	}
	if e.Type == EventHostResult {
		hr := r.recap[e.Host]
		if hr == nil {
			hr = &HostRecap{Host: e.Host}
			r.recap[e.Host] = hr
		}
		switch {
		case e.Ignored:
			hr.Ignored++
		case e.Status == StatusOK:
			hr.OK++
		case e.Status == StatusChanged:
			hr.Changed++
		case e.Status == StatusFailed:
			hr.Failed++
		case e.Status == StatusUnreachable:
			hr.Unreachable++
		case e.Status == StatusSkipped:
			hr.Skipped++
		}
	}
	if r.cfg.Output != nil {
		r.cfg.Output.Emit(e)
	}
}

func (r *runner) addRecovery(note string) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if !slices.Contains(r.recovery, note) {
		r.recovery = append(r.recovery, note)
	}
}

func (r *runner) buildRecap() *Recap {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	rec := &Recap{Check: r.cfg.Check, Duration: Millis(time.Since(r.start)), Interrupted: r.interrupted}
	for _, hr := range r.recap {
		c := *hr
		if d, ok := r.dropped[hr.Host]; ok {
			c.Dropped = d.why + ": " + d.msg
			if d.unreachable {
				rec.Unreachable++
			} else {
				rec.Failed++
			}
		}
		if c.Changed > 0 {
			rec.Changed = true
		}
		rec.Hosts = append(rec.Hosts, c)
	}
	sort.Slice(rec.Hosts, func(i, j int) bool {
		a, b := rec.Hosts[i].Host, rec.Hosts[j].Host
		ia, oka := r.invOrder[a]
		ib, okb := r.invOrder[b]
		if oka != okb {
			return oka
		}
		if ia != ib {
			return ia < ib
		}
		return a < b
	})
	return rec
}

// hostValue returns the Starlark value for an inventory host, one per host
// for the run.
func (r *runner) hostValue(h *inventory.Host) (*Host, error) {
	r.hostMu.Lock()
	defer r.hostMu.Unlock()
	if v, ok := r.hostVals[h.Name]; ok {
		return v, nil
	}
	v, err := newHost(h, r.cfg.HostAttrs)
	if err != nil {
		return nil, err
	}
	r.hostVals[h.Name] = v
	return v, nil
}

func (r *runner) selectHosts(pattern string) ([]*Host, error) {
	if r.cfg.Inventory == nil {
		return nil, fmt.Errorf("no inventory")
	}
	hs, err := r.cfg.Inventory.Select(pattern)
	if err != nil {
		return nil, err
	}
	out := make([]*Host, 0, len(hs))
	for _, h := range hs {
		v, err := r.hostValue(h)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (r *runner) hostByName(name string) (*Host, error) {
	if r.cfg.Inventory == nil {
		return nil, fmt.Errorf("no inventory")
	}
	h, ok := r.cfg.Inventory.Host(name)
	if !ok {
		var names []string
		for _, h := range r.cfg.Inventory.Hosts() {
			names = append(names, h.Name)
		}
		return nil, fmt.Errorf("no host %q in the inventory%s", name, suggest.Hint(name, names))
	}
	return r.hostValue(h)
}

func (r *runner) limited(h *inventory.Host) bool {
	return r.inLimit != nil && !r.inLimit[h.Name]
}

// connect returns the host's connection, opening it on first use. A failed
// connection is not remembered: a later call tries again.
func (r *runner) connect(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	r.connMu.Lock()
	c, ok := r.conns[h.Name]
	r.connMu.Unlock()
	if ok {
		return c, nil
	}
	if r.cfg.Connector == nil {
		return nil, &transport.UnreachableError{Host: h.Name, Err: errors.New("no connector configured")}
	}
	c, err := r.cfg.Connector.Connect(ctx, h)
	if err != nil {
		if !transport.IsUnreachable(err) {
			err = &transport.UnreachableError{Host: h.Name, Err: err}
		}
		return nil, err
	}
	r.connMu.Lock()
	r.conns[h.Name] = c
	r.connMu.Unlock()
	return c, nil
}

// connectAhead opens the connections to hs in the background, at most
// --forks dials at once, for ctx.connect. Hosts the run's calls skip
// (outside --limit, left the run) are not dialled. A failed dial is the
// connector's to remember: the first call on the host reports it, as it
// would have had it dialled itself. Dials still going when the run ends
// are given up.
func (r *runner) connectAhead(hs []*Host) {
	if r.cfg.Connector == nil {
		return
	}
	var dial []*Host
	for _, h := range hs {
		if _, skip := r.absent(h); !skip {
			dial = append(dial, h)
		}
	}
	r.connMu.Lock()
	defer r.connMu.Unlock()
	a := r.ahead
	if a == nil {
		ctx, stop := context.WithCancel(r.ctx)
		a = &aheadDials{slots: make(chan struct{}, r.cfg.Forks), ctx: ctx}
		r.ahead = a
		// At the run's end the dials still going are given up and
		// waited for, so none opens a connection after the run.
		r.endMu.Lock()
		r.atEnd = append(r.atEnd, func() { stop(); a.wg.Wait() })
		r.endMu.Unlock()
	}
	for _, h := range dial {
		if _, open := r.conns[h.Name()]; open {
			continue
		}
		a.wg.Go(func() {
			select {
			case a.slots <- struct{}{}:
			case <-a.ctx.Done():
				return
			}
			defer func() { <-a.slots }()
			r.connect(a.ctx, h.h)
		})
	}
}

// aheadDials are connectAhead's dials: at most --forks at once (slots),
// all given up when ctx ends.
type aheadDials struct {
	slots chan struct{}
	ctx   context.Context
	wg    sync.WaitGroup
}

// release closes h's connection, for a run that will not contact h again
// (releaseConns), when the connector can.
func (r *runner) release(h *inventory.Host) {
	rel, ok := r.cfg.Connector.(Releaser)
	if !ok {
		return
	}
	r.forget(h)
	rel.Release(h)
}

// forget drops a connection that was found broken, so the next call
// reconnects.
func (r *runner) forget(h *inventory.Host) {
	r.connMu.Lock()
	delete(r.conns, h.Name)
	r.connMu.Unlock()
}

// become decides sudo for a call on h: the call's become= wins, then -b on
// the command line, then the inventory (ansible_become).
func (r *runner) become(o *callOptions, h *inventory.Host) (bool, string) {
	user := h.BecomeUser()
	if r.cfg.BecomeUser != "" {
		user = r.cfg.BecomeUser
	}
	if o != nil && o.becomeUser != "" {
		user = o.becomeUser
	}
	if o != nil && o.become != nil {
		return *o.become, user
	}
	if r.cfg.Become {
		return true, user
	}
	b, _ := h.Become()
	return b, user
}

// dropInfo is why a host left the run.
type dropInfo struct {
	why         string // "copy failed at site.star:4:5"
	msg         string // the failure
	unreachable bool
}

func (r *runner) drop(host string, d dropInfo) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if _, ok := r.dropped[host]; !ok {
		r.dropped[host] = d
		r.droppedList = append(r.droppedList, host)
	}
}

func (r *runner) droppedHosts() *starlark.List {
	r.emitMu.Lock()
	names := append([]string{}, r.droppedList...)
	r.emitMu.Unlock()
	var vs []starlark.Value
	for _, n := range names {
		if h, err := r.hostByName(n); err == nil {
			vs = append(vs, h)
		}
	}
	return starlark.NewList(vs)
}
