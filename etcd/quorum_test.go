package etcd

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// view builds a cluster from a compact description: "1 2 3-" is three
// voters named etcd-1..3 with etcd-3 down; "L" after a digit marks a
// learner, "?" a voter that never started; a leading "Q" says the
// cluster answered a linearizable read.
func view(spec string) View {
	var q View
	for _, f := range strings.Fields(spec) {
		if f == "Q" {
			q.HasQuorum = true
			continue
		}
		id := uint64(f[0] - '0')
		m := MemberHealth{ID: id, Name: fmt.Sprintf("etcd-%d", id), Healthy: true}
		for _, c := range f[1:] {
			switch c {
			case '-':
				m.Healthy, m.Why = false, "is down"
			case 'L':
				m.Learner = true
			case '?':
				m.Name, m.Healthy, m.Why = "", false, "never started"
			}
		}
		q.Members = append(q.Members, m)
	}
	return q
}

func TestQuorumArithmetic(t *testing.T) {
	for _, tc := range []struct {
		spec                              string
		voters, healthy, quorum, tolerate int
	}{
		{"1", 1, 1, 1, 0},
		{"1 2", 2, 2, 2, 0},
		{"1 2 3", 3, 3, 2, 1},
		{"1 2 3-", 3, 2, 2, 0},
		{"1 2- 3-", 3, 1, 2, -1},
		{"1 2 3 4", 4, 4, 3, 1},
		{"1 2 3 4 5", 5, 5, 3, 2},
		{"1 2 3 4L", 3, 3, 2, 1},
		{"1 2 3 4?", 4, 3, 3, 0},
	} {
		q := view(tc.spec)
		if q.Voters() != tc.voters || q.HealthyVoters() != tc.healthy || q.Quorum() != tc.quorum || q.Tolerance() != tc.tolerate {
			t.Errorf("%q: voters %d healthy %d quorum %d tolerance %d, want %d %d %d %d", tc.spec,
				q.Voters(), q.HealthyVoters(), q.Quorum(), q.Tolerance(), tc.voters, tc.healthy, tc.quorum, tc.tolerate)
		}
	}
}

