package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestWaitHealthy(t *testing.T) {
	skipSlowInShort(t)
	t.Parallel()
	cl := etcdtest.Start(t, 3, etcdtest.Options{})
	c, p, err := waitHealthy(t, cl, &waitHealthyArgs{}, false)
	if err != nil {
		t.Fatal(err)
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
		return planSnapshotSave(ctx, s, ec, dir, set)
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
	if want := fmt.Sprintf("etcd-%s-r%d-", c.str("cluster_id"), c.data["revision"]); !strings.HasPrefix(filepath.Base(path), want) {
		t.Errorf("name %s, want prefix %s", filepath.Base(path), want)
	}
	if rc := c.str("restore_command"); !strings.Contains(rc, "etcdutl snapshot restore "+filepath.Base(path)) || !strings.Contains(rc, "etcd-1="+cl.Member("etcd-1").PeerURL) {
		t.Errorf("restore command %q", rc)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".etcd-snapshot-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A damaged file fails verification.
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, b, 0o600)
	if _, err := verifySnapshot(bad, int64(len(b))); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("damaged snapshot: %v", err)
	}
}
