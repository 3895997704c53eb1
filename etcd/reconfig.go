package etcd

import (
	"context"
	"strings"
	"time"
)

// reconfigSettle is how long a membership change is retried while etcd
// refuses it for a reason that passes by itself: etcd accepts a change
// only when the member handling it has been connected to its peers for
// the last 5 seconds (etcdserver.HealthInterval), which is not yet the
// case just after a member started or restarted.
const reconfigSettle = 15 * time.Second

// transientReconfig reports whether err is etcd refusing a membership
// change for lack of recent connectivity between members.
func transientReconfig(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "etcdserver: unhealthy cluster") || strings.Contains(msg, "not enough started members")
}

// Reconfigure runs a membership change, retrying etcd's transient
// refusals for a while when the quorum gate found the change safe (retry).
// The error, if any, is explained.
func Reconfigure(ctx context.Context, s *Session, what string, retry bool, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(reconfigSettle)
	for n := 1; ; n++ {
		rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		err := f(rctx)
		cancel()
		if err == nil || !retry || !transientReconfig(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return Explain(err)
		}
		s.Progressf("etcd refuses to %s until its members have been connected for 5s (%s); retrying", what, ShortErr(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(PollPause(n, 500*time.Millisecond)):
		}
	}
}
