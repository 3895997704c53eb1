package etcd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// stops are the members this run is stopping right now, by cluster:
// hosts of one call plan in parallel, and each must count the others'
// stops, or all would pass the gate together.
type stops struct {
	mu sync.Mutex
	m  map[uint64]map[uint64]string // cluster ID -> member ID -> host
}

var runStops = engine.RunKey[*stops]{Name: "etcd members being stopped"}

// StopGate is the quorum gate of stopping (or restarting) the etcd member
// on the call's host. It reads the live cluster through the member
// itself, the hosts in more and the call's other hosts, by any way that
// works (see DialMode); takes the run's cluster lock; reads every
// member's status; and refuses, with the arithmetic, when the cluster
// would lose quorum, or when it cannot show that it would not: a cluster
// it cannot read, a member it cannot place. It returns what it found, for
// the result. force turns a refusal into a warning.
func StopGate(ctx context.Context, c *engine.HostCall, a *ConnArgs, more []*inventory.Host, verb, unit string, force bool) (string, error) {
	refuse := func(format string, args ...any) (string, error) {
		err := engine.Refuse(format, args...)
		if force {
			c.Warn("force=True overrides: %v", err)
			return "force=True: " + err.Error(), nil
		}
		return "", err
	}
	var others []*inventory.Host
	for _, h := range append(slices.Clone(more), c.Peers()...) {
		if h.Name != c.Host.Name && !slices.Contains(others, h) {
			others = append(others, h)
		}
	}
	s, tlsOn, err := HostSession(ctx, c, a, others)
	if err != nil {
		return "", err
	}
	own := ClientURL(c.Host, tlsOn)
	// The others first: the member being stopped may be one that was
	// just removed, or is shutting down, and hang a request until its
	// deadline; it is asked last, when no other answers.
	var urls []string
	for _, h := range others {
		if u := ClientURL(h, tlsOn); u != own && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	urls = append(urls, own)
	cl, err := s.Members(ctx, urls)
	if err != nil {
		return refuse("%s %s on %s: cannot read the cluster to check its quorum: %v. %sforce=True to override", verb, unit, c.Host.Name, err, readFix(err, len(others) == 0))
	}
	target := Target{Host: c.Host.Name, Name: MemberName(c.Host), ClientURL: own, PeerURL: PeerURL(c.Host)}
	m := target.Match(cl.Members)
	if m == nil {
		// No member has this host's name or URLs. Ask the etcd here who
		// it is: a member under another name is gated as itself.
		id, idErr := localMemberID(ctx, s, own)
		for _, cm := range cl.Members {
			if idErr == nil && cm.ID == id {
				m = cm
			}
		}
		if m == nil {
			if cl.NoQuorum {
				return refuse("%s %s on %s: no member of cluster %x has this host's name or URLs, and the member list came from %s alone (the cluster gave no linearizable answer): etcdplay cannot show what the etcd here counts for. Bring the cluster back, or force=True to override", verb, unit, c.Host.Name, cl.ID, cl.URL)
			}
			who := "no member of it (its etcd does not say who it is: " + ShortErr(idErr) + ")"
			if idErr == nil {
				who = fmt.Sprintf("member %x, which the cluster does not have (removed?)", id)
			}
			note := fmt.Sprintf("cluster %x has no member named %s or with its URLs; the etcd on %s is %s: stopping it cannot change the cluster's quorum", cl.ID, target.Name, c.Host.Name, who)
			return note, nil
		}
	}
	if err := Lock(ctx, c, s, cl); err != nil {
		if le, ok := err.(*LockError); ok {
			return refuse("%s %s on %s: %v; a stop is checked under the lock. Bring the cluster back, or force=True to override", verb, unit, c.Host.Name, le)
		}
		return "", err
	}
	// The statuses are read under the lock: no other run changes the
	// cluster between this reading and the stop.
	q := cl.View(s.Statuses(ctx, cl.Members))
	st := runStops.Get(c, func() *stops { return &stops{m: map[uint64]map[uint64]string{}} })
	st.mu.Lock()
	defer st.mu.Unlock()
	var peers []string
	for id, host := range st.m[cl.ID] {
		for i := range q.Members {
			if q.Members[i].ID == id && id != m.ID && q.Members[i].Healthy {
				q.Members[i].Healthy = false
				q.Members[i].Why = "is being stopped on " + host + " by this run"
				peers = append(peers, q.Members[i].Label())
			}
		}
	}
	v := q.Check(StepStop, m.ID, InfoOf(m, 0).Label())
	if !v.Safe && len(peers) > 0 {
		// Hosts of one call plan together; the cure is to take them one
		// at a time.
		v.Msg = strings.Replace(v.Msg, "Bring "+strings.Join(q.UnhealthyNames(), " and ")+" back first",
			"Stop or restart members one at a time (serial=1), each back before the next", 1)
	}
	if err := Gate(v, force, c.Warn); err != nil {
		return "", err
	}
	if st.m[cl.ID] == nil {
		st.m[cl.ID] = map[uint64]string{}
	}
	st.m[cl.ID][m.ID] = c.Host.Name
	id, member := cl.ID, m.ID
	context.AfterFunc(ctx, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		delete(st.m[id], member)
	})
	return v.Msg, nil
}

// readFix is what to do when the cluster could not be read: the fix a
// closed way names, else bring members back or give more of them.
func readFix(err error, alone bool) string {
	switch {
	case AsPathError(err) != nil:
		return "Or " // the error says how to open a way
	case AsTLSError(err) != nil:
		return "Fix the TLS files (cacert=, cert=, key=), or "
	case alone:
		return "Bring the member back, give cluster= (the other members' hosts), or "
	}
	return "Bring the members back, or "
}

// localMemberID is the member ID of the etcd answering at url, from its
// own status.
func localMemberID(ctx context.Context, s *Session, url string) (uint64, error) {
	cli, probed, err := s.reach(ctx, url)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	st, err := cli.Status(rctx, url)
	if err != nil {
		return 0, s.whyFailed(ctx, url, probed, err)
	}
	return st.Header.MemberId, nil
}
