package modules

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type waitHealthyArgs struct {
	Timeout  engine.Duration
	Interval engine.Duration
	MaxGap   int
	Alarms   string
	Wait     etcd.OptBool
	// ClusterVersion is the cluster version to wait for, as "3.6"; ""
	// does not wait for one.
	ClusterVersion string
	etcd.ConnArgs
}

// wait_healthy waits until the etcd cluster is healthy as seen from every
// target.
//
// Healthy means: each target's member answers a linearizable read (a
// learner, which serves none, answers its status), all members agree on
// exactly one leader, no alarm is raised (NOSPACE, CORRUPT), every member
// in the member list has started (a member added but never started leaves
// the cluster short of its quorum), and every member keeps up with the
// leader. It changes nothing.
//
// Keeping up is judged against the leader's progress, not a fixed count:
// under a steady write load a member is always some entries behind at the
// instant its status is read. A member more than max_gap entries behind
// the leader is read again a moment later; it keeps up when it has
// reached the index the leader had. One that has not is "catching up",
// reported with its applied index and the leader's.
//
// While it waits it reports, each round, which member fails which check.
// On timeout the error lists them all.
//
// Arguments:
//
//	timeout    how long to wait (default 60s)
//	interval   longest pause between rounds (default 1s; the first
//	           rounds follow each other sooner, from 50 ms)
//	max_gap    entries behind the leader a member may be without being
//	           read again (default 100)
//	wait       False: one round, no waiting; an unhealthy cluster is then
//	           a failure at once, with the table of what was found
//	alarms     "fail" (default): a raised alarm is unhealthy; "report":
//	           alarms are in the result but do not fail, for the steps
//	           that clear them (a restart with a larger quota)
//	cluster_version  healthy also means every member says the cluster runs
//	           at this version ("3.6"): the cluster version moves up a few
//	           seconds after the last member of an upgrade started
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	           cluster: see etcdplay doc member_list; each target is asked through its
//	           own SSH connection
//
// The result has members, the status table: per member id, name,
// is_leader, is_learner, started, raft_term, raft_index, applied_index,
// revision (of its store),
// db_size, db_size_in_use, version (the member's own etcd), cluster_version
// (the version the cluster runs at, as the member's /version says it, ""
// when it cannot be read), storage_version (of its data; etcd 3.6 on),
// downgrade (the target of a downgrade under way, etcd 3.6 on), errors,
// healthy, catching_up,
// cert_expires (when the member's server certificate expires, RFC 3339;
// "" without TLS), cert_days (whole days until then, None without TLS)
// and problem (why not,
// "" when healthy); and cluster_id, leader, alarms, rounds, and quorum
// (a member answered a linearizable read: the cluster has quorum, even
// when some members are not healthy).
//
// Check mode: one round, no waiting: earlier steps of the run did not
// happen, so the cluster they would have changed cannot be waited for. A
// cluster that is not healthy is reported with a warning.
//
// Example:
//
//	wait_healthy(rest + [new], timeout = "120s")
var waitHealthyModule = &engine.ClusterModule[waitHealthyArgs]{
	Name: "wait_healthy",
	Args: func(a *waitHealthyArgs) []any {
		return append([]any{"timeout?", &a.Timeout, "interval?", &a.Interval, "max_gap?", &a.MaxGap, "alarms?", &a.Alarms, "wait?", &a.Wait, "cluster_version?", &a.ClusterVersion}, a.Pairs()...)
	},
	Validate: func(a *waitHealthyArgs) error {
		if a.MaxGap < 0 {
			return fmt.Errorf("max_gap: got %d, want 0 or more", a.MaxGap)
		}
		if a.Alarms != "" && a.Alarms != "fail" && a.Alarms != "report" {
			return fmt.Errorf("alarms: got %q, want \"fail\" or \"report\"", a.Alarms)
		}
		if a.ClusterVersion != "" {
			v, ok := etcd.ParseVersion(a.ClusterVersion)
			if !ok {
				return fmt.Errorf("cluster_version: %q is not a version such as 3.6", a.ClusterVersion)
			}
			a.ClusterVersion = v.MinorString()
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *waitHealthyArgs) (engine.Plan, error) {
		s, _, err := etcd.ClusterSession(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		tlsOn := s.TLS != nil
		var targets []etcd.Target
		for _, h := range c.Targets {
			targets = append(targets, etcd.TargetOf(h, tlsOn))
		}
		return planWaitHealthy(ctx, s, targets, a, c.Check, c.Set)
	},
}

// healthRow is one member's line in the status table.
type healthRow struct {
	info       etcd.MemberInfo
	status     *clientv3.StatusResponse
	url        string // the client URL that answered the status
	target     bool
	problem    string
	catchingUp bool
	// certExpires is when the server certificate the member showed
	// expires (zero without TLS).
	certExpires time.Time
	// clusterVersion is the cluster's version as the member's /version
	// says it, "" when not read.
	clusterVersion string
}

// lagRecheck is how long wait_healthy waits before reading again a member
// that is behind the leader.
const lagRecheck = 250 * time.Millisecond

func (r healthRow) data() map[string]any {
	d := r.info.Data()
	d["healthy"] = r.problem == ""
	d["problem"] = r.problem
	d["catching_up"] = r.catchingUp
	if r.status != nil {
		d["raft_term"] = int64(r.status.RaftTerm)
		d["raft_index"] = int64(r.status.RaftIndex)
		d["applied_index"] = int64(r.status.RaftAppliedIndex)
		if r.status.Header != nil {
			d["revision"] = r.status.Header.Revision
		}
		d["db_size"] = r.status.DbSize
		d["db_size_in_use"] = r.status.DbSizeInUse
		d["version"] = r.status.Version
		d["errors"] = etcd.NonNil(r.status.Errors)
		// etcd 3.6 on: the version of its data (which a downgrade
		// lowers before a member's binary may change) and a downgrade
		// under way.
		d["storage_version"] = r.status.StorageVersion
		d["downgrade"] = ""
		if di := r.status.DowngradeInfo; di != nil && di.Enabled {
			d["downgrade"] = di.TargetVersion
		}
	}
	d["cluster_version"] = r.clusterVersion
	d["cert_expires"] = ""
	d["cert_days"] = nil
	if !r.certExpires.IsZero() {
		d["cert_expires"] = r.certExpires.UTC().Format(time.RFC3339)
		d["cert_days"] = int64(time.Until(r.certExpires) / (24 * time.Hour))
	}
	return d
}

// healthRound is the outcome of one round of checks.
type healthRound struct {
	clusterID uint64
	rows      []healthRow
	leader    string
	alarms    []string
	// quorum is set when a member answered a linearizable read: the
	// cluster has quorum, whether or not every member is healthy.
	quorum   bool
	problems []string // "etcd-3: is down (connection refused)"
	// fatal is a problem waiting does not solve: no target can be
	// talked to over TLS as configured.
	fatal error
}

func (r healthRound) ok() bool { return len(r.problems) == 0 }

func planWaitHealthy(ctx context.Context, s *etcd.Session, targets []etcd.Target, a *waitHealthyArgs, check bool, set func(string, any)) (engine.Plan, error) {
	timeout := time.Duration(a.Timeout)
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	interval := time.Duration(a.Interval)
	if interval == 0 {
		interval = time.Second
	}
	gap := a.MaxGap
	if gap == 0 {
		gap = 100
	}
	start := time.Now()
	deadline := start.Add(timeout)
	for round := 1; ; round++ {
		pause := etcd.PollPause(round, interval)
		r := healthCheck(ctx, s, targets, uint64(gap), a.Alarms == "report")
		if ctx.Err() != nil {
			return engine.Plan{}, ctx.Err()
		}
		if r.fatal != nil {
			return engine.Plan{}, r.fatal
		}
		if a.ClusterVersion != "" || r.ok() || check || !a.Wait.Or(true) || time.Now().Add(pause).After(deadline) {
			readClusterVersions(ctx, s, &r)
			r.wantClusterVersion(a.ClusterVersion)
		}
		setHealth(set, r, round)
		if r.ok() {
			return engine.NothingToDo("%s", r.summary(time.Since(start))), nil
		}
		if check {
			s.Warnf("the cluster is not healthy now: %s (check mode does not wait)", strings.Join(r.problems, "; "))
			return engine.NothingToDo("not healthy now: %s; check mode does not wait", strings.Join(r.problems, "; ")), nil
		}
		if !a.Wait.Or(true) {
			return engine.Plan{}, fmt.Errorf("cluster not healthy: %s", strings.Join(r.problems, "; "))
		}
		if time.Now().Add(pause).After(deadline) {
			return engine.Plan{}, fmt.Errorf("cluster not healthy after %s: %s", timeout.Round(time.Second), strings.Join(r.problems, "; "))
		}
		s.Progressf("waiting for the cluster (%s of %s): %s", time.Since(start).Round(time.Second), timeout.Round(time.Second), strings.Join(r.problems, "; "))
		select {
		case <-ctx.Done():
			return engine.Plan{}, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// wantClusterVersion adds a problem for each member that says the
// cluster runs at another version than want ("3.6"; "" wants none).
func (r *healthRound) wantClusterVersion(want string) {
	if want == "" {
		return
	}
	for _, row := range r.rows {
		if row.status == nil {
			continue
		}
		if v, ok := etcd.ParseVersion(row.clusterVersion); !ok || v.MinorString() != want {
			r.problems = append(r.problems, fmt.Sprintf("%s: cluster version %s, not yet %s", row.info.Label(), cmp.Or(row.clusterVersion, "unknown"), want))
		}
	}
}

// readClusterVersions reads the cluster version each member that
// answered its status sees, concurrently: for the round a call returns.
func readClusterVersions(ctx context.Context, s *etcd.Session, r *healthRound) {
	var wg sync.WaitGroup
	for i := range r.rows {
		row := &r.rows[i]
		if row.status == nil || row.url == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := s.Versions(ctx, row.url); err == nil {
				row.clusterVersion = v.Cluster
			}
		}()
	}
	wg.Wait()
}

func setHealth(set func(string, any), r healthRound, round int) {
	var rows []any
	for _, row := range r.rows {
		rows = append(rows, row.data())
	}
	if rows == nil {
		rows = []any{}
	}
	set("members", rows)
	set("cluster_id", fmt.Sprintf("%x", r.clusterID))
	set("leader", r.leader)
	set("alarms", etcd.NonNil(r.alarms))
	set("quorum", r.quorum)
	set("rounds", round)
}

func (r healthRound) summary(took time.Duration) string {
	var maxApplied uint64
	var term uint64
	for _, row := range r.rows {
		if row.status != nil {
			maxApplied = max(maxApplied, row.status.RaftAppliedIndex)
			term = max(term, row.status.RaftTerm)
		}
	}
	msg := fmt.Sprintf("%d %s healthy, leader %s, raft term %d, applied index %d", len(r.rows), etcd.Plural(len(r.rows), "member", "members"), r.leader, term, maxApplied)
	if took >= time.Second {
		msg += fmt.Sprintf(" (after %s)", took.Round(100*time.Millisecond))
	}
	return msg
}

// healthCheck runs every check once.
func healthCheck(ctx context.Context, s *etcd.Session, targets []etcd.Target, gap uint64, reportAlarms bool) healthRound {
	var r healthRound
	var urls []string
	for _, t := range targets {
		urls = append(urls, t.ClientURL)
	}
	// The member list comes from the first target that gives a
	// linearizable answer; members() falls back to a local view, which
	// is itself a finding.
	cl, err := s.Members(ctx, urls)
	if err != nil {
		if etcd.AsTLSError(err) != nil {
			r.fatal = err
		}
		r.problems = append(r.problems, strings.TrimPrefix(err.Error(), "no etcd endpoint answered: "))
		return r
	}
	r.clusterID = cl.ID
	if cl.NoQuorum {
		r.problems = append(r.problems, "no linearizable answer from the cluster (quorum lost?)")
	}
	sts := s.Statuses(ctx, cl.Members)
	byID := map[uint64]int{}
	for i, st := range sts {
		byID[st.Member.ID] = i
		r.rows = append(r.rows, healthRow{info: etcd.InfoOf(st.Member, 0), status: st.Status, url: st.URL, certExpires: s.CertExpiry(st.URL)})
	}
	problem := func(i int, msg string) {
		if r.rows[i].problem == "" {
			r.rows[i].problem = msg
		}
		r.problems = append(r.problems, r.rows[i].info.Label()+": "+msg)
	}
	for _, t := range targets {
		m := t.Match(cl.Members)
		if m == nil {
			r.problems = append(r.problems, fmt.Sprintf("%s: not a member of cluster %x (members: %s)", t.Host, cl.ID, memberLabels(cl)))
			continue
		}
		r.rows[byID[m.ID]].target = true
	}
	// Linearizable reads on the targets' members, concurrently. A
	// learner serves none: its status is its answer.
	var wg sync.WaitGroup
	reads := make([]error, len(sts))
	answered := make([]bool, len(sts))
	for i, st := range sts {
		if !r.rows[i].target || st.Err != nil || st.Member.IsLearner {
			continue
		}
		if st.Status != nil && st.Status.Leader == 0 {
			// It would wait out the read's whole timeout: a member
			// without a leader serves no linearizable read.
			reads[i] = rpctypes.ErrNoLeader // the read not made
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Client(ctx, st.URL)
			if err == nil {
				rctx, cancel := context.WithTimeout(ctx, etcd.StatusTimeout)
				_, err = c.Get(rctx, "health", clientv3.WithCountOnly())
				cancel()
			}
			reads[i], answered[i] = err, err == nil
		}()
	}
	wg.Wait()
	for i := range reads {
		if answered[i] {
			r.quorum = true
		}
	}
	leaders := map[uint64][]string{}
	var minApplied, maxApplied uint64
	first := true
	for i, st := range sts {
		row := r.rows[i]
		switch {
		case st.Member.Name == "":
			problem(i, "not started (added, but its etcd never joined)")
			continue
		case st.Err != nil:
			problem(i, etcd.DownWhy(st.Err))
			continue
		case reads[i] != nil && etcd.IsAuthError(reads[i]) && r.fatal == nil:
			r.fatal = engine.BadInput("%v", etcd.Explain(fmt.Errorf("%s refused a read: %w", row.info.Label(), reads[i])))
		case reads[i] != nil:
			problem(i, "no linearizable read ("+etcd.ShortErr(reads[i])+")")
		}
		leaders[st.Status.Leader] = append(leaders[st.Status.Leader], row.info.Label())
		for _, e := range st.Status.Errors {
			// A raised alarm is in every member's errors too; the alarm
			// list below says it once, and alarms="report" lets it be.
			if strings.Contains(e, "alarm:") {
				continue
			}
			problem(i, "reports "+e)
		}
		if first || st.Status.RaftAppliedIndex < minApplied {
			minApplied = st.Status.RaftAppliedIndex
		}
		maxApplied = max(maxApplied, st.Status.RaftAppliedIndex)
		first = false
	}
	switch {
	case len(leaders) == 0:
	case len(leaders) > 1 || leaders[0] != nil:
		var parts []string
		for id, who := range leaders {
			l := "no leader"
			if id != 0 {
				l = "leader " + labelOf(cl, id)
			}
			parts = append(parts, fmt.Sprintf("%s sees %s", strings.Join(who, ", "), l))
		}
		slices.Sort(parts)
		r.problems = append(r.problems, "members disagree on the leader: "+strings.Join(parts, "; "))
	default:
		for id := range leaders {
			r.leader = labelOf(cl, id)
			if i, ok := byID[id]; ok {
				r.rows[i].info.IsLeader = true
			} else {
				r.problems = append(r.problems, fmt.Sprintf("the leader %x is not in the member list", id))
			}
		}
	}
	// Keeping up: against the leader's applied index (the most advanced
	// member's when there is no one leader). A member further behind
	// than gap is read again after lagRecheck: one that has reached where
	// the leader was is as close as the write rate lets it be.
	lead := maxApplied
	for i, st := range sts {
		if r.rows[i].info.IsLeader && st.Status != nil {
			lead = st.Status.RaftAppliedIndex
		}
	}
	var behind []int
	for i, st := range sts {
		if st.Status != nil && lead > st.Status.RaftAppliedIndex && lead-st.Status.RaftAppliedIndex > gap {
			behind = append(behind, i)
		}
	}
	if len(behind) > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(lagRecheck):
		}
		for _, i := range behind {
			again := s.Status(ctx, sts[i].Member)
			if again.Err == nil && again.Status.RaftAppliedIndex >= lead {
				continue
			}
			applied := sts[i].Status.RaftAppliedIndex
			if again.Err == nil {
				applied = again.Status.RaftAppliedIndex
			}
			what := "catching up"
			if sts[i].Member.IsLearner {
				what = "learner catching up"
			}
			r.rows[i].catchingUp = true
			problem(i, fmt.Sprintf("%s: applied index %d, the leader's was %d %s ago (%d behind)", what, applied, lead, lagRecheck, lead-min(lead, applied)))
		}
	}
	if c, err := s.Client(ctx, cl.URL); err == nil {
		rctx, cancel := context.WithTimeout(ctx, etcd.StatusTimeout)
		al, err := c.AlarmList(rctx)
		cancel()
		if err != nil {
			r.problems = append(r.problems, "alarm list: "+etcd.ShortErr(err))
		} else {
			for _, a := range al.Alarms {
				r.alarms = append(r.alarms, fmt.Sprintf("%s on %s", a.Alarm, labelOf(cl, a.MemberID)))
			}
			if len(r.alarms) > 0 && !reportAlarms {
				r.problems = append(r.problems, "alarm raised: "+strings.Join(r.alarms, ", "))
			}
		}
	}
	return r
}
