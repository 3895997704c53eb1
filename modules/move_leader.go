package modules

import (
	"context"
	"fmt"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type moveLeaderArgs struct {
	From    string
	To      string
	Timeout engine.Duration
	etcd.ConnArgs
}

// move_leader hands the cluster's leadership over from one member to
// another, as etcdctl move-leader does, with the same TLS and ways to
// etcd as every etcd module.
//
// A leader that stops or is removed hands over by itself only after an
// election timeout, with writes stalled meanwhile; moved first, clients
// see one orderly leader change. With away_from=, leadership moves only when
// that member leads (nothing to do otherwise). The new leader is to=, or
// the healthy voting member furthest ahead (a learner never leads). The
// request goes to the leader itself, and the call waits until the new
// leader is seen.
//
// Arguments:
//
//	away_from  the member (name) to move leadership away from; "" moves it
//	         from whoever leads
//	to       the member to lead; "" picks one
//	timeout  how long to wait for the new leader (default 10s)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	         cluster: see etcdplay doc member_list
//
// The result has leader (after the call) and moved (whether it moved).
//
// Check mode: reads the cluster and says whom it would make leader.
//
// Example:
//
//	move_leader(ctx.hosts("etcd"), away_from = old.etcd.name)
var moveLeaderModule = &engine.ClusterModule[moveLeaderArgs]{
	Name: "move_leader",
	Args: func(a *moveLeaderArgs) []any {
		return append([]any{"away_from?", &a.From, "to?", &a.To, "timeout?", &a.Timeout}, a.Pairs()...)
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *moveLeaderArgs) (engine.Plan, error) {
		s, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		return planMoveLeader(ctx, s, cl, a, c.Set)
	},
}

func planMoveLeader(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *moveLeaderArgs, set func(string, any)) (engine.Plan, error) {
	sts := s.Statuses(ctx, cl.Members)
	leader := etcd.LeaderOf(sts)
	if leader == 0 {
		return engine.Plan{}, fmt.Errorf("cluster %x has no leader the members agree on: nothing to hand over", cl.ID)
	}
	var lead, to *etcd.MemberStatus
	for i := range sts {
		if sts[i].Member.ID == leader {
			lead = &sts[i]
		}
	}
	if lead == nil || lead.Status == nil {
		return engine.Plan{}, fmt.Errorf("the leader %x does not answer its status", leader)
	}
	set("leader", etcd.InfoOf(lead.Member, leader).Label())
	set("moved", false)
	if a.From != "" && lead.Member.Name != a.From {
		return engine.NothingToDo("%s does not lead (%s does)", a.From, lead.Member.Name), nil
	}
	for i := range sts {
		st := &sts[i]
		m := st.Member
		switch {
		case m.ID == leader, m.IsLearner, st.Status == nil, st.Err != nil, st.Status.Leader != leader:
			continue
		case a.To != "":
			if m.Name == a.To {
				to = st
			}
		case to == nil || st.Status.RaftAppliedIndex > to.Status.RaftAppliedIndex:
			to = st
		}
	}
	if to == nil {
		if a.To != "" {
			return engine.Plan{}, fmt.Errorf("%s is no healthy voting member of cluster %x: it cannot lead", a.To, cl.ID)
		}
		return engine.NothingToDo("no other healthy voting member to hand leadership to: %s keeps it", lead.Member.Name), nil
	}
	timeout := time.Duration(a.Timeout)
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	from, next := etcd.InfoOf(lead.Member, leader).Label(), etcd.InfoOf(to.Member, 0).Label()
	return engine.Do(engine.Action{
		Desc:   fmt.Sprintf("move leadership from %s to %s", from, next),
		Effect: fmt.Sprintf("move leadership away from %s", from),
		Do: func(ctx context.Context) error {
			c, err := s.Client(ctx, lead.URL)
			if err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
			_, err = c.MoveLeader(rctx, to.Member.ID)
			cancel()
			if err != nil {
				return etcd.Explain(err)
			}
			deadline := time.Now().Add(timeout)
			for {
				st := s.Status(ctx, to.Member)
				if st.Err == nil && st.Status.Leader == to.Member.ID {
					set("leader", next)
					set("moved", true)
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s does not lead %s after asking it to", next, timeout)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		},
	}), nil
}
