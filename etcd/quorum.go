package etcd

import (
	"fmt"
	"slices"
	"strings"
)

// MemberHealth is what the quorum gate knows about one member of the live
// cluster: its place in the member list and whether it answered.
type MemberHealth struct {
	ID      uint64
	Name    string // "" for a member that never started
	Learner bool
	// Healthy is set when the member answered a status request and sees a
	// leader: it takes part in quorum right now.
	Healthy bool
	// Why says why a member is not healthy: "is down (connection
	// refused)", "has no leader", "never started".
	Why string
}

// label names a member in messages: its name, or its ID when it never
// started (an unstarted member has no name).
func (m MemberHealth) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("unstarted member %x", m.ID)
}

// View is the live cluster as the quorum gate sees it.
type View struct {
	Members []MemberHealth
	// HasQuorum is set when the cluster answered a linearizable read: it
	// has quorum, whatever the members etcdplay reached say.
	HasQuorum bool
}

// Step is a change the gate is asked about.
type Step int

const (
	// StepRemove removes the member from the cluster (member_remove).
	StepRemove Step = iota
	// StepStop stops the member for a while (systemd stop or restart).
	StepStop
	// StepWipe destroys the member's data: it stops counting as healthy
	// and can never come back under its ID.
	StepWipe
	// StepDefrag defragments the member's database: it answers nothing
	// until that is done, as if it were stopped.
	StepDefrag
)

func (s Step) gerund() string {
	switch s {
	case StepRemove:
		return "removing"
	case StepStop:
		return "stopping"
	case StepDefrag:
		return "defragmenting"
	default:
		return "wiping the data of"
	}
}

// voters is the number of voting members (learners do not vote).
func (q View) Voters() int {
	n := 0
	for _, m := range q.Members {
		if !m.Learner {
			n++
		}
	}
	return n
}

// healthyVoters is the number of voting members that answered.
func (q View) HealthyVoters() int {
	n := 0
	for _, m := range q.Members {
		if !m.Learner && m.Healthy {
			n++
		}
	}
	return n
}

// QuorumOf is the number of voters a raft cluster of n voters needs to
// commit anything: a strict majority.
func QuorumOf(voters int) int { return voters/2 + 1 }

// quorum is the majority the cluster needs now.
func (q View) Quorum() int { return QuorumOf(q.Voters()) }

// tolerance is how many more healthy voters the cluster can lose and still
// have quorum; negative when it has lost quorum already.
func (q View) Tolerance() int { return q.HealthyVoters() - q.Quorum() }

// find returns the member with the given ID.
func (q View) Find(id uint64) (MemberHealth, bool) {
	for _, m := range q.Members {
		if m.ID == id {
			return m, true
		}
	}
	return MemberHealth{}, false
}

// after returns the cluster as it would be after step on member id.
func (q View) After(step Step, id uint64) View {
	var out View
	for _, m := range q.Members {
		if m.ID == id {
			if step == StepRemove {
				continue
			}
			m.Healthy = false
		}
		out.Members = append(out.Members, m)
	}
	return out
}

// unhealthy lists the voters that are not healthy, with why: "etcd-3 is
// down".
func (q View) Unhealthy() []string {
	var out []string
	for _, m := range q.Members {
		if !m.Learner && !m.Healthy {
			why := m.Why
			if why == "" {
				why = "is down"
			}
			out = append(out, m.Label()+" "+why)
		}
	}
	return out
}

// summary is the state before a step: "3 voting members, 2 healthy
// (etcd-3 is down); quorum is 2, fault tolerance 0".
func (q View) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d voting %s, %d healthy", q.Voters(), Plural(q.Voters(), "member", "members"), q.HealthyVoters())
	if bad := q.Unhealthy(); len(bad) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(bad, ", "))
	}
	if l := q.Learners(); l > 0 {
		fmt.Fprintf(&b, ", %d %s", l, Plural(l, "learner", "learners"))
	}
	fmt.Fprintf(&b, "; quorum is %d, fault tolerance %d", q.Quorum(), max(q.Tolerance(), 0))
	return b.String()
}

func (q View) Learners() int { return len(q.Members) - q.Voters() }

// Verdict is the gate's answer about one step.
type Verdict struct {
	// Safe is set when the cluster keeps quorum through the step.
	Safe bool
	// Msg explains the verdict with the arithmetic. For a refusal it says
	// how to proceed; for a safe step it is a one-line account for the
	// result ("3 voting members, 3 healthy; quorum is 2, fault tolerance
	// 1; after removing etcd-2: 2 voters, 2 healthy, quorum 2, fault
	// tolerance 0").
	Msg string
	// Warning, when set on a safe step, is something the operator should
	// hear: the step leaves no fault tolerance, or the cluster had no
	// quorum to lose.
	Warning string
}

