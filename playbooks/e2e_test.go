//go:build linux

package playbooks_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab/labtest"
)

// setupTLSLab is setupLab with every member on client and peer TLS, with
// client certificates, from etcdplay's own CA (etcd_tls=auto).
func setupTLSLab(tb testing.TB) *labtest.Env {
	return e2eLab.boot(tb, e2eHosts, e2eGroups+"\n[all:vars]\netcd_tls=auto\n", true)
}

// TestMain destroys the benchmarks' lab and removes the binary built for
// the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchLast != nil {
		benchLast.run()
		if benchFailed && code == 0 {
			code = 1
		}
	}
	labtest.Cleanup()
	os.Exit(code)
}

// TestPlaybooks runs the shipped playbooks end to end in one lab of six
// hosts, each group of steps starting where the one before left the
// cluster: bootstrap on etcd-1..3, a check-mode replace, replaces of a
// live and a dead member, a replace interrupted and resumed, a remove the
// quorum gate refuses, a rolling restart under writes, bootstraps refused
// on hosts with another cluster's data; then status, backup, an add and a
// remove (each first in check mode), and a move to another peer port.
func TestPlaybooks(t *testing.T) {
	t.Parallel()
	playbooks(t, setupLab(t, e2eLab))
}

// TestPlaybooksTLS runs the steps of TestPlaybooks on a cluster with
// client and peer TLS and client certificates, made by etcdplay
// (etcd_tls=auto), then renews every member's certificates and rotates
// the CA under a writer.
func TestPlaybooksTLS(t *testing.T) {
	t.Parallel()
	e := setupTLSLab(t)
	playbooks(t, e)
	if !t.Failed() {
		t.Run("rotate_certs", func(t *testing.T) { testRotateCerts(t, e) })
	}
}

func playbooks(t *testing.T, e *labtest.Env) {
	steps := []struct {
		name string
		f    func(*testing.T, *labtest.Env)
	}{
		{"bootstrap", testBootstrap},
		{"replace/check", testReplaceCheck},
		{"replace/live-and-dead", testReplace},
		{"replace/resume", testReplaceResume},
		{"remove/refused", testRemoveRefused},
		{"rolling_restart", testRollingRestart},
		{"bootstrap/refused", testBootstrapRefused},
		{"status", testStatus},
		{"backup", testBackup},
		{"add/check", testAddCheck},
		{"add", testAdd},
		{"remove/check", testRemoveCheck},
		{"remove", testRemove},
		{"move", testMove},
	}
	for _, s := range steps {
		// Each step needs the cluster the one before left.
		if !t.Run(s.name, func(t *testing.T) { s.f(t, e) }) {
			t.Fatalf("%s failed; the later steps need its cluster", s.name)
		}
	}
}

// testBootstrap: 3 members from the control machine's etcdctl; a re-run
// changes nothing and restarts nothing.
func testBootstrap(t *testing.T, e *labtest.Env) {
	before := e.HostStates(t, "etcd-1", "etcd-2", "etcd-3")
	check := e.MustPlay(t, "bootstrap", "--check", "--diff", "--text")
	for _, want := range []string{"would install /usr/local/bin/etcd", `+ETCD_INITIAL_CLUSTER_STATE="new"`, "a new cluster of 3 members would start"} {
		if !strings.Contains(check.Out, want) {
			t.Errorf("bootstrap --check output lacks %q\n%s", want, check.Out)
		}
	}
	e.WantUnchanged(t, before)

	first := e.MustPlay(t, "bootstrap")
	if first.Changed() == 0 {
		t.Errorf("first bootstrap reports no change")
	}
	t.Logf("bootstrap output:\n%s", first.Prints())
	e.WantMembers(t, []string{"etcd-1", "etcd-2", "etcd-3"}, "etcd-1", "etcd-2", "etcd-3")
	for _, h := range []string{"etcd-1", "etcd-2", "etcd-3"} {
		if conf := e.Exec(t, h, "cat /etc/etcd/etcd.conf"); !strings.Contains(conf, `ETCD_INITIAL_CLUSTER_STATE="existing"`) {
			t.Errorf("%s: etcd.conf does not say existing after bootstrap:\n%s", h, conf)
		}
	}

	before = e.HostStates(t, "etcd-1", "etcd-2", "etcd-3")
	again := e.MustPlay(t, "bootstrap")
	if n := again.Changed(); n != 0 {
		t.Errorf("bootstrap re-run on a healthy cluster: %d changed, want 0\n%s", n, again.Out)
	}
	e.WantUnchanged(t, before) // the same etcd processes: nothing restarted
}

