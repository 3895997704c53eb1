package modules

import (
	"fmt"
	"slices"
	"strings"
)

// memberHealth is what the quorum gate knows about one member of the live
// cluster: its place in the member list and whether it answered.
type memberHealth struct {
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
func (m memberHealth) label() string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("unstarted member %x", m.ID)
}

// quorumView is the live cluster as the quorum gate sees it.
type quorumView struct {
	Members []memberHealth
}

// quorumStep is a change the gate is asked about.
type quorumStep int

const (
	// stepRemove removes the member from the cluster (member_remove).
	stepRemove quorumStep = iota
	// stepStop stops the member for a while (systemd stop or restart).
	stepStop
	// stepWipe destroys the member's data: it stops counting as healthy
	// and can never come back under its ID.
	stepWipe
)

func (s quorumStep) gerund() string {
	switch s {
	case stepRemove:
		return "removing"
	case stepStop:
		return "stopping"
	default:
		return "wiping the data of"
	}
}

// voters is the number of voting members (learners do not vote).
func (q quorumView) voters() int {
	n := 0
	for _, m := range q.Members {
		if !m.Learner {
			n++
		}
	}
	return n
}

// healthyVoters is the number of voting members that answered.
func (q quorumView) healthyVoters() int {
	n := 0
	for _, m := range q.Members {
		if !m.Learner && m.Healthy {
			n++
		}
	}
	return n
}

// quorumOf is the number of voters a raft cluster of n voters needs to
// commit anything: a strict majority.
func quorumOf(voters int) int { return voters/2 + 1 }

// quorum is the majority the cluster needs now.
func (q quorumView) quorum() int { return quorumOf(q.voters()) }

// tolerance is how many more healthy voters the cluster can lose and still
// have quorum; negative when it has lost quorum already.
func (q quorumView) tolerance() int { return q.healthyVoters() - q.quorum() }

// find returns the member with the given ID.
func (q quorumView) find(id uint64) (memberHealth, bool) {
	for _, m := range q.Members {
		if m.ID == id {
			return m, true
		}
	}
	return memberHealth{}, false
}