// check decides whether step on the member with the given ID keeps the
// cluster's quorum. name is how the caller names the member (used when
// the ID is not in the list). A member not in the list cannot change the
// quorum: the step is safe.
func (q View) Check(step Step, id uint64, name string) Verdict {
	gerund := step.gerund()
	m, ok := q.Find(id)
	if ok && name == "" {
		name = m.Label()
	}
	if !ok {
		return Verdict{Safe: true, Msg: fmt.Sprintf("%s is not a member of the cluster (%s)", name, q.Summary())}
	}
	a := q.After(step, id)
	afterText := fmt.Sprintf("after %s %s, %d %s with %d healthy", gerund, name, a.Voters(), Plural(a.Voters(), "voter", "voters"), a.HealthyVoters())
	switch {
	case m.Learner:
		// A learner does not vote: removing or stopping it never changes
		// the quorum.
		return Verdict{Safe: true, Msg: fmt.Sprintf("%s is a learner, it does not count towards quorum (%s)", name, q.Summary())}

	case q.HealthyVoters() < q.Quorum() && q.HasQuorum:
		// The cluster answered a linearizable read, so it has quorum: the
		// voters etcdplay did not reach count, and it cannot tell which
		// of them do. What the step does to quorum is unknown.
		return Verdict{Msg: fmt.Sprintf("%s %s: the cluster has quorum (it answered a linearizable read), but etcdplay reached only %d of its %d voters: %s; it cannot show that the cluster keeps quorum. Make %s reachable from here, or force=True to override.",
			gerund, name, q.HealthyVoters(), q.Voters(), strings.Join(q.Unhealthy(), ", "), OrList(q.UnhealthyNames()))}

	case q.HealthyVoters() < q.Quorum():
		// The cluster has lost quorum already. A membership change cannot
		// commit; wiping a voter may destroy the only copy of recent
		// data. Stopping a member cannot make availability worse only if
		// etcdplay sees every member, which it cannot show when so many
		// do not answer: that is for an operator who is recovering.
		fix := "Bring " + OrList(q.UnhealthyNames()) + " back first"
		switch step {
		case StepRemove:
			fix += " (a membership change needs quorum to commit)"
		case StepStop, StepDefrag:
			return Verdict{Msg: fmt.Sprintf("%s %s: %s: the cluster has lost quorum as etcdplay sees it, and a member it cannot reach may still count. %s, or force=True if you are recovering the cluster and mean to stop it.", gerund, name, q.Summary(), fix)}
		}
		return Verdict{Msg: fmt.Sprintf("%s %s needs a cluster with quorum: %s: the cluster has already lost quorum. %s, or force=True to override.", gerund, name, q.Summary(), fix)}

	case step == StepRemove && q.Voters() == 2:
		// etcd's runtime reconfiguration guide: the majority of two is
		// two, so the removal needs both members, and a failure while it
		// commits leaves a cluster that cannot make progress.
		return Verdict{Msg: fmt.Sprintf("removing %s from a two-member cluster is unsafe: %s; the removal needs both members to commit, and if one fails meanwhile the cluster cannot make progress. Add a member first, or force=True to override.", name, q.Summary())}

	case step == StepRemove && a.Voters() == 0:
		return Verdict{Msg: fmt.Sprintf("removing %s would leave the cluster without voting members (%s). Add another member first, or force=True to override.", name, q.Summary())}

	case a.HealthyVoters() < a.Quorum():
		var fix string
		if bad := q.UnhealthyNames(); len(bad) > 0 {
			fix = "Bring " + strings.Join(bad, " and ") + " back first"
		} else {
			fix = "Add a member first"
		}
		return Verdict{Msg: fmt.Sprintf("%s %s would lose quorum: %s; %s < quorum %d. %s, or force=True to override.",
			gerund, name, q.Summary(), afterText, a.Quorum(), fix)}
	}
	msg := fmt.Sprintf("%s; %s, quorum %d, fault tolerance %d", q.Summary(), afterText, a.Quorum(), a.Tolerance())
	v := Verdict{Safe: true, Msg: msg}
	if a.Tolerance() == 0 && m.Healthy {
		v.Warning = fmt.Sprintf("%s %s leaves no fault tolerance: %d %s with %d healthy, quorum %d; one more failure stops the cluster",
			gerund, name, a.Voters(), Plural(a.Voters(), "voter", "voters"), a.HealthyVoters(), a.Quorum())
	}
	return v
}

// unhealthyNames lists the voters that are not healthy by name.
func (q View) UnhealthyNames() []string {
	var out []string
	for _, m := range q.Members {
		if !m.Learner && !m.Healthy {
			out = append(out, m.Label())
		}
	}
	return out
}

func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// OrList joins names as "a", "a or b", "a, b or c".
func OrList(names []string) string {
	switch len(names) {
	case 0:
		return "the stopped members"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// checkAdd decides whether adding a voting member that has not started yet
// keeps quorum: it counts towards the quorum at once but answers only once
// it runs, so a cluster with no fault tolerance to spare loses quorum
// until the new member is up. Adding a learner never changes the quorum.
func (q View) CheckAdd(name string) Verdict {
	a := View{Members: append(slices.Clone(q.Members), MemberHealth{Name: name, Why: "not started yet"})}
	afterText := fmt.Sprintf("after adding %s (not started yet), %d voters with %d healthy", name, a.Voters(), a.HealthyVoters())
	switch {
	case q.HealthyVoters() < q.Quorum():
		return Verdict{Msg: fmt.Sprintf("adding %s needs a cluster with quorum: %s: the cluster has already lost quorum. Bring %s back first, or force=True to override.",
			name, q.Summary(), OrList(q.UnhealthyNames()))}
	case a.HealthyVoters() < a.Quorum():
		fix := "Add it as a learner (learner=True), start it, then promote it (member_promote)"
		if bad := q.UnhealthyNames(); len(bad) > 0 {
			fix += "; or bring " + strings.Join(bad, " and ") + " back first"
		}
		return Verdict{Msg: fmt.Sprintf("adding %s as a voting member would lose quorum until it starts: %s; %s < quorum %d. %s, or force=True to override.",
			name, q.Summary(), afterText, a.Quorum(), fix)}
	}
	v := Verdict{Safe: true, Msg: fmt.Sprintf("%s; %s, quorum %d, fault tolerance %d", q.Summary(), afterText, a.Quorum(), a.Tolerance())}
	if a.Tolerance() == 0 {
		v.Warning = fmt.Sprintf("until %s starts the cluster tolerates no failure (%d voters, %d healthy, quorum %d); adding it as a learner first avoids this",
			name, a.Voters(), a.HealthyVoters(), a.Quorum())
	}
	return v
}
