package modules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

// call is one module call's results and warnings, for tests of Plan
// functions without the engine.
type call struct {
	mu       sync.Mutex
	data     map[string]any
	warnings []string
}

func (c *call) set(k string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data == nil {
		c.data = map[string]any{}
	}
	c.data[k] = v
}

func (c *call) str(k string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, _ := c.data[k].(string)
	return s
}

// directSession is a session that dials the test cluster's client URLs
// from the test process.
func directSession(t *testing.T, ctx context.Context, cl *etcdtest.Cluster, c *call) *etcd.Session {
	s := etcd.NewSession(ctx, cl.ClientTLS())
	s.Warn = func(f string, args ...any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.warnings = append(c.warnings, fmt.Sprintf(f, args...))
	}
	return s
}

// skipSlowInShort skips tests that wait on etcd itself: a membership
// change is accepted only after the members have been connected for 5
// seconds (etcdserver.HealthInterval, a constant).
func skipSlowInShort(t *testing.T) {
	if testing.Short() {
		t.Skip("waits on etcd's 5s health interval before membership changes; skipped with -short")
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readTestCluster reads the cluster through the running members in order.
func readTestCluster(t *testing.T, ctx context.Context, s *etcd.Session, cl *etcdtest.Cluster) *etcd.Cluster {
	t.Helper()
	var urls []string
	for _, m := range cl.Members {
		if m.Running() {
			urls = append(urls, m.ClientURL)
		}
	}
	c, err := s.Members(ctx, urls)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apply runs a plan's actions as the engine does outside check mode.
func apply(ctx context.Context, p engine.Plan) error {
	for _, a := range p.Actions {
		if err := a.Do(ctx); err != nil {
			return fmt.Errorf("%s: %w", a.Desc, err)
		}
	}
	return nil
}

// step plans and applies one module call against the test cluster.
func step[A any](t *testing.T, cl *etcdtest.Cluster, plan func(context.Context, *etcd.Session, *etcd.Cluster, *A, func(string, any)) (engine.Plan, error), a *A) (*call, engine.Plan, error) {
	t.Helper()
	ctx := testCtx(t)
	c := &call{}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := directSession(t, sctx, cl, c)
	p, err := plan(sctx, s, readTestCluster(t, sctx, s, cl), a, c.set)
	if err != nil {
		return c, p, err
	}
	return c, p, apply(sctx, p)
}

func memberNames(t *testing.T, cl *etcdtest.Cluster) string {
	t.Helper()
	ctx := testCtx(t)
	c := &call{}
	s := directSession(t, ctx, cl, c)
	ec := readTestCluster(t, ctx, s, cl)
	var ns []string
	for _, m := range ec.Members {
		n := etcd.InfoOf(m, 0).Label()
		if m.IsLearner {
			n += "(learner)"
		}
		ns = append(ns, n)
	}
	return strings.Join(ns, " ")
}

func TestMemberAddLearnerStartPromoteRemove(t *testing.T) {
	skipSlowInShort(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	m4 := cl.NewMember("etcd-4")
	add := &memberAddArgs{Name: "etcd-4", PeerURLs: engine.StringList{m4.PeerURL}, Learner: true}

	c, p, err := step(t, cl, planMemberAdd, add)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 || !strings.Contains(p.Actions[0].Desc, "as a learner") {
		t.Fatalf("plan: %+v", p)
	}
	ic := c.str("initial_cluster")
	if strings.Count(ic, "=") != 4 || !strings.Contains(ic, "etcd-4="+m4.PeerURL) || !strings.Contains(ic, "etcd-1="+cl.Members[0].PeerURL) {
		t.Errorf("initial_cluster %q", ic)
	}
	if c.str("state") != "existing" || c.str("member_id") == "" {
		t.Errorf("state %q member_id %q", c.str("state"), c.str("member_id"))
	}
	if m := c.data["member"].(map[string]any); m["is_learner"] != true || m["started"] != false {
		t.Errorf("member %v", m)
	}
	id := c.str("member_id")

	// A re-run before the member started finds it by its peer URL.
	c2, p2, err := step(t, cl, planMemberAdd, add)
	if err != nil || len(p2.Actions) != 0 {
		t.Fatalf("re-add: %v %+v", err, p2)
	}
	if c2.str("member_id") != id || c2.str("initial_cluster") != ic {
		t.Errorf("re-add returned member %s %q, want %s %q", c2.str("member_id"), c2.str("initial_cluster"), id, ic)
	}

	cl.StartJoining(m4, ic)
	if got := memberNames(t, cl); got != "etcd-1 etcd-2 etcd-3 etcd-4(learner)" {
		t.Errorf("members after start: %s", got)
	}

	c3, p3, err := step(t, cl, planMemberPromote, &memberPromoteArgs{MemberArg: etcd.MemberArg{Name: "etcd-4"}, Timeout: engine.Duration(30 * time.Second)})
	if err != nil || len(p3.Actions) != 1 {
		t.Fatalf("promote: %v %+v", err, p3)
	}
	if n, _ := c3.data["attempts_promote"].(int); n < 1 {
		t.Errorf("attempts_promote %v", c3.data["attempts_promote"])
	}
	if got := memberNames(t, cl); got != "etcd-1 etcd-2 etcd-3 etcd-4" {
		t.Errorf("members after promote: %s", got)
	}
	if _, p, err := step(t, cl, planMemberPromote, &memberPromoteArgs{MemberArg: etcd.MemberArg{Name: "etcd-4"}}); err != nil || len(p.Actions) != 0 || !strings.Contains(p.Reason, "voting member already") {
		t.Errorf("promote again: %v %+v", err, p)
	}

	// The started member is found by name and peer URL on a re-run too.
	if _, p, err := step(t, cl, planMemberAdd, add); err != nil || len(p.Actions) != 0 || !strings.Contains(p.Reason, "already a member") {
		t.Errorf("re-add started member: %v %+v", err, p)
	}
	// The same name with another peer URL is an error, not a second member.
	other := &memberAddArgs{Name: "etcd-4", PeerURLs: engine.StringList{"http://127.0.0.1:1"}, Learner: true}
	if _, _, err := step(t, cl, planMemberAdd, other); err == nil || !strings.Contains(err.Error(), "a member named etcd-4 already exists") {
		t.Errorf("add same name, other URL: %v", err)
	}

	c5, p5, err := step(t, cl, planMemberRemove, &memberRemoveArgs{MemberArg: etcd.MemberArg{Name: "etcd-4"}})
	if err != nil || len(p5.Actions) != 1 {
		t.Fatalf("remove: %v %+v", err, p5)
	}
	if !strings.Contains(p5.Actions[0].Desc, "(4 → 3 voters, quorum 2)") {
		t.Errorf("remove desc %q", p5.Actions[0].Desc)
	}
	if !strings.Contains(c5.str("quorum"), "after removing etcd-4, 3 voters with 3 healthy, quorum 2, fault tolerance 1") {
		t.Errorf("quorum %q", c5.str("quorum"))
	}
	m4.Stop()
	if got := memberNames(t, cl); got != "etcd-1 etcd-2 etcd-3" {
		t.Errorf("members after remove: %s", got)
	}
	if _, p, err := step(t, cl, planMemberRemove, &memberRemoveArgs{MemberArg: etcd.MemberArg{Name: "etcd-4"}}); err != nil || len(p.Actions) != 0 || !strings.Contains(p.Reason, "is not a member") {
		t.Errorf("remove again: %v %+v", err, p)
	}
}

func TestMemberRemoveQuorumGate(t *testing.T) {
	skipSlowInShort(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	cl.Member("etcd-3").Kill()

	_, p, err := step(t, cl, planMemberRemove, &memberRemoveArgs{MemberArg: etcd.MemberArg{Name: "etcd-2"}})
	var ref *engine.RefusedError
	if !errors.As(err, &ref) {
		t.Fatalf("remove healthy etcd-2 with etcd-3 down: %v %+v, want a refusal", err, p)
	}
	for _, want := range []string{
		"removing etcd-2 would lose quorum: 3 voting members, 2 healthy (etcd-3 is down (connection refused)); quorum is 2, fault tolerance 0",
		"after removing etcd-2, 2 voters with 1 healthy < quorum 2. Bring etcd-3 back first, or force=True to override.",
	} {
		if !strings.Contains(ref.Msg, want) {
			t.Errorf("refusal\n\t%s\nlacks\n\t%s", ref.Msg, want)
		}
	}
	if got := memberNames(t, cl); got != "etcd-1 etcd-2 etcd-3" {
		t.Errorf("members after refusal: %s", got)
	}

	// A voting member cannot be added either: four voters with two
	// healthy have no quorum.
	m4 := cl.NewMember("etcd-4")
	if _, _, err := step(t, cl, planMemberAdd, &memberAddArgs{Name: "etcd-4", PeerURLs: engine.StringList{m4.PeerURL}}); !errors.As(err, &ref) || !strings.Contains(ref.Msg, "Add it as a learner") {
		t.Errorf("add voter with a member down: %v", err)
	}

	// The dead member can go: the replace case.
	c, p, err := step(t, cl, planMemberRemove, &memberRemoveArgs{MemberArg: etcd.MemberArg{Name: "etcd-3"}})
	if err != nil || len(p.Actions) != 1 {
		t.Fatalf("remove dead etcd-3: %v %+v", err, p)
	}
	if !strings.Contains(c.str("quorum"), "after removing etcd-3, 2 voters with 2 healthy, quorum 2") {
		t.Errorf("quorum %q", c.str("quorum"))
	}
	if got := memberNames(t, cl); got != "etcd-1 etcd-2" {
		t.Errorf("members after removing the dead one: %s", got)
	}

	// Now two of two: removing either needs both to commit, which etcd's
	// guide calls unsafe: refused; with force=True it goes, warned.
	if _, _, err = step(t, cl, planMemberRemove, &memberRemoveArgs{MemberArg: etcd.MemberArg{Name: "etcd-2"}}); !errors.As(err, &ref) || !strings.Contains(ref.Msg, "from a two-member cluster is unsafe") {
		t.Fatalf("remove one of two: %v", err)
	}
	c, p, err = step(t, cl, planMemberRemove, &memberRemoveArgs{MemberArg: etcd.MemberArg{Name: "etcd-2"}, Force: true})
	if err != nil || len(p.Actions) != 1 {
		t.Fatalf("remove one of two with force: %v", err)
	}
	if len(c.warnings) == 0 || !strings.Contains(c.warnings[0], "force=True overrides the quorum gate") {
		t.Errorf("warnings %q", c.warnings)
	}
}

func TestMemberRemoveForce(t *testing.T) {
	skipSlowInShort(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	cl.Member("etcd-3").Kill()
	m4 := cl.NewMember("etcd-4")
	// force=True overrides, with a warning that shows what was overridden.
	c, p, err := step(t, cl, planMemberAdd, &memberAddArgs{Name: "etcd-4", PeerURLs: engine.StringList{m4.PeerURL}, Force: true})
	if len(p.Actions) != 1 {
		t.Fatalf("forced add: %v %+v", err, p)
	}
	if len(c.warnings) == 0 || !strings.HasPrefix(c.warnings[0], "force=True overrides the quorum gate: adding etcd-4") {
		t.Errorf("warnings %q", c.warnings)
	}
	// etcd's own check (--strict-reconfig-check) refuses it anyway, and
	// the error is explained.
	var ee *etcd.ExplainedError
	if !errors.As(err, &ee) || !strings.Contains(ee.Cause, "too few started members") && !strings.Contains(ee.Cause, "connected to the voting members") {
		t.Errorf("forced add against etcd's own check: %v", err)
	}
}

func TestMemberUpdate(t *testing.T) {
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	m3 := cl.Member("etcd-3")
	if _, _, err := step(t, cl, planMemberUpdate, &memberUpdateArgs{MemberArg: etcd.MemberArg{Name: "etcd-3"}, PeerURLs: engine.StringList{cl.Member("etcd-2").PeerURL}}); err == nil || !strings.Contains(err.Error(), "belongs to member etcd-2") {
		t.Errorf("update to another member's URL: %v", err)
	}
	if _, p, err := step(t, cl, planMemberUpdate, &memberUpdateArgs{MemberArg: etcd.MemberArg{Name: "etcd-3"}, PeerURLs: engine.StringList{m3.PeerURL}}); err != nil || len(p.Actions) != 0 {
		t.Errorf("update to the same URL: %v %+v", err, p)
	}
	moved := "http://" + m3.Addr + ":1"
	c, p, err := step(t, cl, planMemberUpdate, &memberUpdateArgs{MemberArg: etcd.MemberArg{PeerURL: m3.PeerURL}, PeerURLs: engine.StringList{moved}})
	if err != nil || len(p.Actions) != 1 {
		t.Fatalf("update: %v %+v", err, p)
	}
	if got := c.data["member"].(map[string]any)["peer_urls"].([]string); len(got) != 1 || got[0] != moved {
		t.Errorf("member after update: %v", got)
	}
	ctx := testCtx(t)
	ml, err := cl.Client(cl.Member("etcd-1").ClientURL).MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ml.Members {
		if m.Name == "etcd-3" && (len(m.PeerURLs) != 1 || m.PeerURLs[0] != moved) {
			t.Errorf("etcd-3 peer URLs %v, want %s", m.PeerURLs, moved)
		}
	}
	// And back, so the member is reachable again.
	if _, _, err := step(t, cl, planMemberUpdate, &memberUpdateArgs{MemberArg: etcd.MemberArg{Name: "etcd-3"}, PeerURLs: engine.StringList{m3.PeerURL}}); err != nil {
		t.Fatal(err)
	}
}

func TestMemberListTLS(t *testing.T) {
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	list := func(ctx context.Context, s *etcd.Session, ec *etcd.Cluster, _ *struct{}, set func(string, any)) (engine.Plan, error) {
		return planMemberList(ctx, s, ec, set)
	}
	c, p, err := step(t, cl, list, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Reason, "3 members: ") || !strings.Contains(p.Reason, "(leader)") {
		t.Errorf("reason %q", p.Reason)
	}
	ms := c.data["members"].([]any)
	leaders := 0
	for _, m := range ms {
		m := m.(map[string]any)
		if !strings.HasPrefix(m["client_urls"].([]string)[0], "https://") || m["started"] != true || len(m["id"].(string)) < 8 {
			t.Errorf("member %v", m)
		}
		if m["is_leader"] == true {
			leaders++
		}
	}
	if leaders != 1 || c.str("leader") == "" || c.data["voters"] != 3 {
		t.Errorf("leaders %d leader %q voters %v", leaders, c.str("leader"), c.data["voters"])
	}

	// Without the client certificate the cluster does not answer, and the
	// error says so.
	ctx := testCtx(t)
	s := etcd.NewSession(ctx, nil)
	if _, err := s.Members(ctx, []string{cl.Members[0].ClientURL}); err == nil {
		t.Error("TLS cluster answered a client without a CA or certificate")
	}
}