// after returns the cluster as it would be after step on member id.
func (q quorumView) after(step quorumStep, id uint64) quorumView {
	var out quorumView
	for _, m := range q.Members {
		if m.ID == id {
			if step == stepRemove {
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
func (q quorumView) unhealthy() []string {
	var out []string
	for _, m := range q.Members {
		if !m.Learner && !m.Healthy {
			why := m.Why
			if why == "" {
				why = "is down"
			}
			out = append(out, m.label()+" "+why)
		}
	}
	return out
}

// summary is the state before a step: "3 voting members, 2 healthy
// (etcd-3 is down); quorum is 2, fault tolerance 0".
func (q quorumView) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d voting %s, %d healthy", q.voters(), plural(q.voters(), "member", "members"), q.healthyVoters())
	if bad := q.unhealthy(); len(bad) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(bad, ", "))
	}
	if l := q.learners(); l > 0 {
		fmt.Fprintf(&b, ", %d %s", l, plural(l, "learner", "learners"))
	}
	fmt.Fprintf(&b, "; quorum is %d, fault tolerance %d", q.quorum(), max(q.tolerance(), 0))
	return b.String()
}

func (q quorumView) learners() int { return len(q.Members) - q.voters() }

// quorumVerdict is the gate's answer about one step.
type quorumVerdict struct {
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
func (q quorumView) check(step quorumStep, id uint64, name string) quorumVerdict {
	gerund := step.gerund()
	m, ok := q.find(id)
	if ok && name == "" {
		name = m.label()
	}
	if !ok {
		return quorumVerdict{Safe: true, Msg: fmt.Sprintf("%s is not a member of the cluster (%s)", name, q.summary())}
	}
	a := q.after(step, id)
	afterText := fmt.Sprintf("after %s %s, %d %s with %d healthy", gerund, name, a.voters(), plural(a.voters(), "voter", "voters"), a.healthyVoters())
	switch {
	case m.Learner:
		// A learner does not vote: removing or stopping it never changes
		// the quorum.
		return quorumVerdict{Safe: true, Msg: fmt.Sprintf("%s is a learner, it does not count towards quorum (%s)", name, q.summary())}

	case q.healthyVoters() < q.quorum():
		// The cluster has lost quorum already. A membership change cannot
		// commit; wiping a voter may destroy the only copy of recent
		// data. Stopping (or restarting) a member changes nothing for
		// availability and may be how the operator recovers, so it is
		// allowed with a warning.
		msg := fmt.Sprintf("%s: %s: the cluster has already lost quorum", name, q.summary())
		if step == stepStop {
			return quorumVerdict{Safe: true, Msg: msg, Warning: msg + "; stopping " + name + " does not make it worse"}
		}
		fix := "Bring " + orList(q.unhealthyNames()) + " back first"
		if step == stepRemove {
			fix += " (a membership change needs quorum to commit)"
		}
		return quorumVerdict{Msg: fmt.Sprintf("%s %s needs a cluster with quorum: %s: the cluster has already lost quorum. %s, or force=True to override.", gerund, name, q.summary(), fix)}

	case step == stepRemove && a.voters() == 0:
		return quorumVerdict{Msg: fmt.Sprintf("removing %s would leave the cluster without voting members (%s). Add another member first, or force=True to override.", name, q.summary())}

	case a.healthyVoters() < a.quorum():
		var fix string
		if bad := q.unhealthyNames(); len(bad) > 0 {
			fix = "Bring " + strings.Join(bad, " and ") + " back first"
		} else {
			fix = "Add a member first"
		}
		return quorumVerdict{Msg: fmt.Sprintf("%s %s would lose quorum: %s; %s < quorum %d. %s, or force=True to override.",
			gerund, name, q.summary(), afterText, a.quorum(), fix)}
	}
	msg := fmt.Sprintf("%s; %s, quorum %d, fault tolerance %d", q.summary(), afterText, a.quorum(), a.tolerance())
	v := quorumVerdict{Safe: true, Msg: msg}
	if a.tolerance() == 0 && m.Healthy {
		v.Warning = fmt.Sprintf("%s %s leaves no fault tolerance: %d %s with %d healthy, quorum %d; one more failure stops the cluster",
			gerund, name, a.voters(), plural(a.voters(), "voter", "voters"), a.healthyVoters(), a.quorum())
	}
	return v
}

// unhealthyNames lists the voters that are not healthy by name.
func (q quorumView) unhealthyNames() []string {
	var out []string
	for _, m := range q.Members {
		if !m.Learner && !m.Healthy {
			out = append(out, m.label())
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
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
func (q quorumView) checkAdd(name string) quorumVerdict {
	a := quorumView{Members: append(slices.Clone(q.Members), memberHealth{Name: name, Why: "not started yet"})}
	afterText := fmt.Sprintf("after adding %s (not started yet), %d voters with %d healthy", name, a.voters(), a.healthyVoters())
	switch {
	case q.healthyVoters() < q.quorum():
		return quorumVerdict{Msg: fmt.Sprintf("adding %s needs a cluster with quorum: %s: the cluster has already lost quorum. Bring %s back first, or force=True to override.",
			name, q.summary(), orList(q.unhealthyNames()))}
	case a.healthyVoters() < a.quorum():
		fix := "Add it as a learner (learner=True), start it, then promote it (member_promote)"
		if bad := q.unhealthyNames(); len(bad) > 0 {
			fix += "; or bring " + strings.Join(bad, " and ") + " back first"
		}
		return quorumVerdict{Msg: fmt.Sprintf("adding %s as a voting member would lose quorum until it starts: %s; %s < quorum %d. %s, or force=True to override.",
			name, q.summary(), afterText, a.quorum(), fix)}
	}
	v := quorumVerdict{Safe: true, Msg: fmt.Sprintf("%s; %s, quorum %d, fault tolerance %d", q.summary(), afterText, a.quorum(), a.tolerance())}
	if a.tolerance() == 0 {
		v.Warning = fmt.Sprintf("until %s starts the cluster tolerates no failure (%d voters, %d healthy, quorum %d); adding it as a learner first avoids this",
			name, a.voters(), a.healthyVoters(), a.quorum())
	}
	return v
}