func TestQuorumGate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec string
		step Step
		id   uint64
		safe bool
		// msg is the verdict message exactly, or a substring when it
		// starts with "~".
		msg     string
		warning string // substring of the warning; "" means none
	}{
		{
			name: "remove healthy with a peer down",
			spec: "1 2 3-", step: StepRemove, id: 2,
			msg: "removing etcd-2 would lose quorum: 3 voting members, 2 healthy (etcd-3 is down); quorum is 2, fault tolerance 0; " +
				"after removing etcd-2, 2 voters with 1 healthy < quorum 2. Bring etcd-3 back first, or force=True to override.",
		},
		{
			name: "remove dead member, the replace case",
			spec: "1 2 3-", step: StepRemove, id: 3, safe: true,
			msg: "3 voting members, 2 healthy (etcd-3 is down); quorum is 2, fault tolerance 0; after removing etcd-3, 2 voters with 2 healthy, quorum 2, fault tolerance 0",
		},
		{
			name: "remove healthy from healthy three",
			spec: "1 2 3", step: StepRemove, id: 3, safe: true,
			msg:     "~after removing etcd-3, 2 voters with 2 healthy, quorum 2, fault tolerance 0",
			warning: "removing etcd-3 leaves no fault tolerance",
		},
		{
			name: "remove from five with one down",
			spec: "1 2 3 4 5-", step: StepRemove, id: 1, safe: true,
			msg:     "~after removing etcd-1, 4 voters with 3 healthy, quorum 3, fault tolerance 0",
			warning: "one more failure stops the cluster",
		},
		{
			name: "remove from five with two down",
			spec: "1 2 3 4- 5-", step: StepRemove, id: 1,
			msg: "~after removing etcd-1, 4 voters with 2 healthy < quorum 3. Bring etcd-4 and etcd-5 back first",
		},
		{
			name: "remove learner",
			spec: "1 2- 3 4L", step: StepRemove, id: 4, safe: true,
			msg: "~etcd-4 is a learner",
		},
		{
			name: "remove unstarted voter left by an interrupted add",
			spec: "1 2 3 4?", step: StepRemove, id: 4, safe: true,
			msg: "~after removing unstarted member 4, 3 voters with 3 healthy, quorum 2, fault tolerance 1",
		},
		{
			name: "remove the last member",
			spec: "1", step: StepRemove, id: 1,
			msg: "~without voting members",
		},
		{
			name: "remove with quorum already lost",
			spec: "1 2- 3-", step: StepRemove, id: 2,
			msg: "~already lost quorum. Bring etcd-2 or etcd-3 back first (a membership change needs quorum to commit), or force=True",
		},
		{
			name: "remove a member not in the list",
			spec: "1 2 3", step: StepRemove, id: 9, safe: true,
			msg: "~is not a member",
		},
		{
			name: "stop healthy with a peer down",
			spec: "1 2 3-", step: StepStop, id: 1,
			msg: "stopping etcd-1 would lose quorum: 3 voting members, 2 healthy (etcd-3 is down); quorum is 2, fault tolerance 0; " +
				"after stopping etcd-1, 3 voters with 1 healthy < quorum 2. Bring etcd-3 back first, or force=True to override.",
		},
		{
			name: "stop the down member",
			spec: "1 2 3-", step: StepStop, id: 3, safe: true,
			msg: "~after stopping etcd-3, 3 voters with 2 healthy, quorum 2, fault tolerance 0",
		},
		{
			name: "stop one of three for a rolling restart",
			spec: "1 2 3", step: StepStop, id: 2, safe: true,
			warning: "stopping etcd-2 leaves no fault tolerance",
		},
		{
			name: "stop with quorum lost as seen is refused",
			spec: "1 2- 3-", step: StepStop, id: 1,
			msg: "~the cluster has lost quorum as etcdplay sees it, and a member it cannot reach may still count. Bring etcd-2 or etcd-3 back first, or force=True if you are recovering",
		},
		{
			name: "stop when the cluster has quorum but etcdplay sees too few",
			spec: "Q 1 2- 3-", step: StepStop, id: 1,
			msg: "~the cluster has quorum (it answered a linearizable read), but etcdplay reached only 1 of its 3 voters: etcd-2 is down, etcd-3 is down; it cannot show that the cluster keeps quorum",
		},
		{
			name: "remove from two members",
			spec: "1 2", step: StepRemove, id: 2,
			msg: "~removing etcd-2 from a two-member cluster is unsafe",
		},
		{
			name: "stop one of two",
			spec: "1 2", step: StepStop, id: 1,
			msg: "~after stopping etcd-1, 2 voters with 1 healthy < quorum 2. Add a member first",
		},
		{
			name: "wipe a healthy voter with a peer down",
			spec: "1 2 3-", step: StepWipe, id: 2,
			msg: "~wiping the data of etcd-2 would lose quorum",
		},
		{
			name: "wipe with quorum lost",
			spec: "1 2- 3-", step: StepWipe, id: 3,
			msg: "~wiping the data of etcd-3 needs a cluster with quorum",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := view(tc.spec).Check(tc.step, tc.id, "")
			if v.Safe != tc.safe {
				t.Fatalf("safe = %v, want %v: %s", v.Safe, tc.safe, v.Msg)
			}
			if sub, ok := strings.CutPrefix(tc.msg, "~"); ok {
				if !strings.Contains(v.Msg, sub) {
					t.Errorf("message\n\t%s\ndoes not contain\n\t%s", v.Msg, sub)
				}
			} else if tc.msg != "" && v.Msg != tc.msg {
				t.Errorf("message\n\t%s\nwant\n\t%s", v.Msg, tc.msg)
			}
			if tc.warning == "" && v.Warning != "" && tc.safe {
				t.Errorf("unexpected warning: %s", v.Warning)
			}
			if tc.warning != "" && !strings.Contains(v.Warning, tc.warning) {
				t.Errorf("warning %q does not contain %q", v.Warning, tc.warning)
			}
		})
	}
}

