package modules

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type memberUpdateArgs struct {
	etcd.MemberArg
	PeerURLs engine.StringList
	Force    bool
	etcd.ConnArgs
}

// member_update changes the peer URLs of a member, as etcdctl member update.
//
// It is the first step of moving a member to a new address. The member
// must then be restarted listening on the new URLs (render_conf, systemd).
//
// Until it restarts, its peers dial the new URLs and cannot reach it, so
// the change counts as stopping the member for the quorum gate: it
// refuses when the cluster could not spare the member (see member_remove),
// unless force=True. Peer URLs that another member has are an error.
//
// Arguments:
//
//	name       the member, by exactly one of: its name,
//	id         its ID in hex, or
//	peer_url   one of its current peer URLs
//	peer_urls  its new peer URLs (a string or a list)
//	force      update even when the quorum gate refuses (with a warning)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	           cluster: see etcdplay doc member_list
//
// The result has member (after the change) and quorum.
//
// Check mode: reads the cluster, runs the gate, reports the change.
//
// Example:
//
//	member_update(rest, name = "etcd-2", peer_urls = ["http://10.77.0.22:2380"])
var memberUpdateModule = &engine.ClusterModule[memberUpdateArgs]{
	Name: "member_update",
	Args: func(a *memberUpdateArgs) []any {
		return append(append(a.MemberArg.Pairs(), "peer_urls?", &a.PeerURLs, "force?", &a.Force), a.ConnArgs.Pairs()...)
	},
	Validate: func(a *memberUpdateArgs) error {
		if err := a.MemberArg.Validate(); err != nil {
			return err
		}
		if len(a.PeerURLs) == 0 {
			return fmt.Errorf("peer_urls is missing: give the member's new peer URLs")
		}
		for _, u := range a.PeerURLs {
			if msg := etcd.CheckURL(u); msg != "" {
				return fmt.Errorf("peer_urls: %s", msg)
			}
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *memberUpdateArgs) (engine.Plan, error) {
		s, cl, err := etcd.OpenLocked(ctx, c, &a.ConnArgs, "updating "+a.MemberArg.String())
		if err != nil {
			return engine.Plan{}, err
		}
		return planMemberUpdate(ctx, s, cl, a, c.Set)
	},
}

func planMemberUpdate(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *memberUpdateArgs, set func(string, any)) (engine.Plan, error) {
	peers := []string(a.PeerURLs)
	m := a.MemberArg.Find(cl.Members)
	if m == nil {
		return engine.Plan{}, fmt.Errorf("%s is not a member of cluster %x (members: %s)", a.MemberArg.String(), cl.ID, memberLabels(cl))
	}
	mi := etcd.InfoOf(m, 0)
	if etcd.SameURLs(m.PeerURLs, peers) {
		set("member", mi.Data())
		return engine.NothingToDo("%s already has peer URLs %s", mi.Label(), strings.Join(peers, ",")), nil
	}
	for _, o := range cl.Members {
		if o.ID == m.ID {
			continue
		}
		for _, u := range peers {
			if slices.Contains(o.PeerURLs, u) {
				return engine.Plan{}, fmt.Errorf("updating %s: peer URL %s belongs to member %s", mi.Label(), u, etcd.InfoOf(o, 0).Label())
			}
		}
	}
	if cl.NoQuorum {
		return engine.Plan{}, engine.Refuse("updating %s needs a cluster with quorum, and the cluster did not answer a linearizable read through %s", mi.Label(), cl.URL)
	}
	v := cl.View(s.Statuses(ctx, cl.Members)).Check(etcd.StepStop, m.ID, mi.Label())
	set("quorum", v.Msg)
	if err := etcd.Gate(v, a.Force, s.Warnf); err != nil {
		return engine.Plan{}, err
	}
	after := mi
	after.PeerURLs = peers
	set("member", after.Data())
	return engine.Do(engine.Action{
		Desc: fmt.Sprintf("change the peer URLs of %s (id %x) from %s to %s", mi.Label(), m.ID, strings.Join(m.PeerURLs, ","), strings.Join(peers, ",")),
		Do: func(ctx context.Context) error {
			return etcd.Reconfigure(ctx, s, "update "+mi.Label(), v.Safe, func(ctx context.Context) error {
				_, err := cl.Client.MemberUpdate(ctx, m.ID, peers)
				return err
			})
		},
	}), nil
}
