package modules

import (
	"context"
	"fmt"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type defragArgs struct {
	Member  string
	MinFree engine.Size
	Timeout engine.Duration
	Force   bool
	etcd.ConnArgs
}

// defrag defragments one member's database, giving the space that
// compaction freed back to the file system, as etcdctl defrag does for
// one endpoint.
//
// A member answers nothing while it defragments, so the quorum gate
// counts it as down: a defrag that would leave the cluster without quorum
// is refused (force=True overrides). A member whose free space (database
// size minus the size in use) is below min_free is left alone. The
// defrag playbook (etcdplay doc defrag) takes the members one at a time,
// the leader last, with health between.
//
// Arguments:
//
//	member    the member to defragment, by name
//	min_free  leave the member alone when less than this is free in its
//	          database (bytes, or with a unit: 64MB, 1GiB; default 0:
//	          defragment whenever anything is free)
//	timeout   how long the defragmentation may take (default 5m)
//	force     defragment even when the quorum gate refuses
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	          cluster: see etcdplay doc member_list
//
// The result has member, db_size and db_size_in_use (bytes, before), db_size_after
// and freed (after; the same as before when nothing was done), leader
// (whether the member leads) and duration_ms (how long it took).
//
// Check mode: reads the member's sizes and says whether it would
// defragment it.
//
// Example:
//
//	defrag(ctx.hosts("etcd"), member = "etcd-2", min_free = "64MB")
var defragModule = &engine.ClusterModule[defragArgs]{
	Name: "defrag",
	Args: func(a *defragArgs) []any {
		return append([]any{"member", &a.Member, "min_free?", &a.MinFree, "timeout?", &a.Timeout, "force?", &a.Force}, a.Pairs()...)
	},
	Validate: func(a *defragArgs) error {
		if a.Member == "" {
			return fmt.Errorf("member is empty: give the name of the member to defragment")
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *defragArgs) (engine.Plan, error) {
		s, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		return planDefrag(ctx, s, cl, a, c.Set)
	},
}

func planDefrag(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *defragArgs, set func(string, any)) (engine.Plan, error) {
	m := etcd.FindMember(cl.Members, a.Member, "", "")
	if m == nil {
		return engine.Plan{}, engine.BadInput("%s is not a member of cluster %x (members: %s)", a.Member, cl.ID, cl.Names())
	}
	sts := s.Statuses(ctx, cl.Members)
	var st etcd.MemberStatus
	for _, x := range sts {
		if x.Member.ID == m.ID {
			st = x
		}
	}
	if st.Err != nil || st.Status == nil {
		return engine.Plan{}, fmt.Errorf("%s does not answer its status: %v", a.Member, etcd.ShortErr(st.Err))
	}
	before, inUse := st.Status.DbSize, st.Status.DbSizeInUse
	set("member", a.Member)
	set("db_size", before)
	set("db_size_in_use", inUse)
	set("db_size_after", before)
	set("freed", int64(0))
	set("leader", st.Status.Leader == m.ID)
	set("duration_ms", int64(0))
	free := before - inUse
	sizes := fmt.Sprintf("database %s, %s in use", sizeText(before), sizeText(inUse))
	if free <= 0 || free < int64(a.MinFree) {
		return engine.NothingToDo("%s: %s: %s free, under min_free %s: left alone", a.Member, sizes, sizeText(free), sizeText(int64(a.MinFree))), nil
	}
	v := cl.View(sts).Check(etcd.StepDefrag, m.ID, a.Member)
	if err := etcd.Gate(v, a.Force, s.Warnf); err != nil {
		return engine.Plan{}, err
	}
	timeout := time.Duration(a.Timeout)
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	return engine.Do(engine.Action{
		Desc:   fmt.Sprintf("defragment %s (%s: %s free)", a.Member, sizes, sizeText(free)),
		Effect: "defragment " + a.Member,
		Do: func(ctx context.Context) error {
			c, err := s.Client(ctx, st.URL)
			if err != nil {
				return err
			}
			start := time.Now()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			_, err = c.Defragment(rctx, st.URL)
			cancel()
			if err != nil {
				return fmt.Errorf("defragment %s after %s: %w", a.Member, time.Since(start).Round(time.Millisecond), etcd.Explain(err))
			}
			set("duration_ms", time.Since(start).Milliseconds())
			after := s.Status(ctx, m)
			if after.Err == nil && after.Status != nil {
				set("db_size_after", after.Status.DbSize)
				set("freed", before-after.Status.DbSize)
			}
			return nil
		},
	}), nil
}