// testReplaceCheck: --check --diff prints the whole plan and changes
// nothing on any host.
func testReplaceCheck(t *testing.T, e *labtest.Env) {
	all := []string{"etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5", "etcd-6"}
	before := e.HostStates(t, all...)
	r := e.Play(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4", "--check", "--diff", "--text")
	if r.Code != 0 {
		t.Fatalf("replace --check: exit %d\n%s", r.Code, r.Out)
	}
	for _, want := range []string{
		"order: add etcd-4 first, then remove etcd-2: etcd-2 is healthy",
		"would save a snapshot",
		"would install /usr/local/bin/etcd",
		"would add etcd-4 (" + e.Peer("etcd-4") + ") as a learner",
		"+++ etcd-4:/etc/etcd/etcd.conf",
		`+ETCD_INITIAL_CLUSTER_STATE="existing"`,
		// While it joins, etcd-4's initial cluster is every member and
		// itself: etcd-2 goes only once etcd-4 votes.
		`+ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-1", "etcd-2", "etcd-3", "etcd-4") + `"`,
		"would promote etcd-4",
		"would remove etcd-2",
		"would stop etcd.service",
		`-ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-1", "etcd-2", "etcd-3") + `"`,
		`+ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-1", "etcd-3", "etcd-4") + `"`,
		"check mode: nothing was changed",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("replace --check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.Out)
	}
	e.WantUnchanged(t, before)
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-3")
	if snaps, _ := filepath.Glob(filepath.Join(e.Work, "backups", "*")); len(snaps) > 0 {
		t.Errorf("check mode saved snapshots: %v", snaps)
	}
}

// testReplace: a live member, then a dead one; every key written before
// reads back after.
func testReplace(t *testing.T, e *labtest.Env) {
	c := e.Client(t, "etcd-1", "etcd-2", "etcd-3")
	kv := labtest.PutKeys(t, c, "replace", 200)

	r := e.MustPlay(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4")
	t.Logf("replace etcd-2 (live) by etcd-4:\n%s", r.Prints())
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4")
	if st := e.Exec(t, "etcd-2", "systemctl is-active etcd; systemctl is-enabled etcd; true"); !strings.Contains(st, "inactive") || !strings.Contains(st, "disabled") {
		t.Errorf("etcd-2 after it was replaced: etcd %q, want inactive and disabled", st)
	}

	// etcd-3's host dies; its member is replaced by etcd-5.
	if err := e.Lab.Kill("etcd-3"); err != nil {
		t.Fatal(err)
	}
	r = e.MustPlay(t, "replace", "-e", "old=etcd-3", "-e", "new=etcd-5")
	t.Logf("replace etcd-3 (dead) by etcd-5:\n%s", r.Prints())
	// The dead host is waited on once: the steps after the first that
	// failed to reach it were told so without dialling it again.
	var dials, again []string
	for _, ev := range r.Events {
		if ev.Host == "etcd-3" && ev.Status == "unreachable" {
			if strings.Contains(ev.Msg, "not dialled again") {
				again = append(again, ev.Msg)
			} else {
				dials = append(dials, ev.Msg)
			}
		}
	}
	if len(dials) > 1 {
		t.Errorf("etcd-3 was dialled %d times in one run:\n%s", len(dials), strings.Join(dials, "\n"))
	}
	t.Logf("etcd-3 (dead): %d step(s) waited on its dial, %d more told it was unreachable without one; %s", len(dials), len(again), labtest.Breakdown(r))
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-4", "etcd-5")

	after := e.Client(t, "etcd-1", "etcd-4", "etcd-5")
	labtest.WantKeys(t, after, kv)
	snaps, _ := filepath.Glob(filepath.Join(e.Work, "backups", "etcd-*-r*.db"))
	if len(snaps) != 2 {
		t.Errorf("snapshots: %v, want one per replace", snaps)
	}
}

// testReplaceResume: the new host fails to start etcd after it was added
// as a learner. The old member is still a voter (add before remove): the
// run stops there, and the recap says what the cluster holds and the
// command that continues. Once the host is fixed, that command finishes
// the replace with the same member.
func testReplaceResume(t *testing.T, e *labtest.Env) {
	// etcd-2 holds the data of the member it was; its etcd will not start.
	e.Exec(t, "etcd-2", "mkdir -p /etc/systemd/system/etcd.service.d && "+
		"printf '[Service]\\nExecStartPre=/bin/false\\n' > /etc/systemd/system/etcd.service.d/broken.conf && systemctl daemon-reload")
	r := e.Play(t, "replace", "-e", "old=etcd-1", "-e", "new=etcd-2")
	if r.Code == 0 {
		t.Fatalf("replace onto a host whose etcd cannot start succeeded\n%s", r.Out)
	}
	ms := e.Members(t, "etcd-4")
	var learner *labtest.Member
	old := false
	for i, m := range ms {
		if m.Name == "etcd-1" {
			old = true
		}
		if m.IsLearner {
			learner = &ms[i]
		}
	}
	if !old {
		t.Errorf("etcd-1 is not a member after the failed run: the old member must stay until the new one votes")
	}
	if learner == nil || learner.PeerURLs[0] != e.Peer("etcd-2") {
		t.Fatalf("after the failed run: members %+v, want etcd-2 added as a learner", ms)
	}
	t.Logf("stopped half way: learner %x added, etcd on etcd-2 failed to start; recap:\n%s", learner.ID, strings.Join(r.Recovery(), "\n"))
	cont := r.Remedy(t, "to continue: ")
	if want := fmt.Sprintf("the cluster now: 3 voters (etcd-1, etcd-4, etcd-5); 1 learner (not started: member %x at %s)", learner.ID, e.Peer("etcd-2")); !slices.Contains(r.Recovery(), want) {
		t.Errorf("the recap does not say what the cluster holds:\n%s", strings.Join(r.Recovery(), "\n"))
	}
	if undo := r.Remedy(t, "or, to undo it: "); !strings.Contains(undo, "run remove") || !strings.Contains(undo, "member=etcd-2") || strings.Contains(undo, "old=") {
		t.Errorf("undo %q, want the remove of etcd-2", undo)
	}

	e.Exec(t, "etcd-2", "rm -r /etc/systemd/system/etcd.service.d && systemctl daemon-reload")
	r = e.RunCommand(t, cont)
	if r.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", cont, r.Code, r.Out)
	}
	t.Logf("resumed:\n%s", r.Prints())
	ms = e.WantMembers(t, []string{"etcd-4"}, "etcd-2", "etcd-4", "etcd-5")
	for _, m := range ms {
		if m.Name == "etcd-2" && m.ID != learner.ID {
			t.Errorf("etcd-2 is member %x, want the learner %x the first run added", m.ID, learner.ID)
		}
	}
}

// testRemoveRefused: with etcd-4 down, removing healthy etcd-5 would leave
// one healthy voter of two: refused with the arithmetic, nothing changed.
func testRemoveRefused(t *testing.T, e *labtest.Env) {
	ctx := context.Background()
	if err := e.Lab.Stop(ctx, "etcd-4"); err != nil {
		t.Fatal(err)
	}
	before := e.HostStates(t, "etcd-2", "etcd-5")
	r := e.Play(t, "remove", "-e", "member=etcd-5")
	if r.Code != 5 {
		t.Errorf("remove of a healthy member with another down: exit %d, want 5 (refused)\n%s", r.Code, r.Out)
	}
	for _, want := range []string{"etcd-5", "quorum 2", "1 healthy"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("refusal does not show %q:\n%s", want, r.Out)
		}
	}
	t.Logf("refusal:\n%s", r.Out)
	if len(r.Recovery()) > 0 || strings.Contains(r.Out, "TO RECOVER") {
		t.Errorf("a refusal that changed nothing gives recovery advice: %q", r.Recovery())
	}
	e.WantUnchanged(t, before)
	ms := e.Members(t, "etcd-2")
	if len(ms) != 3 {
		t.Errorf("members after the refused remove: %+v", ms)
	}

	if err := e.Lab.Start(ctx, "etcd-4"); err != nil {
		t.Fatal(err)
	}
	e.WaitHealthy(t, "etcd-2", "etcd-4", "etcd-5")
}

// testRollingRestart: a writer puts keys all along; no write fails beyond
// the retries of a leader change or a restarting member's connection, and
// every write reads back.
func testRollingRestart(t *testing.T, e *labtest.Env) {
	c := e.Client(t, "etcd-2", "etcd-4", "etcd-5")
	w := labtest.StartWriter(c, "rolling")
	r := e.Play(t, "rolling_restart")
	st := w.Stop()
	if r.Code != 0 {
		t.Fatalf("rolling_restart: exit %d\n%s", r.Code, r.Out)
	}
	t.Logf("rolling_restart:\n%s", r.Prints())
	t.Logf("writer: %d writes, %d retried (%s), %d failed", len(st.KV), st.Retried, st.RetryKinds(), len(st.Failed))
	if len(st.Failed) > 0 {
		t.Errorf("writes failed beyond retries: %v", st.Failed)
	}
	if len(st.KV) < 20 {
		t.Errorf("only %d writes during the rolling restart", len(st.KV))
	}
	labtest.WantKeys(t, c, st.KV)
	e.WantMembers(t, []string{"etcd-2"}, "etcd-2", "etcd-4", "etcd-5")
}

// testBootstrapRefused: a group holding a removed member's data (etcd-1),
// and one with members of the running cluster (etcd-4, etcd-5): refused,
// naming the host and the cluster ID; nothing changed.
func testBootstrapRefused(t *testing.T, e *labtest.Env) {
	cluster := clusterID(t, e, "etcd-2")
	before := e.HostStates(t, "etcd-1", "etcd-4", "etcd-5", "etcd-6")

	r := e.Play(t, "bootstrap", "-e", "group=stale")
	if r.Code != 5 {
		t.Fatalf("bootstrap on etcd-1, which holds a removed member's data: exit %d, want 5 (refused)\n%s", r.Code, r.Out)
	}
	if !strings.Contains(r.Out, "etcd-1 holds the data of member") || !strings.Contains(r.Out, "of cluster "+cluster) {
		t.Errorf("refusal does not name etcd-1 and cluster %s:\n%s", cluster, r.Out)
	}
	t.Logf("refusal:\n%s", r.Out)

	r = e.Play(t, "bootstrap", "-e", "group=mixed")
	if r.Code != 5 {
		t.Fatalf("bootstrap on etcd-6, etcd-4, etcd-5 (members of a running cluster): exit %d, want 5 (refused)\n%s", r.Code, r.Out)
	}
	if !strings.Contains(r.Out, "cluster "+cluster) || !strings.Contains(r.Out, "runs a member") {
		t.Errorf("refusal does not name the running cluster %s:\n%s", cluster, r.Out)
	}
	t.Logf("refusal:\n%s", r.Out)
	e.WantUnchanged(t, before)

	// The remedy the first refusal printed moves etcd-1's data aside,
	// kept; the same bootstrap is then refused no more for that data.
	r = e.Play(t, "bootstrap", "-e", "group=stale")
	fix := r.Remedy(t, "move its data aside (it is kept, renamed): ")
	if x := e.RunCommand(t, fix); x.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", fix, x.Code, x.Out)
	}
	if ls := e.Exec(t, "etcd-1", "ls /var/lib/etcd/etcd-1.etcd; ls -d /var/lib/etcd/etcd-1.etcd.wiped-*"); !strings.Contains(ls, "etcd-1.etcd.wiped-") || strings.Contains(ls, "member") {
		t.Errorf("after %s: %s, want an empty data dir and the data moved aside", fix, ls)
	}
}

