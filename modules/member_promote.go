package modules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type memberPromoteArgs struct {
	etcd.MemberArg
	Timeout  engine.Duration
	Interval engine.Duration
	etcd.ConnArgs
}

// member_promote makes a learner a voting member once it has caught up.
//
// etcd refuses to promote a learner that is not in sync ("can only promote a learner member which is in sync with
// leader"), so the call retries that refusal, reporting the learner's
// progress, until it succeeds or the timeout passes. A member that is
// already a voter is not an error: there is nothing to do.
//
// Arguments:
//
//	name       the learner, by exactly one of: its name,
//	id         its ID in hex, or
//	peer_url   one of its peer URLs
//	timeout    how long to wait for it to catch up (default 60s)
//	interval   longest pause between attempts (default 1s; the first
//	           attempts follow each other sooner, from 50 ms)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	           cluster: see etcdplay doc member_list
//
// The result has member (after promotion) and attempts_promote, the
// number of promote requests sent.
//
// Check mode: reads the cluster and reports the promotion; it does not
// wait. A learner that an earlier member_add of the run adds, and so is
// no member yet, is reported as promoted once it has caught up.
//
// Example:
//
//	member_promote(rest, name = new.name, timeout = "120s")
var memberPromoteModule = &engine.ClusterModule[memberPromoteArgs]{
	Name: "member_promote",
	Args: func(a *memberPromoteArgs) []any {
		return append(append(a.MemberArg.Pairs(), "timeout?", &a.Timeout, "interval?", &a.Interval), a.ConnArgs.Pairs()...)
	},
	Validate: func(a *memberPromoteArgs) error { return a.MemberArg.Validate() },
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *memberPromoteArgs) (engine.Plan, error) {
		s, cl, err := etcd.OpenLocked(ctx, c, &a.ConnArgs, "promoting "+a.MemberArg.String())
		if err != nil {
			return engine.Plan{}, err
		}
		if c.Check && a.MemberArg.Find(cl.Members) == nil && checkRunOf(c.HostCall).addedLearner(a.Name) {
			return engine.Do(engine.Action{
				Desc:   fmt.Sprintf("promote %s to a voting member once it has caught up (the learner an earlier step adds)", a.Name),
				Effect: promoteEffect(a.Name),
			}), nil
		}
		return planMemberPromote(ctx, s, cl, a, c.Set)
	},
}

func planMemberPromote(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *memberPromoteArgs, set func(string, any)) (engine.Plan, error) {
	m := a.MemberArg.Find(cl.Members)
	if m == nil {
		return engine.Plan{}, fmt.Errorf("%s is not a member of cluster %x (members: %s)", a.MemberArg.String(), cl.ID, memberLabels(cl))
	}
	mi := etcd.InfoOf(m, 0)
	if !m.IsLearner {
		set("member", mi.Data())
		return engine.NothingToDo("%s is a voting member already", mi.Label()), nil
	}
	if cl.NoQuorum {
		return engine.Plan{}, engine.Refuse("promoting %s needs a cluster with quorum, and the cluster did not answer a linearizable read through %s", mi.Label(), cl.URL)
	}
	timeout := time.Duration(a.Timeout)
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	interval := time.Duration(a.Interval)
	if interval == 0 {
		interval = time.Second
	}
	after := mi
	after.IsLearner = false
	set("member", after.Data())
	return engine.Do(engine.Action{
		Desc:   fmt.Sprintf("promote learner %s (id %x) to a voting member", mi.Label(), m.ID),
		Effect: promoteEffect(mi.Label()),
		Do: func(ctx context.Context) error {
			n, err := promoteWhenInSync(ctx, s, cl, m, timeout, interval)
			set("attempts_promote", n)
			return err
		},
	}), nil
}

// promoteEffect is what a promotion leaves, whatever the learner's ID
// (check mode does not know it when an earlier step adds the learner).
func promoteEffect(name string) string {
	return fmt.Sprintf("promote %s to a voting member", name)
}

// promoteWhenInSync sends promote requests until etcd accepts one, while
// it answers that the learner is not in sync yet.
func promoteWhenInSync(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, m *etcd.Member, timeout, interval time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	name := etcd.InfoOf(m, 0).Label()
	for n := 1; ; n++ {
		rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
		_, err := cl.Client.MemberPromote(rctx, m.ID)
		cancel()
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) && !strings.Contains(err.Error(), "in sync with leader") {
			return n, etcd.Explain(err)
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("%s not in sync after %s (%s): %w", name, timeout, learnerProgress(ctx, s, cl, m), etcd.Explain(err))
		}
		s.Progressf("waiting for learner %s to catch up: %s", name, learnerProgress(ctx, s, cl, m))
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(etcd.PollPause(n, interval)):
		}
	}
}

// learnerProgress describes how far a learner is behind: its applied index
// against the leader's, or why it cannot tell.
func learnerProgress(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, m *etcd.Member) string {
	ctx, cancel := context.WithTimeout(ctx, etcd.StatusTimeout)
	defer cancel()
	if len(m.ClientURLs) == 0 {
		// Re-read: the learner may have started since the plan.
		if resp, err := cl.Client.MemberList(ctx); err == nil {
			for _, x := range resp.Members {
				if x.ID == m.ID {
					m = x
				}
			}
		}
	}
	if len(m.ClientURLs) == 0 {
		return "it has not started yet"
	}
	st := s.Status(ctx, m)
	if st.Err != nil {
		return "it does not answer: " + etcd.ShortErr(st.Err)
	}
	lead, err := cl.Client.Status(ctx, cl.URL)
	if err != nil {
		return fmt.Sprintf("applied index %d", st.Status.RaftAppliedIndex)
	}
	return fmt.Sprintf("applied index %d, leader's %d", st.Status.RaftAppliedIndex, lead.RaftAppliedIndex)
}
