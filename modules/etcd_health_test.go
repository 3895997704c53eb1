package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/etcd/etcdtest"
)

func targetsOf(cl *etcdtest.Cluster) []etcd.Target {
	var ts []etcd.Target
	for _, m := range cl.Members {
		ts = append(ts, etcd.Target{Host: m.Name, Name: m.Name, ClientURL: m.ClientURL, PeerURL: m.PeerURL})
	}
	return ts
}

func waitHealthy(t *testing.T, cl *etcdtest.Cluster, a *waitHealthyArgs, check bool) (*call, engine.Plan, error) {
	ctx := testCtx(t)
	c := &call{}
	s := directSession(t, ctx, cl, c)
	p, err := planWaitHealthy(ctx, s, targetsOf(cl), a, check, c.set)
	return c, p, err
}

// storageVersionsSet: every member's data is at the cluster's version.
func storageVersionsSet(rows []any) bool {
	for _, r := range rows {
		if m := r.(map[string]any); m["storage_version"] != m["cluster_version"] {
			return false
		}
	}
	return true
}

func TestWaitHealthy(t *testing.T) {
	skipSlowInShort(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	// A new cluster's data is at the version of the minor before, or at
	// none, until its leader moves it up, some seconds after the cluster
	// version is decided: read until it has.
	var (
		c   *call
		p   engine.Plan
		err error
	)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, p, err = waitHealthy(t, cl, &waitHealthyArgs{}, false)
		if err != nil {
			t.Fatal(err)
		}
		if storageVersionsSet(c.data["members"].([]any)) || time.Now().After(deadline) {
			break
		}
	}
	if !strings.HasPrefix(p.Reason, "3 members healthy, leader etcd-") {
		t.Errorf("reason %q", p.Reason)
	}
	rows := c.data["members"].([]any)
	leaders := 0
	for _, r := range rows {
		r := r.(map[string]any)
		if r["healthy"] != true || r["problem"] != "" || r["version"] == "" || r["applied_index"].(int64) == 0 {
			t.Errorf("row %v", r)
		}
		// The cluster's version is the minor of its members', from each
		// member's /version; 3.6 reports the version of its data too.
		if v, _ := etcd.ParseVersion(r["version"].(string)); r["cluster_version"] != v.MinorString()+".0" || r["storage_version"] != v.MinorString()+".0" || r["downgrade"] != "" {
			t.Errorf("versions of row %v", r)
		}
		if r["is_leader"] == true {
			leaders++
		}
	}
	if leaders != 1 || c.data["rounds"] != 1 {
		t.Errorf("leaders %d rounds %v", leaders, c.data["rounds"])
	}

	// A member down: a timeout names it and the check it failed.
	m3 := cl.Member("etcd-3")
	m3.Kill()
	start := time.Now()
	_, _, err = waitHealthy(t, cl, &waitHealthyArgs{Timeout: engine.Duration(1500 * time.Millisecond), Interval: engine.Duration(300 * time.Millisecond)}, false)
	if err == nil || !strings.Contains(err.Error(), "cluster not healthy after 2s: etcd-3: is down (connection refused)") {
		t.Errorf("timeout: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout of 1.5s took %s", d)
	}
	// Check mode reports without waiting.
	c, p, err = waitHealthy(t, cl, &waitHealthyArgs{}, true)
	if err != nil || !strings.Contains(p.Reason, "etcd-3: is down") || len(c.warnings) != 1 {
		t.Errorf("check mode: %v %q %q", err, p.Reason, c.warnings)
	}

	// It comes back while we wait.
	go func() {
		time.Sleep(500 * time.Millisecond)
		m3.Restart()
	}()
	c, p, err = waitHealthy(t, cl, &waitHealthyArgs{Timeout: engine.Duration(30 * time.Second), Interval: engine.Duration(200 * time.Millisecond)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.data["rounds"].(int); n < 2 {
		t.Errorf("rounds %d, want it to have waited", n)
	}

	// A member added but never started keeps the cluster unhealthy.
	m4 := cl.NewMember("etcd-4")
	if _, _, err := step(t, cl, planMemberAdd, &memberAddArgs{Name: "etcd-4", PeerURLs: engine.StringList{m4.PeerURL}, Learner: true}); err != nil {
		t.Fatal(err)
	}
	_, _, err = waitHealthy(t, cl, &waitHealthyArgs{Timeout: engine.Duration(time.Second)}, false)
	if err == nil || !strings.Contains(err.Error(), "unstarted member") || !strings.Contains(err.Error(), "not started") {
		t.Errorf("unstarted member: %v", err)
	}
}

func TestSnapshotSave(t *testing.T) {
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{TLS: true})
	ctx := testCtx(t)
	for i := range 50 {
		if err := cl.Put(ctx, fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	cli := cl.Client()
	if _, err := cli.Delete(ctx, "k00"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backups")
	snap := func(_ context.Context, s *etcd.Session, ec *etcd.Cluster, _ *struct{}, set func(string, any)) (engine.Plan, error) {
		return planSnapshotSave(ctx, s, ec, dir, 2, set, func(p string) string { return "etcdplay run restore -e snapshot=" + p })
	}
	c, p, err := step(t, cl, snap, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 || !strings.Contains(p.Actions[0].Desc, "save a snapshot of cluster") {
		t.Errorf("plan %+v", p)
	}
	path := c.str("path")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.data["keys"] != 49 || c.data["revision"].(int64) < 52 || c.data["size"] != fi.Size() || len(c.str("sha256")) != 64 {
		t.Errorf("snapshot data %v", c.data)
	}
	name := regexp.MustCompile(fmt.Sprintf(`^etcd-%s-\d{8}T\d{6}\.\d{3}Z-r%d\.db$`, c.str("cluster_id"), c.data["revision"]))
	if !name.MatchString(filepath.Base(path)) {
		t.Errorf("name %s, want %s", filepath.Base(path), name)
	}
	if rc := c.str("restore_command"); rc != "etcdplay run restore -e snapshot="+path {
		t.Errorf("restore command %q", rc)
	}
	// keep=2: the third snapshot of the cluster removes the first; a
	// file of another cluster stays.
	other := filepath.Join(dir, "etcd-abc-20000101T000000.000Z-r1.db")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var paths []string
	paths = append(paths, path)
	for range 2 {
		c, _, err := step(t, cl, snap, &struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, c.str("path"))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "etcd-*.db"))
	want := []string{other, paths[1], paths[2]}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("after 3 snapshots with keep=2: %v, want %v", left, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".etcd-snapshot-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// The whole file's sum comes from the same read as the check.
	fi, _ = os.Stat(paths[2])
	if snap, err := verifySnapshot(paths[2], fi.Size()); err != nil || snap.FileSHA256 != sha256File(t, paths[2]) {
		t.Errorf("verified snapshot: file sha256 %q, want %s (%v)", snap.FileSHA256, sha256File(t, paths[2]), err)
	}

	// A damaged file fails verification.
	b, _ := os.ReadFile(paths[2])
	b[len(b)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, b, 0o600)
	if _, err := verifySnapshot(bad, int64(len(b))); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("damaged snapshot: %v", err)
	}
}

// TestWaitHealthyLearnerAndLoad: a started learner among the targets is
// checked as a learner (no linearizable read asked of it) and counts
// healthy once it keeps up; under a write load that keeps followers a few
// entries behind at any instant, a max_gap of 1 does not fail the
// cluster, since members are read again and judged by the leader's
// progress; an alarm fails it unless alarms="report".
func TestWaitHealthyLearnerAndLoad(t *testing.T) {
	skipSlowInShort(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	ctx := testCtx(t)
	m4 := cl.NewMember("etcd-4")
	var resp *clientv3.MemberAddResponse
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// etcd takes membership changes once its members have been
		// connected for 5s.
		if resp, err = cl.Client().MemberAddAsLearner(ctx, []string{m4.PeerURL}); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var ic []string
	for _, m := range resp.Members {
		name := m.Name
		if m.ID == resp.Member.ID {
			name = "etcd-4"
		}
		for _, u := range m.PeerURLs {
			ic = append(ic, name+"="+u)
		}
	}
	cl.StartJoining(m4, strings.Join(ic, ","))

	c, p, err := waitHealthy(t, cl, &waitHealthyArgs{Timeout: engine.Duration(30 * time.Second)}, false)
	if err != nil {
		t.Fatalf("with a started learner: %v", err)
	}
	learners := 0
	for _, r := range c.data["members"].([]any) {
		r := r.(map[string]any)
		if r["is_learner"] == true {
			learners++
			if r["healthy"] != true {
				t.Errorf("learner row %v", r)
			}
		}
	}
	if learners != 1 {
		t.Errorf("learners in the table: %d (%s)", learners, p.Reason)
	}

	// Writers as fast as the cluster takes them: at the instant statuses
	// are read, followers are some entries behind. Judged by the leader's
	// progress the cluster is healthy at the first round, where a fixed
	// max_gap of 1 would see members behind.
	done := make(chan struct{})
	writes := make(chan int, 4)
	for w := range 4 {
		go func() {
			n := 0
			defer func() { writes <- n }()
			cli := cl.Client()
			for {
				select {
				case <-done:
					return
				default:
				}
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := cli.Put(wctx, fmt.Sprintf("load/%d/%d", w, n%100), "x")
				cancel()
				if err == nil {
					n++
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	c, p, err = waitHealthy(t, cl, &waitHealthyArgs{MaxGap: 1, Timeout: engine.Duration(20 * time.Second)}, false)
	close(done)
	n := 0
	for range 4 {
		n += <-writes
	}
	if err != nil || c.data["rounds"] != 1 {
		t.Errorf("under a write load (%d writes), max_gap 1: %v after %v rounds (%s)", n, err, c.data["rounds"], p.Reason)
	}
	t.Logf("under a write load of %d writes: %s", n, p.Reason)

	// An alarm.
	if err := cl.RaiseAlarm(ctx, cl.Member("etcd-1")); err != nil {
		t.Fatal(err)
	}
	_, _, err = waitHealthy(t, cl, &waitHealthyArgs{Timeout: engine.Duration(time.Second)}, false)
	if err == nil || !strings.Contains(err.Error(), "alarm raised: NOSPACE on etcd-1") {
		t.Errorf("with an alarm: %v", err)
	}
	c, _, err = waitHealthy(t, cl, &waitHealthyArgs{Alarms: "report", Timeout: engine.Duration(time.Second)}, false)
	if err != nil || fmt.Sprint(c.data["alarms"]) != "[NOSPACE on etcd-1]" {
		t.Errorf("with an alarm and alarms=report: %v, alarms %v", err, c.data["alarms"])
	}
}