func clusterID(t *testing.T, e *labtest.Env, host string) string {
	t.Helper()
	c := e.Client(t, host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", resp.Header.ClusterId)
}

// liveHosts are the lab's hosts that answer in the steps after the
// replaces: etcd-3 has been down since replace/live-and-dead.
var liveHosts = []string{"etcd-1", "etcd-2", "etcd-4", "etcd-5", "etcd-6"}

// clusterVersionOf is the cluster version etcd reports for a cluster of
// members of version v: its minor, patch 0.
func clusterVersionOf(v string) string {
	pv, _ := etcd.ParseVersion(v)
	return pv.MinorString() + ".0"
}

// testStatus: the member table says what etcd itself says (who leads,
// raft term and index, db size, version, no alarm); a node whose
// etcd.conf still says "new" is flagged, and the fix status gives puts
// it back without restarting anything.
func testStatus(t *testing.T, e *labtest.Env) {
	hosts := []string{"etcd-2", "etcd-4", "etcd-5"}
	e.WaitHealthy(t, hosts...)
	before := e.HostStates(t, hosts...)
	r := e.MustPlay(t, "status")
	t.Logf("status:\n%s", r.Prints())
	if n := r.Changed(); n != 0 {
		t.Errorf("status changed %d things", n)
	}
	header, rows := labtest.PrintedTable(t, r, "ID")
	want := []string{"ID", "NAME", "STATUS", "PEER URLS", "CLIENT URLS", "TERM", "INDEX", "DB", "VERSION", "CLUSTER VERSION", "ALARMS"}
	if e.TLS {
		want = append(want, "CERT EXPIRES")
	}
	if !slices.Equal(header, want) {
		t.Errorf("member table columns %q, want %q", header, want)
	}
	if len(rows) != len(hosts) {
		t.Fatalf("member table rows %v, want one per member of %v", rows, hosts)
	}
	leaders := 0
	for _, row := range rows {
		h := row["NAME"]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := e.Client(t, h).Status(ctx, e.Endpoints(h)[0])
		cancel()
		if err != nil {
			t.Fatalf("%s: status: %v", h, err)
		}
		role := "follower"
		if st.Leader == st.Header.MemberId {
			role = "leader"
			leaders++
		}
		index, _ := strconv.ParseUint(row["INDEX"], 10, 64)
		for col, ok := range map[string]bool{
			"ID":          row["ID"] == fmt.Sprintf("%x", st.Header.MemberId),
			"STATUS":      row["STATUS"] == role,
			"PEER URLS":   row["PEER URLS"] == e.Peer(h),
			"CLIENT URLS": row["CLIENT URLS"] == e.Endpoints(h)[0],
			"TERM":        row["TERM"] == strconv.FormatUint(st.RaftTerm, 10),
			"INDEX":       index > 0 && index <= st.RaftIndex,
			"DB":          strings.HasSuffix(row["DB"], "B"),
			"VERSION":     row["VERSION"] == st.Version,
			// The cluster runs at its members' minor version.
			"CLUSTER VERSION": row["CLUSTER VERSION"] == clusterVersionOf(st.Version),
			"ALARMS":          row["ALARMS"] == "none",
		} {
			if !ok {
				t.Errorf("%s: %s %q; etcd says: %s, term %d, index %d, db %d bytes, version %s, no alarm",
					h, col, row[col], role, st.RaftTerm, st.RaftIndex, st.DbSize, st.Version)
			}
		}
	}
	if leaders != 1 {
		t.Errorf("%d members say they lead", leaders)
	}
	_, states := labtest.PrintedTable(t, r, "HOST")
	for _, row := range states {
		if row["ETCD"] != "active" || row["ETCD_INITIAL_CLUSTER_STATE"] != "existing" {
			t.Errorf("member hosts: %v, want etcd active and state existing", row)
		}
	}

	// etcd-4's etcd.conf says new, as if bootstrap had stopped before it
	// flipped the state.
	e.EtcdplayExec(t, "etcd-4", `sed -i 's/^ETCD_INITIAL_CLUSTER_STATE=.*/ETCD_INITIAL_CLUSTER_STATE="new"/' /etc/etcd/etcd.conf`)
	r = e.MustPlay(t, "status")
	t.Logf("status with etcd-4 saying new:\n%s", r.Prints())
	_, states = labtest.PrintedTable(t, r, "HOST")
	for _, row := range states {
		flagged := strings.HasPrefix(row["ETCD_INITIAL_CLUSTER_STATE"], "new") && strings.Contains(row["ETCD_INITIAL_CLUSTER_STATE"], "should say existing")
		if flagged != (row["HOST"] == "etcd-4") {
			t.Errorf("member hosts: %v: flagged %v, want only etcd-4 flagged", row, flagged)
		}
	}
	// The inventory's group etcd is not the members any more: the fix
	// asks for a group that is.
	fix := "etcdplay run bootstrap -e group=GROUP, GROUP an inventory group of exactly the members (etcd-2, etcd-4, etcd-5"
	if !strings.Contains(r.Out, `etcd-4: etcd.conf says "new"`) || !strings.Contains(r.Out, fix) {
		t.Errorf("status does not explain the flag and offer %q:\n%s", fix, r.Out)
	}
	// Through a group that is the members, the fix is a command to run;
	// run as given, it puts etcd.conf back.
	r = e.MustPlay(t, "status", "-e", "group=current")
	cmd := r.Remedy(t, "To fix it (no restart): ")
	if !strings.Contains(cmd, "etcdplay run bootstrap ") || !strings.Contains(cmd, "-e group=current") {
		t.Fatalf("status -e group=current: fix %q, want etcdplay run bootstrap ... -e group=current\n%s", cmd, r.Out)
	}
	r = e.RunCommand(t, cmd)
	if n := r.Changed(); r.Code != 0 || n != 1 {
		t.Errorf("%s to fix etcd-4's etcd.conf: exit %d, %d changed, want 1\n%s", cmd, r.Code, n, r.Out)
	}
	e.WantUnchanged(t, before) // etcd.conf as it was, the same etcd processes
}

// testBackup: a snapshot on the control machine named by cluster ID and
// the revision it holds, which etcdutl reads at that revision with every
// key.
func testBackup(t *testing.T, e *labtest.Env) {
	c := e.Client(t, "etcd-2", "etcd-4", "etcd-5")
	labtest.PutKeys(t, c, "backup", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp, err := c.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	rev, keys := resp.Header.Revision, resp.Count
	old := e.Snapshots()
	r := e.MustPlay(t, "backup")
	t.Logf("backup:\n%s", r.Prints())
	made := slices.DeleteFunc(e.Snapshots(), func(p string) bool { return slices.Contains(old, p) })
	if len(made) != 1 {
		t.Fatalf("backup saved %v, want one snapshot", made)
	}
	path := made[0]
	prefix, suffix := fmt.Sprintf("etcd-%s-", clusterID(t, e, "etcd-2")), fmt.Sprintf("-r%d.db", rev)
	if name := filepath.Base(path); !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		t.Errorf("snapshot %s, want etcd-CLUSTERID-TIME-rREVISION.db: %s...%s", name, prefix, suffix)
	}
	if !strings.Contains(r.Out, fmt.Sprintf("at revision %d: ", rev)) || !strings.Contains(r.Out, "etcdplay run restore ") || !strings.Contains(r.Out, "-e snapshot=backups/"+filepath.Base(path)) {
		t.Errorf("backup does not say the revision %d and how to restore %s:\n%s", rev, filepath.Base(path), r.Out)
	}
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		t.Fatalf("etcdutl snapshot status %s: %v", path, err)
	}
	if st.Revision != rev || int64(st.TotalKey) != keys {
		t.Errorf("etcdutl snapshot status: revision %d, %d keys; the cluster had revision %d, %d keys", st.Revision, st.TotalKey, rev, keys)
	}
}

