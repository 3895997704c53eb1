package modules

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type downgradeArgs struct {
	Version string
	Action  string
	Timeout engine.Duration
	etcd.ConnArgs
}

// downgrade takes the cluster through the first step of etcd's downgrade
// procedure (etcd 3.6 on), as etcdctl downgrade validate, enable and
// cancel do: after it, each member's binary may be replaced with the
// older minor's, one at a time.
//
// action="enable" (the default) asks etcd whether the cluster can be
// downgraded to version (etcdctl downgrade validate), refusing (exit
// status 5) with etcd's answer when not, then enables the downgrade: the
// cluster version drops to the target at once, and each member rewrites
// its data for the older version (its storage version). It waits until
// every member that runs etcd 3.6 or later says its storage version is
// the target's: only then may its binary change. A downgrade to the same
// target enabled before (a run that stopped) is not enabled again; the
// wait is. action="validate" only asks; action="cancel" cancels a
// downgrade under way (members that run the older binary already stay).
// etcd ends the downgrade by itself once every member runs the target
// version.
//
// Arguments:
//
//	version   the minor to downgrade to ("3.5", or a release "3.5.35")
//	action    "enable" (default), "validate" or "cancel"
//	timeout   how long to wait for the members' storage versions
//	          (default 60s)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	          cluster: see etcdplay doc member_list
//
// The result has target ("3.5"), enabled (whether a downgrade is under
// way after the call) and storage_versions (member name to its storage
// version, "" for a member that does not say: one of etcd 3.5).
//
// Check mode: validates, and says what it would enable or cancel.
//
// Example:
//
//	downgrade(members, version = "3.5")
var downgradeModule = &engine.ClusterModule[downgradeArgs]{
	Name: "downgrade",
	Args: func(a *downgradeArgs) []any {
		return append([]any{"version", &a.Version, "action?", &a.Action, "timeout?", &a.Timeout}, a.Pairs()...)
	},
	Validate: func(a *downgradeArgs) error {
		v, ok := etcd.ParseVersion(a.Version)
		if !ok {
			return fmt.Errorf("version: %q is not an etcd version such as 3.5", a.Version)
		}
		a.Version = v.MinorString()
		switch a.Action {
		case "":
			a.Action = "enable"
		case "enable", "validate", "cancel":
		default:
			return fmt.Errorf("action: got %q, want \"enable\", \"validate\" or \"cancel\"", a.Action)
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *downgradeArgs) (engine.Plan, error) {
		s, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		return planDowngrade(ctx, s, cl, a, c.Set)
	},
}

// downgradeState is what the members say of a downgrade: whether one is
// enabled and to what, and each member's storage version.
type downgradeState struct {
	enabled bool
	target  string // "3.5.0"
	storage map[string]string
	pending []string // members whose storage version is not the target's yet
}

func readDowngrade(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, target string) (downgradeState, error) {
	st := downgradeState{storage: map[string]string{}}
	for _, ms := range s.Statuses(ctx, cl.Members) {
		name := etcd.InfoOf(ms.Member, 0).Label()
		if ms.Err != nil {
			return st, fmt.Errorf("%s: %s: every member must answer for a downgrade", name, etcd.DownWhy(ms.Err))
		}
		st.storage[name] = ms.Status.StorageVersion
		if di := ms.Status.DowngradeInfo; di != nil && di.Enabled {
			st.enabled, st.target = true, di.TargetVersion
		}
		// A member of etcd 3.5 has no storage version to report.
		if sv := ms.Status.StorageVersion; sv != "" {
			if v, _ := etcd.ParseVersion(sv); v.MinorString() != target {
				st.pending = append(st.pending, fmt.Sprintf("%s (storage version %s)", name, sv))
			}
		}
	}
	slices.Sort(st.pending)
	return st, nil
}

func planDowngrade(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *downgradeArgs, set func(string, any)) (engine.Plan, error) {
	st, err := readDowngrade(ctx, s, cl, a.Version)
	if err != nil {
		return engine.Plan{}, err
	}
	report := func(st downgradeState) {
		sv := map[string]any{}
		for k, v := range st.storage {
			sv[k] = v
		}
		set("target", a.Version)
		set("enabled", st.enabled)
		set("storage_versions", sv)
	}
	report(st)
	call := func(ctx context.Context, action clientv3.DowngradeAction) error {
		rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
		defer cancel()
		_, err := cl.Client.Downgrade(rctx, action, a.Version)
		return err
	}
	sameTarget := st.enabled && strings.HasPrefix(st.target, a.Version+".")
	switch a.Action {
	case "cancel":
		if !st.enabled {
			return engine.NothingToDo("no downgrade under way in cluster %x", cl.ID), nil
		}
		return engine.Do(engine.Action{Desc: "cancel the downgrade to " + st.target, Do: func(ctx context.Context) error {
			if err := call(ctx, clientv3.DowngradeCancel); err != nil {
				return fmt.Errorf("cancel: %w", etcd.Explain(err))
			}
			set("enabled", false)
			return nil
		}}), nil
	case "validate", "enable":
		if st.enabled && !sameTarget {
			return engine.Plan{}, engine.Refuse("cluster %x has a downgrade to %s under way, not to %s: finish that one first (the upgrade playbook with etcd_version of that minor), or cancel it (action=\"cancel\")", cl.ID, st.target, a.Version)
		}
		if !sameTarget {
			if err := call(ctx, clientv3.DowngradeValidate); err != nil {
				return engine.Plan{}, engine.Refuse("etcd refuses to downgrade cluster %x to %s: %v; nothing was changed", cl.ID, a.Version, etcd.Explain(err))
			}
		}
		if a.Action == "validate" {
			return engine.NothingToDo("cluster %x can be downgraded to %s", cl.ID, a.Version), nil
		}
	}
	var actions []engine.Action
	if !sameTarget {
		actions = append(actions, engine.Action{Desc: fmt.Sprintf("enable the downgrade of cluster %x to %s (etcdctl downgrade enable %s)", cl.ID, a.Version, a.Version),
			Do: func(ctx context.Context) error {
				if err := call(ctx, clientv3.DowngradeEnable); err != nil {
					return fmt.Errorf("enable %s: %w", a.Version, etcd.Explain(err))
				}
				return nil
			}})
	}
	if !sameTarget || len(st.pending) > 0 {
		timeout := time.Duration(a.Timeout)
		if timeout <= 0 {
			timeout = 60 * time.Second
		}
		actions = append(actions, engine.Action{Desc: fmt.Sprintf("wait until every member's storage version is %s", a.Version),
			Do: func(ctx context.Context) error {
				deadline := time.Now().Add(timeout)
				for {
					st, err := readDowngrade(ctx, s, cl, a.Version)
					if err == nil && st.enabled && len(st.pending) == 0 {
						report(st)
						return nil
					}
					why := "the downgrade is not enabled"
					if err != nil {
						why = err.Error()
					} else if len(st.pending) > 0 {
						why = "waiting for " + strings.Join(st.pending, ", ")
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("the members' data is not at storage version %s after %s: %s", a.Version, timeout, why)
					}
					s.Progressf("downgrade to %s: %s", a.Version, why)
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(500 * time.Millisecond):
					}
				}
			}})
	}
	if len(actions) == 0 {
		return engine.NothingToDo("the downgrade of cluster %x to %s is enabled and every member's data is at its storage version", cl.ID, a.Version), nil
	}
	return engine.Do(actions...), nil
}
