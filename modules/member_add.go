package modules

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type memberAddArgs struct {
	Name     string
	PeerURLs engine.StringList
	Learner  bool
	Force    bool
	etcd.ConnArgs
}

// member_add adds a member to the etcd cluster, as etcdctl member add does.
//
// It returns what the new member must start with.
//
// It is idempotent: a member that already has these peer URLs is returned
// rather than added again, so a replace that stopped half way resumes with
// the member it added (an unstarted member is reused whatever name it
// will take). A started member with the same name but other peer URLs is
// an error (move it with member_update, or remove it first), as is a peer
// URL that another member has.
//
// Adding a voting member that has not started yet raises the quorum at
// once; when that would leave the cluster without quorum (one member
// down in three, or a single-member cluster) the call refuses, showing the
// arithmetic, unless force=True. learner=True avoids that: the learner
// catches up without a vote and member_promote makes it a voter.
//
// Arguments:
//
//	name       the new member's name (its ETCD_NAME)
//	peer_urls  its peer URLs (a string or a list)
//	learner    add as a non-voting learner (default False)
//	force      add even when the quorum gate refuses (with a warning)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	           cluster: see etcdplay doc member_list
//
// The result has member (a dict as member_list gives: id, name,
// peer_urls, client_urls, is_learner, started, is_leader), member_id,
// initial_cluster (the exact ETCD_INITIAL_CLUSTER the new member starts
// with, every current member included, as etcdctl member add prints it),
// state ("existing", its ETCD_INITIAL_CLUSTER_STATE) and members.
//
// Check mode: reads the cluster and reports the member it would add, with
// the initial_cluster it would return (member_id is "" then).
//
// Example:
//
//	m = member_add(rest, name = new.name, peer_urls = [peer_url(new)], learner = True)
//	render_conf(new, dest = "/etc/etcd/etcd.conf",
//	            values = etcd_conf(new, m.initial_cluster, state = m.state))
var memberAddModule = &engine.ClusterModule[memberAddArgs]{
	Name: "member_add",
	Args: func(a *memberAddArgs) []any {
		return append([]any{"name", &a.Name, "peer_urls", &a.PeerURLs, "learner?", &a.Learner, "force?", &a.Force}, a.Pairs()...)
	},
	Validate: func(a *memberAddArgs) error {
		if a.Name == "" {
			return fmt.Errorf("name is empty")
		}
		if len(a.PeerURLs) == 0 {
			return fmt.Errorf("peer_urls is empty: give the new member's peer URL, e.g. http://10.0.0.4:2380")
		}
		for _, u := range a.PeerURLs {
			if msg := etcd.CheckURL(u); msg != "" {
				return fmt.Errorf("peer_urls: %s", msg)
			}
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *memberAddArgs) (engine.Plan, error) {
		s, cl, err := etcd.OpenLocked(ctx, c, &a.ConnArgs, "adding "+a.Name)
		if err != nil {
			return engine.Plan{}, err
		}
		p, err := planMemberAdd(ctx, s, cl, a, c.Set)
		if err == nil && c.Check && len(p.Actions) > 0 {
			checkRunOf(c.HostCall).wouldAdd(a.Name, a.Learner)
		}
		return p, err
	},
}

// planMemberAdd decides on adding a member to cl.
func planMemberAdd(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *memberAddArgs, set func(string, any)) (engine.Plan, error) {
	peers := []string(a.PeerURLs)
	if cl.NoQuorum {
		return engine.Plan{}, engine.Refuse("adding %s needs a cluster with quorum, and the cluster did not answer a linearizable read through %s (it may have lost quorum); check it with wait_healthy", a.Name, cl.URL)
	}
	for _, m := range cl.Members {
		shared := slices.DeleteFunc(slices.Clone(m.PeerURLs), func(u string) bool { return !slices.Contains(peers, u) })
		switch {
		case len(shared) == 0:
			continue
		case !etcd.SameURLs(m.PeerURLs, peers):
			return engine.Plan{}, fmt.Errorf("adding %s: peer URL %s already belongs to member %s (peer URLs %s); give all its peer URLs to reuse it, or remove it first",
				a.Name, shared[0], etcd.InfoOf(m, 0).Label(), strings.Join(m.PeerURLs, ","))
		case m.Name != "" && m.Name != a.Name:
			return engine.Plan{}, fmt.Errorf("adding %s: peer URLs %s belong to started member %s (id %x): remove it first (member_remove), or use another peer URL",
				a.Name, strings.Join(peers, ","), m.Name, m.ID)
		}
		// The member is there already: from an earlier run that stopped,
		// or a re-run of a finished one. Report it as member_add would.
		mi := etcd.InfoOf(m, 0)
		setAdded(set, cl.Members, m.ID, a.Name, mi)
		state := "started"
		if !mi.Started() {
			state = "not started yet"
		}
		kind := "voting member"
		if m.IsLearner {
			kind = "learner"
		}
		if a.Learner != m.IsLearner {
			if m.IsLearner {
				s.Warnf("%s is already a member as a learner (id %x); promote it with member_promote once it has caught up", a.Name, m.ID)
			} else {
				s.Warnf("%s is already a voting member (id %x), not a learner", a.Name, m.ID)
			}
		}
		return engine.NothingToDo("%s is already a member with peer URLs %s (id %x, %s, %s)", a.Name, strings.Join(peers, ","), m.ID, kind, state), nil
	}
	if m := etcd.FindMember(cl.Members, a.Name, "", ""); m != nil {
		return engine.Plan{}, fmt.Errorf("adding %s: a member named %s already exists (id %x) with peer URLs %s: move it to new peer URLs with member_update, or remove it first with member_remove",
			a.Name, a.Name, m.ID, strings.Join(m.PeerURLs, ","))
	}
	if learners := learnerNames(cl); a.Learner && len(learners) > 0 {
		s.Warnf("the cluster has a learner already (%s); etcd allows one by default (--max-learners): promote or remove it first if the add is refused", strings.Join(learners, ", "))
	}
	gateSafe := true
	if !a.Learner {
		v := cl.View(s.Statuses(ctx, cl.Members)).CheckAdd(a.Name)
		if err := etcd.Gate(v, a.Force, s.Warnf); err != nil {
			return engine.Plan{}, err
		}
		gateSafe = v.Safe
	}
	// What the result will say, known before the change so that a check
	// run shows the configuration the new member would get.
	predicted := append(slices.Clone(cl.Members), &etcd.Member{Name: a.Name, PeerURLs: peers, IsLearner: a.Learner})
	setAdded(set, predicted, 0, a.Name, etcd.MemberInfo{Name: "", PeerURLs: peers, IsLearner: a.Learner})
	kind := "a voting member"
	if a.Learner {
		kind = "a learner"
	}
	return engine.Do(engine.Action{
		Desc: fmt.Sprintf("add %s (%s) as %s", a.Name, strings.Join(peers, ","), kind),
		Do: func(ctx context.Context) error {
			var resp *clientv3.MemberAddResponse
			err := etcd.Reconfigure(ctx, s, "add "+a.Name, gateSafe, func(ctx context.Context) error {
				var err error
				if a.Learner {
					resp, err = cl.Client.MemberAddAsLearner(ctx, peers)
				} else {
					resp, err = cl.Client.MemberAdd(ctx, peers)
				}
				return err
			})
			if err != nil {
				return err
			}
			setAdded(set, resp.Members, resp.Member.ID, a.Name, etcd.InfoOf(resp.Member, 0))
			return nil
		},
	}), nil
}

// setAdded records the added member and the configuration it starts with.
// newID is the new member's ID in members (0 when it is not added yet: the
// member named name without an ID is it).
func setAdded(set func(string, any), members []*etcd.Member, newID uint64, name string, m etcd.MemberInfo) {
	set("member", m.Data())
	if newID != 0 {
		set("member_id", fmt.Sprintf("%x", newID))
	} else {
		set("member_id", "")
	}
	set("initial_cluster", initialCluster(members, newID, name))
	set("state", "existing")
	var all []any
	for _, x := range members {
		all = append(all, etcd.InfoOf(x, 0).Data())
	}
	set("members", all)
}

// initialCluster is the ETCD_INITIAL_CLUSTER a new member starts with, as
// etcdctl member add prints it: NAME=PEER_URL for every peer URL of every
// member, the new member under its new name (it has none in the list
// before it starts). Other unstarted members have no name; etcdctl writes
// "=URL" for them and etcd accepts it.
//
// The members are listed by name (then ID), so the string is the same
// whichever member answered and in check mode.
func initialCluster(members []*etcd.Member, newID uint64, name string) string {
	type entry struct {
		name string
		id   uint64
		urls []string
	}
	var es []entry
	for _, m := range members {
		n := m.Name
		if m.ID == newID && (newID != 0 || m.Name == name) {
			n = name
		}
		es = append(es, entry{n, m.ID, m.PeerURLs})
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var parts []string
	for _, e := range es {
		for _, u := range e.urls {
			parts = append(parts, e.name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

func learnerNames(cl *etcd.Cluster) []string {
	var ns []string
	for _, m := range cl.Members {
		if m.IsLearner {
			ns = append(ns, etcd.InfoOf(m, 0).Label())
		}
	}
	return ns
}
