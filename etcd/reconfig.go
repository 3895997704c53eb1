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

// reconfigPoll is the pause between tries of a change etcd refused for
// that reason.
const reconfigPoll = 20 * time.Millisecond

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
//
// The retries come every reconfigPoll, not backing off: the member
// refuses at once, without raft, so a retry costs it next to nothing,
// and the window it waits out ends at a moment nothing tells, which a
// backing-off poll overshot by up to half a second.
func Reconfigure(ctx context.Context, s *Session, what string, retry bool, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(reconfigSettle)
	var told time.Time
	for {
		rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		err := f(rctx)
		cancel()
		if err == nil || !retry || !transientReconfig(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return Explain(err)
		}
		if time.Since(told) >= time.Second {
			s.Progressf("etcd refuses to %s until its members have been connected for 5s (%s); retrying", what, ShortErr(err))
			told = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(reconfigPoll):
		}
	}
}
