package modules

import (
	"context"
	"fmt"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type memberRemoveArgs struct {
	etcd.MemberArg
	Force bool
	etcd.ConnArgs
}

// member_remove removes a member from the etcd cluster if quorum survives.
//
// The quorum gate reads the member list and asks every member for its
// status. It refuses, showing the arithmetic, when the members left would
// not have a healthy majority: removing a healthy member of three while
// another is down leaves two voters with one healthy. Removing a member
// that is already down from a cluster that keeps quorum is allowed: that
// is how a dead member is replaced. force=True overrides a refusal with a
// warning. A member that is not in the cluster is not an error: there is
// nothing to do.
//
// The removal is sent through another healthy member when there is one,
// so the removed member's own shutdown does not cut the answer off.
//
// Arguments:
//
//	name       the member, by exactly one of: its name,
//	id         its ID in hex (as member_list shows it), or
//	peer_url   one of its peer URLs
//	force      remove even when the quorum gate refuses (with a warning)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	           cluster: see etcdplay doc member_list
//
// The result has member (the removed member, or none), quorum (the
// arithmetic the gate checked) and members (the table before removal).
//
// Check mode: reads the cluster, runs the gate and reports what it would
// remove.
//
// Example:
//
//	member_remove(rest, name = old.name)
var memberRemoveModule = &engine.ClusterModule[memberRemoveArgs]{
	Name: "member_remove",
	Args: func(a *memberRemoveArgs) []any {
		return append(append(a.MemberArg.Pairs(), "force?", &a.Force), a.ConnArgs.Pairs()...)
	},
	Validate: func(a *memberRemoveArgs) error { return a.MemberArg.Validate() },
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *memberRemoveArgs) (engine.Plan, error) {
		s, cl, err := etcd.OpenLocked(ctx, c, &a.ConnArgs, "removing "+a.MemberArg.String())
		if err != nil {
			return engine.Plan{}, err
		}
		return planMemberRemove(ctx, s, cl, a, c.Set)
	},
}

func planMemberRemove(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *memberRemoveArgs, set func(string, any)) (engine.Plan, error) {
	sts := s.Statuses(ctx, cl.Members)
	leader := etcd.LeaderOf(sts)
	etcd.SetMembers(set, cl, leader)
	m := a.MemberArg.Find(cl.Members)
	if m == nil {
		set("member", nil)
		return engine.NothingToDo("%s is not a member of cluster %x", a.MemberArg.String(), cl.ID), nil
	}
	mi := etcd.InfoOf(m, leader)
	set("member", mi.Data())
	q := cl.View(sts)
	v := q.Check(etcd.StepRemove, m.ID, mi.Label())
	set("quorum", v.Msg)
	if err := etcd.Gate(v, a.Force, s.Warnf); err != nil {
		return engine.Plan{}, err
	}
	// Send the removal through a healthy member other than the one
	// removed: the removed member stops serving once it applies it.
	via := cl.Client
	for _, st := range sts {
		if st.Member.ID != m.ID && st.Err == nil && st.Status != nil && st.Status.Leader != 0 {
			if c, err := s.Client(ctx, st.URL); err == nil {
				via = c
				break
			}
		}
	}
	after := q.After(etcd.StepRemove, m.ID)
	return engine.Do(engine.Action{
		Desc:   fmt.Sprintf("remove %s (id %x) from cluster %x (%d → %d voters, quorum %d)", mi.Label(), m.ID, cl.ID, q.Voters(), after.Voters(), after.Quorum()),
		Effect: fmt.Sprintf("remove member %s (id %x) from cluster %x", mi.Label(), m.ID, cl.ID),
		Do: func(ctx context.Context) error {
			return etcd.Reconfigure(ctx, s, "remove "+mi.Label(), v.Safe || a.Force, func(ctx context.Context) error {
				_, err := via.MemberRemove(ctx, m.ID)
				return err
			})
		},
	}), nil
}