func TestExplainEtcd(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		cause string // substring; "" means not recognised
	}{
		{"rafthttp: request cluster ID mismatch", "belong to different clusters"},
		{"etcdserver: cluster ID mismatch", "belong to different clusters"},
		{"error validating peerURLs {...}: member count is unequal", "does not list the same members"},
		{"error validating peerURLs: unmatched member while checking PeerURLs", "does not match the peer URLs"},
		{"PeerURLs: no match found for existing member (8e9e05c52164694d, [http://10.0.0.1:2380])", "does not match the peer URLs"},
		{"the member has been permanently removed from the cluster", "was removed from the cluster"},
		{"etcdserver: too many learner members in cluster", "as many learners as it allows"},
		{"etcdserver: can only promote a learner member which is in sync with leader", "has not caught up"},
		{"etcdserver: can only promote a learner member", "already a voting member"},
		{"etcdserver: Peer URLs already exists", "already has this peer URL"},
		{"etcdserver: re-configuration failed due to not enough started members", "too few started members"},
		{"member 8e9e05c52164694d has already been bootstrapped", "data dir was lost"},
		{"couldn't find local name \"etcd-4\" in the initial cluster configuration", "ETCD_NAME is not one of the names"},
		{"etcdserver: mvcc: database space exceeded", "NOSPACE"},
		{"dial tcp 127.0.0.1:2379: connection refused", ""},
	} {
		err := Explain(errors.New(tc.msg))
		var ee *ExplainedError
		if tc.cause == "" {
			if errors.As(err, &ee) {
				t.Errorf("%q: explained as %q, want unrecognised", tc.msg, ee.Cause)
			}
			continue
		}
		if !errors.As(err, &ee) {
			t.Errorf("%q: not recognised", tc.msg)
			continue
		}
		if !strings.Contains(ee.Cause, tc.cause) || ee.Fix == "" {
			t.Errorf("%q: cause %q, want it to contain %q (fix %q)", tc.msg, ee.Cause, tc.cause, ee.Fix)
		}
		if !strings.HasPrefix(err.Error(), tc.msg+" (cause: ") {
			t.Errorf("%q: message %q should start with etcd's own text", tc.msg, err.Error())
		}
		if again := Explain(fmt.Errorf("member_add: %w", err)); strings.Count(again.Error(), "cause:") != 1 {
			t.Errorf("explained twice: %s", again)
		}
	}
}

func TestQuorumGateAdd(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		safe    bool
		msg     string
		warning string
	}{
		{"1 2 3", true, "after adding etcd-4 (not started yet), 4 voters with 3 healthy, quorum 3, fault tolerance 0", "tolerates no failure"},
		{"1 2 3-", false, "after adding etcd-4 (not started yet), 4 voters with 2 healthy < quorum 3. Add it as a learner (learner=True), start it, then promote it (member_promote); or bring etcd-3 back first", ""},
		{"1", false, "2 voters with 1 healthy < quorum 2. Add it as a learner", ""},
		{"1 2 3 4 5", true, "6 voters with 5 healthy, quorum 4, fault tolerance 1", ""},
		{"1 2- 3-", false, "already lost quorum", ""},
	} {
		v := view(tc.spec).CheckAdd("etcd-4")
		if v.Safe != tc.safe || !strings.Contains(v.Msg, tc.msg) || !strings.Contains(v.Warning, tc.warning) || (tc.warning == "" && v.Warning != "") {
			t.Errorf("%q: safe=%v msg=%q warning=%q; want safe=%v msg containing %q, warning %q", tc.spec, v.Safe, v.Msg, v.Warning, tc.safe, tc.msg, tc.warning)
		}
	}
}
