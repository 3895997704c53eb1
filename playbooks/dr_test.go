//go:build linux

package playbooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

// setupDRLab boots the disaster-recovery lab: hosts hosts, etcd-1..3 in
// group etcd, and the inventory text groups. Its clusters run client and
// peer TLS with client-certificate auth (etcd_tls=auto), as production
// clusters do: the plain runs of the playbooks are the e2e lab's.
func setupDRLab(tb testing.TB, hosts int, groups ...string) *labtest.Env {
	tb.(*testing.T).Parallel()
	return drLab.boot(tb, hosts, strings.Join(append(groups, "[all:vars]\netcd_tls=auto\n"), "\n"), true)
}

// TestRestore is etcd's restore drill: keys written, a backup, more keys,
// every member's data destroyed (etcd-1's kept on disk, the others'
// removed), then the restore command the backup printed. Every key of
// the backup is back, none written after it, the members are the same
// names, the old data is kept aside, and a watcher started before it
// never sees a revision go back. A restore killed half way finishes when
// run again; one over the healthy cluster is refused, and the override
// it names restores.
func TestRestore(t *testing.T) {
	e := setupDRLab(t, 3)
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	e.MustPlay(t, "bootstrap")
	c := e.Client(t, members...)
	before := labtest.PutKeys(t, c, "before", 200)

	w := startRevWatcher(c)
	b := e.MustPlay(t, "backup", "--text")
	restore := b.Remedy(t, "to restore it: ")
	after := labtest.PutKeys(t, c, "after", 20)
	snapRev := revisionOf(t, c) - 20 // the backup's: before the 20 puts after it

	// The disaster: etcd killed everywhere, the data gone from etcd-2 and
	// etcd-3; etcd-1's stays on disk, lost to the cluster all the same.
	for _, h := range members {
		script := "systemctl kill -s KILL etcd; systemctl stop etcd; true"
		if h != "etcd-1" {
			script += "; rm -rf /var/lib/etcd/" + h + ".etcd"
		}
		e.Exec(t, h, script)
	}

	// --check shows the plan and changes nothing.
	states := e.HostStates(t, members...)
	check := e.RunCommand(t, restore+" --check")
	if check.Code != 0 || !strings.Contains(check.Out, "would start from") {
		t.Fatalf("restore --check: exit %d\n%s", check.Code, check.Out)
	}
	e.WantUnchanged(t, states)

	// Killed once its first member is restored, then run again.
	killed, hit := e.PlayUntil(t, func(ev labtest.Event) bool {
		return ev.Type == "host_result" && ev.Module == "snapshot_restore" && ev.Status == "changed"
	}, func(p *os.Process) { p.Kill() }, "restore", restoreArgs(t, restore)...)
	if !hit {
		t.Fatalf("the restore never restored a member before it ended (exit %d):\n%s", killed.Code, killed.Out)
	}
	start := time.Now()
	r := e.RunCommand(t, restore)
	took := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", restore, r.Code, r.Out)
	}
	t.Logf("restore after the interrupted one (%s):\n%s", took.Round(time.Millisecond), r.Out)
	e.WantMembers(t, members, members...)
	labtest.WantKeys(t, c, before)
	for k := range after {
		if e.Key(t, members, k) != "" {
			t.Errorf("%s, written after the backup, is in the restored cluster", k)
		}
	}
	if got := e.Exec(t, "etcd-1", "ls -d /var/lib/etcd/etcd-1.etcd.before-restore-* | wc -l"); strings.TrimSpace(got) != "1" {
		t.Errorf("etcd-1's old data dir is not kept aside once: %q", got)
	}
	for _, h := range members {
		if own := e.Exec(t, h, "stat -c '%U %a' /var/lib/etcd/"+h+".etcd"); strings.TrimSpace(own) != "etcd 700" {
			t.Errorf("%s: restored data dir %q, want owner etcd, mode 700", h, own)
		}
		if conf := e.Conf(t, h); !strings.Contains(conf, `ETCD_INITIAL_CLUSTER_STATE="existing"`) {
			t.Errorf("%s: etcd.conf does not say existing after the restore", h)
		}
	}
	rev := revisionOf(t, c)
	if rev < snapRev+1_000_000_000 {
		t.Errorf("revision after the restore %d, want past the snapshot's %d by the bump", rev, snapRev)
	}
	labtest.PutKeys(t, c, "restored", 5)
	// Resumed on the restored cluster, the watch is told its revisions
	// are compacted (--mark-compacted), rather than shown old ones again.
	seen := w.stop(t)
	t.Logf("watcher: %d events, last revision %d; then: %s", len(seen.revs), seen.last, seen.end)
	if seen.back || !strings.Contains(seen.end, "compacted") {
		t.Errorf("the watcher saw revisions go back (%v) or was not told of the compaction (%s)", seen.back, seen.end)
	}

	// Over the healthy cluster: refused, with the override to use.
	again := e.RunCommand(t, restore)
	if again.Code != 5 || !strings.Contains(again.Out, "is healthy on") {
		t.Fatalf("restore over a healthy cluster: exit %d, want 5\n%s", again.Code, again.Out)
	}
	override := again.Remedy(t, "If replacing it is meant: ")

	// The override with a damaged copy of the snapshot: refused before
	// etcd is stopped anywhere.
	m := regexp.MustCompile(`snapshot=(\S+)`).FindStringSubmatch(override)
	if m == nil {
		t.Fatalf("no snapshot= in %s", override)
	}
	data, err := os.ReadFile(filepath.Join(e.Work, m[1]))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(e.Work, m[1]+".damaged"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	states = e.HostStates(t, members...)
	bad := e.RunCommand(t, strings.Replace(override, "snapshot="+m[1], "snapshot="+m[1]+".damaged", 1))
	if bad.Code != 5 || !strings.Contains(bad.Out, "nothing was changed: restore from another snapshot") {
		t.Errorf("a forced restore from a damaged snapshot: exit %d, want 5 with nothing changed\n%s", bad.Code, bad.Out)
	}
	e.WantUnchanged(t, states)

	forced := e.RunCommand(t, override)
	if forced.Code != 0 {
		t.Fatalf("the override of the refusal: exit %d\n%s", forced.Code, forced.Out)
	}
	e.WantMembers(t, members, members...)
	labtest.WantKeys(t, c, before)
	if e.Key(t, members, "restored/0000") != "" {
		t.Errorf("a key written after the first restore survived the forced second one")
	}
}

