package engine

import (
	"sync"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/inventory"
)

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

// task is one module call in progress.
type task struct {
	id     int
	module string
	pos    string
	opts   *callOptions
	step   *stepState // the plan step the call is, if any

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
