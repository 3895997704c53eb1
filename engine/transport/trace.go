package transport

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// Tracing: with ETCDPLAY_TRACE=FILE, every round trip of a run (an SSH
// dial, a command, a file sent or fetched, a forwarded connection, an
// etcd request) is a line of FILE: when it started, how long it took,
// the host and the task it was for. It says where a run's time goes
// below the task timings of -o json; it holds no command text or
// content, so no secret.

// tracer is the run's trace file, nil when tracing is off.
var tracer = sync.OnceValue(func() *traceFile {
	p := os.Getenv("ETCDPLAY_TRACE")
	if p == "" {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcdplay: ETCDPLAY_TRACE: %v\n", err)
		return nil
	}
	return &traceFile{f: f}
})

type traceFile struct {
	mu sync.Mutex
	f  *os.File
}

type traceKey struct{}

// Tracing says whether round trips are traced (ETCDPLAY_TRACE), for a
// caller whose label costs something to build.
func Tracing() bool { return tracer() != nil }

// WithTrace labels the round trips made with ctx ("task 5 preflight
// playbooks/lib/etcd.star:440:18").
func WithTrace(ctx context.Context, label string) context.Context {
	if tracer() == nil {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, label)
}

// Trace records a round trip that began at start, when tracing is on.
func Trace(ctx context.Context, start time.Time, host, what string) {
	t := tracer()
	if t == nil {
		return
	}
	label, _ := ctx.Value(traceKey{}).(string)
	line := fmt.Sprintf("%s %8.1fms %-10s %-24s %s\n", start.UTC().Format("15:04:05.000000"), float64(time.Since(start).Microseconds())/1000, host, what, label)
	t.mu.Lock()
	t.f.WriteString(line)
	t.mu.Unlock()
}
