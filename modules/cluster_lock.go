package modules

import (
	"context"
	"fmt"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type clusterLockArgs struct {
	etcd.ConnArgs
}

// cluster_lock takes the cluster's lock for the rest of the run: no other
// etcdplay run changes the cluster until this one ends.
//
// The lock is held in the cluster itself (a lease-backed mutex under
// /etcdplay/lock), so it dies with its holder: a run that is killed, or
// whose control machine loses the network, stops renewing it and it is
// free 15 seconds later. Another run that wants it is refused at once
// (exit status 5) with who holds it: user, control machine, PID, since
// when and the command. A holder that was an etcdplay of this machine
// and no longer runs is known to be gone: its lock is broken with a
// warning. etcdplay run --break-lock breaks another run's lock.
//
// Every module that changes the membership (member_add, member_remove,
// member_update, member_promote) or stops a member (systemd) takes the
// lock by itself before it reads what its safety check counts; a playbook
// calls cluster_lock first so that what it reads to decide is read under
// the lock too. Calls after the first check that the lock is still held.
//
// Arguments: dial, direct, cacert, cert, key, tls_from_host, to reach the
// cluster: see etcdplay doc member_list.
//
// The result has cluster_id, holder (this run, as the lock records it)
// and pending: the membership change recorded in the cluster as begun and
// not ended (see pending_change), a dict with playbook, args, command, by
// and since, or None.
//
// Check mode: the lock is not taken; a run holding it is reported as a
// warning. pending is read all the same.
//
// Example:
//
//	lock = cluster_lock(ctx.hosts("etcd"))
//	if lock.pending:
//	    print("unfinished: " + lock.pending["command"])
var clusterLockModule = &engine.ClusterModule[clusterLockArgs]{
	Name: "cluster_lock",
	Args: func(a *clusterLockArgs) []any { return a.Pairs() },
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *clusterLockArgs) (engine.Plan, error) {
		_, cl, err := etcd.OpenLocked(ctx, c, &a.ConnArgs, "locking the cluster")
		if err != nil {
			return engine.Plan{}, err
		}
		ch, err := etcd.ReadChange(ctx, cl)
		if err != nil {
			return engine.Plan{}, err
		}
		c.Set("cluster_id", fmt.Sprintf("%x", cl.ID))
		c.Set("pending", changeData(ch))
		if c.Check {
			return engine.NothingToDo("cluster %x: check mode takes no lock", cl.ID), nil
		}
		c.Set("holder", c.RunCommand())
		return engine.NothingToDo("cluster %x is locked by this run", cl.ID), nil
	},
}
