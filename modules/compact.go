package modules

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type compactArgs struct {
	Revision int
	Keep     int
	etcd.ConnArgs
}

// compact discards the key history before a revision, as etcdctl compact
// does: the space it held is free in the database afterwards (defrag
// gives it back to the file system). Reads and watches of older
// revisions fail with "required revision has been compacted".
//
// The target is revision=, or the current revision minus keep= (keep the
// last N revisions; the default 0 keeps only the current values). A
// cluster already compacted that far is left alone. The call waits until
// the compaction has reached the database of the member that answered
// (etcdctl compact --physical).
//
// Arguments:
//
//	revision  compact to this revision (default: from keep)
//	keep      keep this many revisions before the current one (default 0)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	          cluster: see etcdplay doc member_list
//
// The result has revision (the cluster's current) and compacted_to (the
// revision history now starts at).
//
// Check mode: reads the revision and says what it would compact.
//
// Example:
//
//	compact(ctx.hosts("etcd"), keep = 1000)
var compactModule = &engine.ClusterModule[compactArgs]{
	Name: "compact",
	Args: func(a *compactArgs) []any {
		return append([]any{"revision?", &a.Revision, "keep?", &a.Keep}, a.Pairs()...)
	},
	Validate: func(a *compactArgs) error {
		switch {
		case a.Revision < 0 || a.Keep < 0:
			return fmt.Errorf("revision and keep: want 0 or more")
		case a.Revision > 0 && a.Keep > 0:
			return fmt.Errorf("revision=%d and keep=%d: give one of them", a.Revision, a.Keep)
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *compactArgs) (engine.Plan, error) {
		_, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		return planCompact(ctx, cl, a, c.Set)
	},
}

func planCompact(ctx context.Context, cl *etcd.Cluster, a *compactArgs, set func(string, any)) (engine.Plan, error) {
	if cl.NoQuorum {
		return engine.Plan{}, fmt.Errorf("cluster %x does not answer a linearizable read: a compaction needs quorum to commit", cl.ID)
	}
	rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
	resp, err := cl.Client.Get(rctx, "compact", clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return engine.Plan{}, etcd.Explain(err)
	}
	cur := resp.Header.Revision
	target := int64(a.Revision)
	if target == 0 {
		target = cur - int64(a.Keep)
	}
	set("revision", cur)
	if target > cur {
		return engine.Plan{}, engine.BadInput("revision=%d is ahead of the cluster's current revision %d", target, cur)
	}
	done, err := compactedTo(ctx, cl.Client, target)
	if err != nil {
		return engine.Plan{}, err
	}
	if done || target <= 1 {
		set("compacted_to", target)
		return engine.NothingToDo("the history of cluster %x starts at revision %d or later already (current %d)", cl.ID, target, cur), nil
	}
	set("compacted_to", target)
	return engine.Do(engine.Action{
		Desc:   fmt.Sprintf("compact cluster %x to revision %d (current %d: %d revisions kept)", cl.ID, target, cur, cur-target),
		Effect: fmt.Sprintf("compact the history of cluster %x", cl.ID),
		Do: func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, 5*etcd.RequestTimeout)
			defer cancel()
			_, err := cl.Client.Compact(rctx, target, clientv3.WithCompactPhysical())
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil // another compaction got there first
			}
			return etcd.Explain(err)
		},
	}), nil
}

// compactedTo reports whether the history before rev is gone already: a
// read at rev-1 says so.
func compactedTo(ctx context.Context, c etcd.Client, rev int64) (bool, error) {
	if rev <= 1 {
		return true, nil
	}
	rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
	_, err := c.Get(rctx, "compact", clientv3.WithRev(rev-1), clientv3.WithCountOnly())
	cancel()
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return true, nil
	case err != nil:
		return false, etcd.Explain(err)
	}
	return false, nil
}
