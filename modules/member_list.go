package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type memberListArgs struct {
	etcd.ConnArgs
}

// member_list reads the etcd member table through the first target answering.
//
// It changes nothing.
//
// The result has members, a list with one dict per member: id (hex, as
// etcdctl prints it), name ("" for a member added but never started),
// peer_urls, client_urls, is_learner, started and is_leader; and
// cluster_id, leader (the leader's name, "" when there is none), voters
// (the number of voting members), pending (the membership change recorded
// as unfinished, as cluster_lock gives it, or None) and locked_by (who
// holds the cluster lock, "" when nobody does).
//
// Arguments: only those reaching the cluster, which every etcd module
// takes the same way:
//
//	dial            how member client URLs are reached (variable etcd_dial):
//	                "auto" (the default) forwards each through the SSH
//	                connection of its host, as ssh -L would, so port 2379
//	                need not be open to the control machine, and relays it
//	                through a bash command in an SSH session there when that
//	                host's sshd refuses port forwarding (AllowTcpForwarding
//	                no); "ssh" forwards only; "relay" relays only; "direct"
//	                dials from the control machine. Each call says in a
//	                warning when it relays.
//	direct          True is dial="direct" (variable etcd_direct)
//	cacert, cert, key, TLS files (variables etcd_cacert, etcd_cert,
//	                etcd_key): on the control machine, or on the member host
//	tls_from_host   True (variable etcd_tls_from_host). A CA makes the
//	                default scheme https.
//
// A member host's client URL is its variable etcd_client_url, else
// SCHEME://ADDRESS:2379 (etcd_client_scheme and etcd_client_port change
// the parts). Targets are tried in order; one whose etcd does not answer
// is skipped with a note. A TLS file on the control machine that is
// missing or not what it should be (no PEM in it, a key not of the
// certificate) is bad input, said before etcd is dialled. A certificate
// etcd and the client do not agree on (a wrong CA, a client certificate
// etcd does not trust) is said as such: it fails the call once no target
// does better, and wait_healthy does not wait for it to pass.
//
// Check mode: reads the cluster as outside it.
//
// Example:
//
//	ms = member_list(ctx.hosts("etcd"))
//	for m in ms.members:
//	    print(m["name"], m["id"], "leader" if m["is_leader"] else "")
var memberListModule = &engine.ClusterModule[memberListArgs]{
	Name: "member_list",
	Args: func(a *memberListArgs) []any { return a.Pairs() },
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *memberListArgs) (engine.Plan, error) {
		s, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		return planMemberList(ctx, s, cl, c.Set)
	},
}

// planMemberList reports the member table of cl.
func planMemberList(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, set func(string, any)) (engine.Plan, error) {
	var leader uint64
	rctx, cancel := context.WithTimeout(ctx, etcd.StatusTimeout)
	if st, err := cl.Client.Status(rctx, cl.URL); err == nil {
		leader = st.Leader
	}
	cancel()
	infos := etcd.SetMembers(set, cl, leader)
	leaderName, voters := "", 0
	var parts []string
	for _, m := range infos {
		p := m.Label()
		switch {
		case m.IsLeader:
			p += " (leader)"
			leaderName = m.Name
		case m.IsLearner:
			p += " (learner)"
		}
		if !m.IsLearner {
			voters++
		}
		parts = append(parts, p)
	}
	set("leader", leaderName)
	set("voters", voters)
	set("pending", nil)
	set("locked_by", "")
	if !cl.NoQuorum {
		// Both are reads of the cluster's own keys: best effort, a list
		// is what was asked.
		if ch, err := etcd.ReadChange(ctx, cl); err == nil {
			set("pending", changeData(ch))
		}
		if h, err := etcd.LockHolder(ctx, s, cl); err == nil && h != nil {
			set("locked_by", h.String())
		}
	}
	msg := fmt.Sprintf("%d %s: %s", len(infos), etcd.Plural(len(infos), "member", "members"), strings.Join(parts, ", "))
	if cl.NoQuorum {
		s.Warnf("the cluster did not answer a linearizable read: this member list is %s's own view and the cluster may have lost quorum", cl.URL)
		msg += " (no quorum: local view of " + cl.URL + ")"
	}
	return engine.NothingToDo("%s", msg), nil
}
