package engine

import (
	"context"
	"sync"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// RunKey names a value that modules keep for the length of one run: the
// clients of a cluster, the cluster lock a run holds, the members its
// calls are stopping right now. A package declares one key per value,
//
//	var locks = engine.RunKey[*lockSet]{Name: "etcd locks"}
//
// and every call of the run gets the same value back from Get, made by
// mk the first time. The value is the run's own: two runs in one process
// (tests) never share it.
type RunKey[T any] struct {
	Name string
}

// Get returns the run's value of k, calling mk to make it on first use.
func (k *RunKey[T]) Get(c *HostCall, mk func() T) T {
	return runValue(c.r, k, mk)
}

func runValue[T any](r *runner, k *RunKey[T], mk func() T) T {
	r.stateMu.Lock()
	e, ok := r.state[k]
	if !ok {
		e = &runEntry{}
		if r.state == nil {
			r.state = map[any]*runEntry{}
		}
		r.state[k] = e
	}
	r.stateMu.Unlock()
	// mk runs outside stateMu: it may dial, register AtRunEnd or get
	// other keys.
	e.once.Do(func() { e.v = mk() })
	return e.v.(T) // k's type parameter is the type of the value mk made
}

// runEntry is one RunKey's value in a run, made once.
type runEntry struct {
	once sync.Once
	v    any
}

// AtRunEnd registers f to run when the run ends, successful or not, before
// the run's connections close: a cluster lock is released there, and the
// clients dialled through those connections closed. Functions run in the
// reverse order of registration.
func (c *HostCall) AtRunEnd(f func()) {
	c.r.endMu.Lock()
	defer c.r.endMu.Unlock()
	c.r.atEnd = append(c.r.atEnd, f)
}

// runEnd runs the AtRunEnd functions, once.
func (r *runner) runEnd() {
	r.endMu.Lock()
	fs := r.atEnd
	r.atEnd = nil
	r.endMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// NewCall returns a call on host h outside any playbook, for tests that
// use the etcd layer or a module's reading directly: it has
// the run's state (RunKey, AtRunEnd) of a run of its own, which end
// ends. Its connection is cfg.Connector's (nil: none).
func NewCall(ctx context.Context, cfg Config, h *inventory.Host) (c *HostCall, end func(), err error) {
	r := newRunner(ctx, cfg)
	r.adhoc = true
	t := r.newTask("call", "", &callOptions{})
	t.hosts = []*inventory.Host{h}
	var conn transport.Conn
	if cfg.Connector != nil {
		if conn, err = r.connect(ctx, h); err != nil {
			return nil, nil, err
		}
	}
	hv, err := r.hostValue(h)
	if err != nil {
		return nil, nil, err
	}
	c = r.hostCall(t, hv, conn, &HostResult{Host: hv, Module: "call"})
	return c, r.runEnd, nil
}
