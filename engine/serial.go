package engine

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// serial implements serial(hosts, n=1): the hosts in batches of n (or of
// "30%" of them) for a rolling change over several steps:
//
//	for batch in serial(ctx.hosts("etcd"), 1):
//	    systemd(batch, unit = "etcd", state = "restarted")
//	    wait_healthy(ctx.hosts("etcd"))
//
// If a host of a batch leaves the run (failed, unreachable), the next batch
// is not started and the run stops: a rolling change does not roll a
// failure on to the rest.
func (r *runner) serial(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		target starlark.Value
		size   starlark.Value = starlark.MakeInt(1)
	)
	if err := starlark.UnpackArgs("serial", args, kwargs, "hosts", &target, "n?", &size); err != nil {
		return nil, inputErr(err)
	}
	pos := callerPos(th)
	hosts, err := r.targets(target)
	if err != nil {
		return nil, &Error{Pos: pos, Module: "serial", Err: inputErr(err)}
	}
	n, err := batchSize(size, len(hosts))
	if err != nil {
		return nil, &Error{Pos: pos, Module: "serial", Err: inputErr(err)}
	}
	return &serialBatches{r: r, pos: pos, batches: batch(hosts, n)}, nil
}

func batchSize(v starlark.Value, total int) (int, error) {
	switch v := v.(type) {
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 1 {
			return 0, fmt.Errorf("n: got %s, want 1 or more hosts per batch", v)
		}
		return int(n), nil
	case starlark.String:
		s := strings.TrimSpace(string(v))
		if p, ok := strings.CutSuffix(s, "%"); ok {
			pct, err := strconv.ParseFloat(p, 64)
			if err != nil || pct <= 0 || pct > 100 {
				return 0, fmt.Errorf("n: got %q, want a percentage such as \"30%%\"", s)
			}
			return max(1, int(float64(total)*pct/100)), nil
		}
	}
	return 0, fmt.Errorf("n: got %s, want a number of hosts or a percentage such as \"30%%\"", v.String())
}

// serialBatches iterates batches, checking between them that no host of an
// earlier batch has left the run.
type serialBatches struct {
	r       *runner
	pos     string
	batches [][]*Host
}

func (s *serialBatches) String() string        { return fmt.Sprintf("<serial: %d batches>", len(s.batches)) }
func (s *serialBatches) Type() string          { return "serial" }
func (s *serialBatches) Freeze()               {}
func (s *serialBatches) Truth() starlark.Bool  { return len(s.batches) > 0 }
func (s *serialBatches) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: serial") }
func (s *serialBatches) Len() int              { return len(s.batches) }

func (s *serialBatches) Iterate() starlark.Iterator {
	return &serialIter{s: s, before: s.r.droppedSet()}
}

type serialIter struct {
	s      *serialBatches
	i      int
	before map[string]bool
}

func (it *serialIter) Next(p *starlark.Value) bool {
	s := it.s
	if it.i >= len(s.batches) {
		return false
	}
	if it.i > 0 {
		now := s.r.droppedSet()
		var bad []string
		for _, b := range s.batches[:it.i] {
			for _, h := range b {
				if now[h.Name()] && !it.before[h.Name()] {
					bad = append(bad, h.Name())
				}
			}
		}
		if len(bad) > 0 {
			var rest []string
			for _, b := range s.batches[it.i:] {
				for _, h := range b {
					rest = append(rest, h.Name())
				}
			}
			s.r.stop(&Error{Pos: s.pos, Module: "serial", Err: fmt.Errorf(
				"%s left the run in batch %d of %d; stopping before batch %d (not started: %s)",
				strings.Join(bad, ", "), it.i, len(s.batches), it.i+1, strings.Join(rest, ", "))})
			return false
		}
	}
	vs := make([]starlark.Value, len(s.batches[it.i]))
	for i, h := range s.batches[it.i] {
		vs[i] = h
	}
	*p = starlark.NewList(vs)
	it.i++
	return true
}

func (it *serialIter) Done() {}

func (r *runner) droppedSet() map[string]bool {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	m := make(map[string]bool, len(r.dropped))
	for h := range r.dropped {
		m[h] = true
	}
	return m
}

// stop ends the run from where no error can be returned (an iterator): the
// main thread is cancelled and finish reports e.
func (r *runner) stop(e *Error) {
	r.emitMu.Lock()
	if r.abort == nil {
		r.abort = e
	}
	r.emitMu.Unlock()
	if r.thread != nil {
		r.thread.Cancel(e.Error())
	}
}