// restoreArgs are the -e arguments of a printed restore command, for
// PlayUntil (which adds the inventory and etcd_src itself).
func restoreArgs(t *testing.T, cmd string) []string {
	t.Helper()
	f := strings.Fields(cmd)
	var out []string
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-e" && !strings.HasPrefix(f[i+1], "etcd_src=") {
			out = append(out, "-e", f[i+1])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no -e in %q", cmd)
	}
	return out
}

// revWatcher records the revisions a watch of a prefix sees.
type revWatcher struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   revsSeen
}

type revsSeen struct {
	revs []int64
	last int64  // the highest revision seen
	back bool   // a revision came after a higher one
	end  string // how the watch ended, if it did
}

// startRevWatcher watches every key from the current revision on.
func startRevWatcher(c *clientv3.Client) *revWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &revWatcher{cancel: cancel, done: make(chan struct{})}
	from := int64(1)
	if get, err := c.Get(ctx, "\x00", clientv3.WithCountOnly()); err == nil {
		from = get.Header.Revision
	}
	go func() {
		defer close(w.done)
		// Without WithRequireLeader the client rides out the outage and
		// resumes after the last revision it saw, on the restored cluster.
		for resp := range c.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(from)) {
			w.mu.Lock()
			if err := resp.Err(); err != nil {
				w.seen.end = err.Error()
				if resp.CompactRevision > 0 {
					w.seen.end += fmt.Sprintf(" (compacted at %d)", resp.CompactRevision)
				}
			}
			for _, ev := range resp.Events {
				r := ev.Kv.ModRevision
				w.seen.revs = append(w.seen.revs, r)
				if r < w.seen.last {
					w.seen.back = true
				}
				w.seen.last = max(w.seen.last, r)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// stop ends the watch once it ended by itself or after a while (the
// client reconnects with a backoff after an outage).
func (w *revWatcher) stop(t *testing.T) revsSeen {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
	}
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		t.Errorf("the watcher did not stop")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen.end == "" {
		w.seen.end = "still watching"
	}
	return w.seen
}

// revisionOf is the cluster's current revision.
func revisionOf(t *testing.T, c *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestRecover: quorum lost for good. recover is refused on a healthy
// cluster and with only a minority down; with two of three member hosts
// killed, it refuses until they are named as lost, and the command it
// prints brings the cluster back on the survivor with every key, which
// then grows back to three members on other hosts. A lost host that
// boots again is kept out by the command the recover printed.
func TestRecover(t *testing.T) {
	e := setupDRLab(t, 5)
	e.MustPlay(t, "bootstrap")
	c := e.Client(t, "etcd-1")
	kv := labtest.PutKeys(t, c, "recover", 100)

	for _, step := range []struct {
		kill, want string
	}{
		{"", "has quorum"},
		{"etcd-3", "has quorum"},
	} {
		if step.kill != "" {
			if err := e.Lab.Kill(step.kill); err != nil {
				t.Fatal(err)
			}
		}
		states := e.HostStates(t, "etcd-1", "etcd-2")
		r := e.Play(t, "recover", "--text")
		if r.Code != 5 || !strings.Contains(r.Out, step.want) {
			t.Fatalf("recover with %q killed: exit %d, want 5 and %q\n%s", step.kill, r.Code, step.want, r.Out)
		}
		e.WantUnchanged(t, states)
	}

	if err := e.Lab.Kill("etcd-2"); err != nil {
		t.Fatal(err)
	}
	states := e.HostStates(t, "etcd-1")
	r := e.Play(t, "recover", "--text")
	if r.Code != 5 || !strings.Contains(r.Out, "cannot be reached") {
		t.Fatalf("recover with etcd-2 and etcd-3 unreachable: exit %d, want 5 naming them\n%s", r.Code, r.Out)
	}
	e.WantUnchanged(t, states)
	start := time.Now()
	rec := e.RunCommand(t, r.Remedy(t, "If they are gone for good: "))
	took := time.Since(start)
	if rec.Code != 0 {
		t.Fatalf("recover: exit %d\n%s", rec.Code, rec.Out)
	}
	t.Logf("recover (%s):\n%s", took.Round(time.Millisecond), rec.Out)
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1")
	labtest.WantKeys(t, c, kv)
	labtest.PutKeys(t, c, "recovered", 10)
	if left := e.Exec(t, "etcd-1", "grep -rl FORCE_NEW_CLUSTER /etc/etcd /etc/systemd /run/systemd/system 2>/dev/null; true"); strings.TrimSpace(left) != "" {
		t.Errorf("etcd-1 still forces a new cluster at its next start: %s", left)
	}

	// Back to three members, on other hosts.
	e.MustPlay(t, "add", "-e", "new=etcd-4")
	e.MustPlay(t, "add", "-e", "new=etcd-5")
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-4", "etcd-5")
	labtest.WantKeys(t, e.Client(t, "etcd-4", "etcd-5"), kv)

	// A lost host that comes back is kept out with the command printed.
	keepOut := rec.Remedy(t, "or, once it is up: ")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.Lab.Start(ctx, "etcd-2"); err != nil {
		t.Fatal(err)
	}
	// etcd-3 stays dead: the command is run for the host that is back.
	if out := e.RunCommand(t, strings.Replace(keepOut, "etcd-2,etcd-3", "etcd-2", 1)); out.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", keepOut, out.Code, out.Out)
	}
	if st := e.Exec(t, "etcd-2", "systemctl is-active etcd; systemctl is-enabled etcd; true"); !strings.Contains(st, "inactive") || !strings.Contains(st, "disabled") {
		t.Errorf("etcd-2 after the keep-out command: %q, want inactive and disabled", st)
	}
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-4", "etcd-5")
}

// TestMaintenance: a cluster with a small quota filled until NOSPACE is
// brought back to writable by free_space with its data intact; defrag
// under a steady writer loses no write, shrinks every database and takes
// the leader last; check passes on the healthy cluster and names the
// member whose keys were changed behind etcd's back, with the command
// that re-creates it, which makes check pass again.
func TestMaintenance(t *testing.T) {
	const quota = 8 << 20
	e := setupDRLab(t, 3, fmt.Sprintf("[etcd:vars]\netcd_settings={\"ETCD_QUOTA_BACKEND_BYTES\": \"%d\"}\n", quota))
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	e.MustPlay(t, "bootstrap")
	c := e.Client(t, members...)
	kv := labtest.PutKeys(t, c, "keep", 50)

	// Overwriting a few keys fills the database with their history.
	big := strings.Repeat("x", 256<<10)
	full := false
	for i := 0; i < 200 && !full; i++ {
		k, v := fmt.Sprintf("big/%d", i%4), fmt.Sprintf("%d:%s", i, big)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Put(ctx, k, v)
		cancel()
		switch {
		case err != nil && strings.Contains(err.Error(), "database space exceeded"):
			full = true
		case err != nil:
			t.Fatalf("put %s: %v", k, err)
		}
	}
	if !full {
		t.Fatalf("200 writes of 256 kB did not fill a %d-byte quota", quota)
	}
	// The write NOSPACE refused may be applied all the same (etcd checks
	// the quota again after applying): what the cluster holds now is
	// what must survive.
	last := map[string]string{}
	for i := range 4 {
		k := fmt.Sprintf("big/%d", i)
		last[k] = e.Key(t, members, k)
	}
	if a := e.MustPlay(t, "alarms", "--text"); !strings.Contains(a.Out, "NOSPACE") {
		t.Errorf("alarms does not show NOSPACE:\n%s", a.Out)
	}
	// A change refused for want of writes names what frees the space.
	states := e.HostStates(t, members...)
	rr := e.Play(t, "rolling_restart", "--text")
	if rr.Code != 5 || !strings.Contains(rr.Out, "raised NOSPACE") {
		t.Fatalf("rolling_restart under NOSPACE: exit %d, want 5 saying so\n%s", rr.Code, rr.Out)
	}
	e.WantUnchanged(t, states)
	fs := e.RunCommand(t, rr.Remedy(t, "free the space first: "))
	if fs.Code != 0 {
		t.Fatalf("free_space: exit %d\n%s", fs.Code, fs.Out)
	}
	t.Logf("free_space:\n%s", fs.Out)
	labtest.WantKeys(t, c, kv)
	for k, v := range last {
		if got := e.Key(t, members, k); got != v {
			t.Errorf("%s after free_space: %d bytes starting %.12q, want %d bytes starting %.12q", k, len(got), got, len(v), v)
		}
	}
	labtest.PutKeys(t, c, "writable", 5)

	// More history, compacted, then defragmented under a writer.
	for i := 0; i < 16; i++ {
		labtest.PutKeys(t, c, fmt.Sprintf("churn/%d", i%2), 4)
	}
	e.MustPlay(t, "compact")
	leader := leaderOf(t, e, c, members)
	w := labtest.StartWriter(c, "defrag-writes")
	d := e.MustPlay(t, "defrag", "-e", "min_free=0")
	st := w.Stop()
	t.Logf("defrag:\n%s", d.Prints())
	t.Logf("writer during defrag: %d writes, %d retried (%s), %d failed, longest stall %s", len(st.KV), st.Retried, st.RetryKinds(), len(st.Failed), st.MaxStall.Round(time.Millisecond))
	if len(st.Failed) > 0 {
		t.Errorf("writes failed during defrag: %v", st.Failed)
	}
	labtest.WantKeys(t, c, st.KV)
	var order []string
	for _, ev := range d.Events {
		if ev.Type == "host_result" && ev.Module == "defrag" {
			order = append(order, fmt.Sprint(ev.Data["member"]))
			if b, a := ev.Data["db_size"].(float64), ev.Data["db_size_after"].(float64); ev.Status == "changed" && a >= b {
				t.Errorf("%s: database %v bytes after defrag, %v before", ev.Data["member"], a, b)
			}
		}
	}
	if len(order) != 3 || order[2] != leader {
		t.Errorf("defrag order %v, want every member with the leader %s last", order, leader)
	}

	if r := e.MustPlay(t, "check", "--text"); !strings.Contains(r.Out, "consistent: 3 members") {
		t.Errorf("check on a healthy cluster:\n%s", r.Out)
	}
	// etcd-3's copy of a key changed in its database, etcd stopped.
	e.Exec(t, "etcd-3", "systemctl stop etcd")
	corruptValue(t, e.Lab.Dir()+"/hosts/host3/root/var/lib/etcd/etcd-3.etcd/member/snap/db", "keep/0001")
	e.Exec(t, "etcd-3", "systemctl start etcd")
	e.WaitHealthy(t, members...)
	bad := e.Play(t, "check", "--text")
	if bad.Code == 0 || !strings.Contains(bad.Out, "etcd-3 holds different keys") {
		t.Fatalf("check with etcd-3's data changed: exit %d, want a failure naming etcd-3\n%s", bad.Code, bad.Out)
	}
	fix := bad.Remedy(t, "re-create it from the cluster's data, one at a time: ")
	if r := e.RunCommand(t, fix); r.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", fix, r.Code, r.Out)
	}
	if r := e.MustPlay(t, "check", "--text"); !strings.Contains(r.Out, "consistent: 3 members") {
		t.Errorf("check after etcd-3 was re-created:\n%s", r.Out)
	}
}

// leaderOf is the name of the member that leads.
func leaderOf(t *testing.T, e *labtest.Env, c *clientv3.Client, members []string) string {
	t.Helper()
	for _, h := range members {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.Status(ctx, e.Endpoints(h)[0])
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return h
		}
	}
	t.Fatal("no member leads")
	return ""
}

// corruptValue changes the value of key in the etcd database at path (its
// latest revision) without changing its size, as a bad disk would.
func corruptValue(t *testing.T, path, key string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		var at, val []byte
		b.ForEach(func(k, v []byte) error {
			var kv mvccpb.KeyValue
			if kv.Unmarshal(v) == nil && string(kv.Key) == key {
				kv.Value = []byte(strings.ToUpper(string(kv.Value)))
				at, val = append([]byte(nil), k...), nil
				val, _ = kv.Marshal()
			}
			return nil
		})
		if at == nil {
			return fmt.Errorf("no %s in %s", key, path)
		}
		return b.Put(at, val)
	})
	if err != nil {
		t.Fatal(err)
	}
}