// testAddCheck: add --check shows the plan (learner first, the configs
// as they will be) and changes nothing on any host.
func testAddCheck(t *testing.T, e *labtest.Env) {
	before := e.HostStates(t, liveHosts...)
	snaps := e.Snapshots()
	r := e.Play(t, "add", "-e", "new=etcd-6", "--check", "--diff", "--text")
	if r.Code != 0 {
		t.Fatalf("add --check: exit %d\n%s", r.Code, r.Out)
	}
	for _, want := range []string{
		"would save a snapshot",
		"would install /usr/local/bin/etcd",
		"would add etcd-6 (" + e.Peer("etcd-6") + ") as a learner",
		"+++ etcd-6:/etc/etcd/etcd.conf",
		`+ETCD_INITIAL_CLUSTER_STATE="existing"`,
		`+ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-2", "etcd-4", "etcd-5", "etcd-6") + `"`,
		`-ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-2", "etcd-4", "etcd-5") + `"`,
		"would promote etcd-6",
		"check mode: nothing was changed",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("add --check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.Out)
	}
	e.WantUnchanged(t, before)
	e.WantMembers(t, []string{"etcd-2"}, "etcd-2", "etcd-4", "etcd-5")
	if now := e.Snapshots(); !slices.Equal(now, snaps) {
		t.Errorf("check mode saved snapshots: %v", now)
	}
}

// testAdd: etcd-6 joins as a learner, never a voter before it started,
// and ends a started voter; keys written before read back through it
// alone; every member's etcd.conf lists it; a re-run changes nothing.
func testAdd(t *testing.T, e *labtest.Env) {
	c := e.Client(t, "etcd-2", "etcd-4", "etcd-5")
	kv := labtest.PutKeys(t, c, "add", 100)
	w := labtest.WatchMember(c, e.Peer("etcd-6"))
	r := e.Play(t, "add", "-e", "new=etcd-6")
	seen := w.Stop()
	if r.Code != 0 {
		t.Fatalf("add: exit %d\n%s", r.Code, r.Out)
	}
	t.Logf("add etcd-6:\n%s", r.Prints())
	t.Logf("etcd-6 in the member list: %s", strings.Join(seen, " -> "))
	if len(seen) < 3 || seen[0] != "absent" || seen[1] != "learner, unstarted" || seen[len(seen)-1] != "voter, started" ||
		slices.Contains(seen, "voter, unstarted") {
		t.Errorf("etcd-6 in the member list: %s; want absent, then a learner until it started, then a started voter", strings.Join(seen, " -> "))
	}
	all := []string{"etcd-2", "etcd-4", "etcd-5", "etcd-6"}
	e.WantMembers(t, []string{"etcd-6"}, all...)
	if !strings.Contains(r.Out, "note: 4 voting members") {
		t.Errorf("add does not note the even member count:\n%s", r.Out)
	}
	labtest.WantKeys(t, e.Client(t, "etcd-6"), kv)
	e.WantConf(t, all, `ETCD_INITIAL_CLUSTER="`+e.Cluster(all...)+`"`, `ETCD_INITIAL_CLUSTER_STATE="existing"`)

	before := e.HostStates(t, liveHosts...)
	snaps := e.Snapshots()
	again := e.MustPlay(t, "add", "-e", "new=etcd-6")
	if n := again.Changed(); n != 0 || !strings.Contains(again.Out, "etcd-6 is a voting member already") {
		t.Errorf("add re-run: %d changed, want 0 and that etcd-6 is a member already\n%s", n, again.Out)
	}
	e.WantUnchanged(t, before)
	if now := e.Snapshots(); !slices.Equal(now, snaps) {
		t.Errorf("add re-run saved a snapshot: %v", now)
	}
}

// testRemoveCheck: remove --check shows the plan (the member removed,
// its etcd stopped, the configs without it) and changes nothing.
func testRemoveCheck(t *testing.T, e *labtest.Env) {
	before := e.HostStates(t, liveHosts...)
	snaps := e.Snapshots()
	r := e.Play(t, "remove", "-e", "member=etcd-2", "--check", "--diff", "--text")
	if r.Code != 0 {
		t.Fatalf("remove --check: exit %d\n%s", r.Code, r.Out)
	}
	for _, want := range []string{
		"would save a snapshot",
		"would remove etcd-2",
		"would stop etcd.service",
		`-ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-2", "etcd-4", "etcd-5", "etcd-6") + `"`,
		`+ETCD_INITIAL_CLUSTER="` + e.Cluster("etcd-4", "etcd-5", "etcd-6") + `"`,
		"check mode: nothing was changed",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("remove --check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.Out)
	}
	e.WantUnchanged(t, before)
	e.WantMembers(t, []string{"etcd-4"}, "etcd-2", "etcd-4", "etcd-5", "etcd-6")
	if now := e.Snapshots(); !slices.Equal(now, snaps) {
		t.Errorf("check mode saved snapshots: %v", now)
	}
}

// testRemove: etcd-2, the leader, leaves a cluster of four that keeps
// quorum while a writer writes: gone from the member list, its etcd
// stopped and disabled, leadership handed over first so that no write
// fails, the rest healthy with every key, their etcd.conf without it; a
// re-run says there is nothing to remove and changes nothing.
func testRemove(t *testing.T, e *labtest.Env) {
	rest := []string{"etcd-4", "etcd-5", "etcd-6"}
	c := e.Client(t, rest...)
	kv := labtest.PutKeys(t, c, "remove", 50)
	// The member that leads is the one whose removal needs care: etcd
	// does not hand leadership over when it removes its leader.
	e.MakeLeader(t, "etcd-2", "etcd-2", "etcd-4", "etcd-5", "etcd-6")
	w := labtest.StartWriter(c, "remove-writes")
	r := e.Play(t, "remove", "-e", "member=etcd-2")
	st := w.Stop()
	if r.Code != 0 {
		t.Fatalf("remove: exit %d\n%s", r.Code, r.Out)
	}
	t.Logf("remove etcd-2:\n%s", r.Prints())
	t.Logf("writer: %d writes, %d retried (%s), %d failed", len(st.KV), st.Retried, st.RetryKinds(), len(st.Failed))
	if !strings.Contains(r.Out, "etcd-2 led: moved leadership to") {
		t.Errorf("remove of the leader does not hand leadership over first:\n%s", r.Out)
	}
	// While leadership is handed over, the leader drops the proposals
	// followers forward to it (etcd's raft: ErrProposalDropped, not sent
	// back), so the one write in flight then waits out its deadline and is
	// retried; more than that means writes waited for an election.
	if len(st.Failed) > 0 || st.Kinds["context deadline exceeded"] > 1 {
		t.Errorf("writes stalled (%s) or failed beyond retries: %v", st.RetryKinds(), st.Failed)
	}
	e.WantMembers(t, []string{"etcd-4"}, rest...)
	if st := e.Exec(t, "etcd-2", "systemctl is-active etcd; systemctl is-enabled etcd; true"); !strings.Contains(st, "inactive") || !strings.Contains(st, "disabled") {
		t.Errorf("etcd-2 after it was removed: etcd %q, want inactive and disabled", st)
	}
	e.WaitHealthy(t, rest...)
	labtest.WantKeys(t, c, kv)
	labtest.WantKeys(t, c, st.KV)
	e.WantConf(t, rest, `ETCD_INITIAL_CLUSTER="`+e.Cluster(rest...)+`"`)

	before := e.HostStates(t, liveHosts...)
	again := e.MustPlay(t, "remove", "-e", "member=etcd-2")
	if n := again.Changed(); n != 0 || !strings.Contains(again.Out, "etcd-2 is not a member of cluster") {
		t.Errorf("remove re-run: %d changed, want 0 and that etcd-2 is no member\n%s", n, again.Out)
	}
	e.WantUnchanged(t, before)
}

// testMove: etcd-4 moves to peer port 2390: the member list from the
// control machine, its etcd.conf and every member's initial cluster say
// the new URL, etcd listens there and not on 2380, and the cluster is
// healthy; a re-run changes nothing.
func testMove(t *testing.T, e *labtest.Env) {
	members := []string{"etcd-4", "etcd-5", "etcd-6"}
	url := e.PeerAt("etcd-4", 2390)
	r := e.MustPlay(t, "move", "-e", "member=etcd-4", "-e", "peer_url="+url)
	t.Logf("move etcd-4 to %s:\n%s", url, r.Prints())
	ms := e.Members(t, "etcd-5", "etcd-6")
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %v learner=%v started=%v", m.Name, m.PeerURLs, m.IsLearner, len(m.ClientURLs) > 0))
	}
	want := []string{
		fmt.Sprintf("etcd-4 [%s] learner=false started=true", url),
		fmt.Sprintf("etcd-5 [%s] learner=false started=true", e.Peer("etcd-5")),
		fmt.Sprintf("etcd-6 [%s] learner=false started=true", e.Peer("etcd-6")),
	}
	if !slices.Equal(got, want) {
		t.Errorf("members after the move:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e.WantConf(t, []string{"etcd-4"}, `ETCD_INITIAL_ADVERTISE_PEER_URLS="`+url+`"`, `ETCD_LISTEN_PEER_URLS="`+url+`"`)
	cluster := strings.Join([]string{"etcd-4=" + url, "etcd-5=" + e.Peer("etcd-5"), "etcd-6=" + e.Peer("etcd-6")}, ",")
	e.WantConf(t, members, `ETCD_INITIAL_CLUSTER="`+cluster+`"`)
	if ports := e.Listening(t, "etcd-4"); !slices.Contains(ports, 2390) || slices.Contains(ports, 2380) {
		t.Errorf("etcd-4 listens on ports %v, want 2390 and not 2380", ports)
	}
	e.WaitHealthy(t, members...)
	if !strings.Contains(r.Out, "now set etcd_peer_url="+url+" for etcd-4") {
		t.Errorf("move does not say to set etcd_peer_url in the inventory:\n%s", r.Out)
	}

	before := e.HostStates(t, members...)
	again := e.MustPlay(t, "move", "-e", "member=etcd-4", "-e", "peer_url="+url)
	if n := again.Changed(); n != 0 {
		t.Errorf("move re-run: %d changed, want 0\n%s", n, again.Out)
	}
	e.WantUnchanged(t, before)
}

// testRotateCerts: every member's server certificate is issued again
// while a writer writes (no write fails: one member restarts at a time);
// then the CA rotates, and every member's certificate is the new CA's,
// with the old CA gone from the bundle.
func testRotateCerts(t *testing.T, e *labtest.Env) {
	members := []string{"etcd-4", "etcd-5", "etcd-6"}
	before := serverCerts(t, e, members...)
	c := e.Client(t, members...)
	w := labtest.StartWriter(c, "rotate")
	r := e.Play(t, "rotate_certs")
	st := w.Stop()
	if r.Code != 0 {
		t.Fatalf("rotate_certs: exit %d\n%s", r.Code, r.Out)
	}
	t.Logf("rotate_certs in %s: writes acknowledged %d, failed %d, retried %d", r.Elapsed.Round(time.Millisecond), len(st.KV), len(st.Failed), st.Retried)
	if len(st.Failed) > 0 {
		t.Errorf("writes failed during the renewal: %v", st.Failed)
	}
	after := serverCerts(t, e, members...)
	for _, h := range members {
		if before[h].SerialNumber.Cmp(after[h].SerialNumber) == 0 {
			t.Errorf("%s serves the same certificate as before the renewal", h)
		}
		if after[h].Issuer.CommonName != before[h].Issuer.CommonName {
			t.Errorf("%s: issuer %s, want the same CA %s", h, after[h].Issuer.CommonName, before[h].Issuer.CommonName)
		}
	}
	labtest.WantKeys(t, e.Client(t, members...), st.KV)

	r = e.Play(t, "rotate_certs", "-e", "new_ca=true")
	if r.Code != 0 {
		t.Fatalf("rotate_certs -e new_ca=true: exit %d\n%s", r.Code, r.Out)
	}
	rotated := serverCerts(t, e, members...)
	for _, h := range members {
		if rotated[h].Issuer.CommonName == before[h].Issuer.CommonName {
			t.Errorf("%s: certificate still issued by the old CA %s", h, before[h].Issuer.CommonName)
		}
	}
	if b, err := os.ReadFile(filepath.Join(e.PKIDir, "ca.crt")); err != nil || strings.Count(string(b), "BEGIN CERTIFICATE") != 1 {
		t.Errorf("etcdplay's ca.crt after the rotation: %d certificates, want the new CA alone (%v)", strings.Count(string(b), "BEGIN CERTIFICATE"), err)
	}
	e.WaitHealthy(t, members...)
	e.MustPlay(t, "status")
}

// serverCerts are the certificates the members on hosts serve to clients.
func serverCerts(t *testing.T, e *labtest.Env, hosts ...string) map[string]*x509.Certificate {
	t.Helper()
	out := map[string]*x509.Certificate{}
	for _, h := range hosts {
		conn, err := tls.Dial("tcp", net.JoinHostPort(e.Addrs[h].String(), "2379"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("%s: TLS: %v", h, err)
		}
		out[h] = conn.ConnectionState().PeerCertificates[0]
		conn.Close()
	}
	return out
}
