//go:build linux

package playbooks_test

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab/labtest"
)

// TestSafety reproduces, on a lab, what an operator meets on a bad day,
// each as issue 9 saw it, and checks that the tool refuses what it cannot
// show safe, stops where a host it needs fails, says where that leaves the
// cluster, and that every command it prints as a remedy works when run:
// a replace onto a host that is down; a new host that dies half way; a
// stop of every member through sshds that refuse port forwarding; a
// member that lost its data; a data dir its user cannot reach; binaries
// built for another machine; two
// operators at once; a lock left by a run on another machine.
func TestSafety(t *testing.T) {
	t.Parallel()
	e := setupLab(t, safetyLab)
	steps := []struct {
		name string
		f    func(*testing.T, *labtest.Env)
	}{
		{"bootstrap", func(t *testing.T, e *labtest.Env) { e.MustPlay(t, "bootstrap") }},
		{"new-host-down", testNewHostDown},
		{"new-host-dies", testNewHostDies},
		{"forwarding-refused", testForwardingRefused},
		{"lost-data", testLostData},
		{"datadir-unreachable", testDataDirUnreachable},
		{"wrong-arch", testWrongArch},
		{"learner-present", testLearnerPresent},
		{"two-operators", testTwoOperators},
		{"foreign-lock", testForeignLock},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.f(t, e) }) {
			t.Fatalf("%s failed; the later steps need its cluster", s.name)
		}
	}
}

// safetyKeys are keys written at the start and read back after each step
// that changed the membership.
var safetyKeys map[string]string

// testNewHostDown: etcd-4 is down; replace etcd-2 by etcd-4 is refused
// before anything changes, with no recovery advice; once etcd-4 is back,
// the same command replaces etcd-2.
func testNewHostDown(t *testing.T, e *labtest.Env) {
	safetyKeys = labtest.PutKeys(t, e.Client(t, "etcd-1", "etcd-2", "etcd-3"), "safety", 50)
	if err := e.Lab.Stop(context.Background(), "etcd-4"); err != nil {
		t.Fatal(err)
	}
	before := e.HostStates(t, "etcd-1", "etcd-2", "etcd-3")
	r := e.Play(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4")
	if r.Code != 5 || !strings.Contains(r.Out, "etcd-4 is unreachable") || !strings.Contains(r.Out, "nothing was changed") {
		t.Fatalf("replace onto a host that is down: exit %d, want 5 naming etcd-4\n%s", r.Code, r.Out)
	}
	if len(r.Recovery()) > 0 {
		t.Errorf("a refusal that changed nothing gives recovery advice: %q", r.Recovery())
	}
	e.WantUnchanged(t, before)
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-3")
	t.Logf("refused:\n%s", r.Out)

	if err := e.Lab.Start(context.Background(), "etcd-4"); err != nil {
		t.Fatal(err)
	}
	e.MustPlay(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4")
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4")
	labtest.WantKeys(t, e.Client(t, "etcd-1", "etcd-3", "etcd-4"), safetyKeys)
}

// testNewHostDies: etcd-5 dies right after it was added as a learner. The
// run stops at the next step on etcd-5 (it does not go on to promote
// it), etcd-3 is still a voter, and the recap gives the state and two
// commands: the undo takes the learner out, and once etcd-5 is back the
// continue command finishes the replace.
func testNewHostDies(t *testing.T, e *labtest.Env) {
	// Held before the step after member_add while etcd-5 dies, so no step
	// of the run can reach etcd-5 before it is gone.
	r, hit := e.PlayPaused(t, "wipe_datadir", func(p *os.Process) {
		if err := e.Lab.Kill("etcd-5"); err != nil {
			t.Error(err)
		}
		p.Signal(syscall.SIGUSR1)
	}, "replace", "-e", "old=etcd-3", "-e", "new=etcd-5")
	if !hit || r.Code == 0 {
		t.Fatalf("replace whose new host dies after member_add: exit %d (paused after member_add: %v)\n%s", r.Code, hit, r.Out)
	}
	for _, ev := range r.Events {
		if ev.Type == "task_start" && ev.Module == "member_promote" {
			t.Errorf("the run went on to member_promote after etcd-5 died")
		}
	}
	ms := e.Members(t, "etcd-1")
	var learner *labtest.Member
	for i, m := range ms {
		if m.IsLearner {
			learner = &ms[i]
		}
	}
	if learner == nil || len(ms) != 4 {
		t.Fatalf("members %+v, want etcd-1, etcd-3, etcd-4 and the learner etcd-5", ms)
	}
	recovery := strings.Join(r.Recovery(), "\n")
	t.Logf("stopped; recap:\n%s", recovery)
	if want := fmt.Sprintf("the cluster now: 3 voters (etcd-1, etcd-3, etcd-4); 1 learner (not started: member %x at %s)", learner.ID, e.Peer("etcd-5")); !strings.Contains(recovery, want) {
		t.Errorf("the recap does not say %q", want)
	}
	if strings.Contains(recovery, "snapshot") {
		t.Errorf("the recap offers a snapshot restore while the cluster answers")
	}
	cont, undo := r.Remedy(t, "to continue: "), r.Remedy(t, "or, to undo it: ")

	// The undo: the learner goes, the change record with it.
	if u := e.RunCommand(t, undo); u.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", undo, u.Code, u.Out)
	}
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4")
	if v := e.Key(t, []string{"etcd-1"}, etcd.ChangeKey); v != "" {
		t.Errorf("after the undo, %s holds %s", etcd.ChangeKey, v)
	}
	// The continue, once etcd-5 is back.
	if err := e.Lab.Start(context.Background(), "etcd-5"); err != nil {
		t.Fatal(err)
	}
	if c := e.RunCommand(t, cont); c.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", cont, c.Code, c.Out)
	}
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-4", "etcd-5")
	labtest.WantKeys(t, e.Client(t, "etcd-1", "etcd-4", "etcd-5"), safetyKeys)
}

// members are the member hosts after testNewHostDies.
var members = []string{"etcd-1", "etcd-4", "etcd-5"}

// testForwardingRefused: with AllowTcpForwarding no on every host, a stop
// of all members in one call reaches etcd through a relay and lets at most
// one through; with the relay ruled out (dial=ssh) every stop is refused,
// naming what opens a way, and none happens.
func testForwardingRefused(t *testing.T, e *labtest.Env) {
	all := slices.Sorted(func(yield func(string) bool) {
		for h := range e.Addrs {
			if !yield(h) {
				return
			}
		}
	})
	e.SSHDConfig(t, all, "AllowTcpForwarding no\n")
	defer e.SSHDConfig(t, all, "")
	target := strings.Join(members, ",")

	x := e.RunCommand(t, fmt.Sprintf("etcdplay exec -i %s %s -m systemd -a unit=etcd -a state=stopped -a dial=ssh", e.Inv, target))
	if x.Code != 5 || !strings.Contains(x.Out, "sshd refuses port forwarding") || !strings.Contains(x.Out, "AllowTcpForwarding yes") || !strings.Contains(x.Out, "etcd_dial=direct") {
		t.Errorf("stop of every member with forwarding refused and no relay: exit %d, want 5 naming the ways to open\n%s", x.Code, x.Out)
	}
	if active := e.Active(t, members...); len(active) != 3 {
		t.Fatalf("after refused stops, etcd runs on %v, want all of %v", active, members)
	}

	x = e.RunCommand(t, fmt.Sprintf("etcdplay exec -i %s %s -m systemd -a unit=etcd -a state=stopped", e.Inv, target))
	t.Logf("stop of every member through relays: exit %d\n%s", x.Code, x.Out)
	if x.Code != 5 || !strings.Contains(x.Out, "relay") {
		t.Errorf("stop of every member: exit %d, want 5 (refused) after relaying\n%s", x.Code, x.Out)
	}
	active := e.Active(t, members...)
	if len(active) < 2 {
		t.Fatalf("etcd runs on %v only: the gate let the cluster lose quorum", active)
	}
	e.WaitHealthy(t, active...)
	for _, h := range members {
		if !slices.Contains(active, h) {
			e.Exec(t, h, "systemctl start etcd")
		}
	}
	e.WaitHealthy(t, members...)
	if r := e.Play(t, "status", "-e", "group=members"); r.Code != 0 {
		t.Errorf("status through relays: exit %d\n%s", r.Code, r.Out)
	}
}

// testLostData: etcd-4's member/ directory is removed and etcd restarted:
// it crash-loops with raft's panic. status names the cause and the
// command that repairs it; that command re-creates the member, keeping
// the old data dir aside, and every key reads back.
func testLostData(t *testing.T, e *labtest.Env) {
	e.Exec(t, "etcd-4", "systemctl stop etcd; rm -rf /var/lib/etcd/etcd-4.etcd/member; systemctl start etcd; true")
	deadline := time.Now().Add(30 * time.Second)
	var r labtest.Run
	for {
		r = e.Play(t, "status", "-e", "group=members")
		if strings.Contains(r.Out, "out of range [lastIndex(") || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("status:\n%s", r.Out)
	if r.Code == 0 || !strings.Contains(r.Out, "raft log is shorter than the cluster knows") {
		t.Fatalf("status of a member that lost its data: exit %d, want a failure with the cause\n%s", r.Code, r.Out)
	}
	fix := r.Remedy(t, "repair: ")
	if !strings.Contains(fix, "run replace") || !strings.Contains(fix, "old=etcd-4") || !strings.Contains(fix, "new=etcd-4") {
		t.Fatalf("repair %q, want replace with old = new = etcd-4", fix)
	}
	x := e.RunCommand(t, fix)
	if x.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", fix, x.Code, x.Out)
	}
	e.WantMembers(t, []string{"etcd-1"}, members...)
	labtest.WantKeys(t, e.Client(t, members...), safetyKeys)
	if ls := e.Exec(t, "etcd-4", "ls -d /var/lib/etcd/etcd-4.etcd.wiped-*"); !strings.Contains(ls, "wiped-") {
		t.Errorf("the old data dir was not kept aside: %s", ls)
	}
	if r := e.Play(t, "status", "-e", "group=members"); r.Code != 0 {
		t.Errorf("status after the repair: exit %d\n%s", r.Code, r.Out)
	}
}

// testDataDirUnreachable: etcd-2 has /var/lib/etcd at mode 0700, owned by
// root, as other tooling may leave it: add is refused before any change,
// naming the directory and the command that opens it; with it run, the
// add goes through. etcd-2 is removed again after.
func testDataDirUnreachable(t *testing.T, e *labtest.Env) {
	e.Exec(t, "etcd-2", "mkdir -p /var/lib/etcd && chown root:root /var/lib/etcd && chmod 0700 /var/lib/etcd")
	before := e.HostStates(t, "etcd-1", "etcd-2", "etcd-4", "etcd-5")
	r := e.Play(t, "add", "-e", "new=etcd-2", "-e", "group=members")
	if r.Code != 5 || !strings.Contains(r.Out, "/var/lib/etcd is mode 0700") || !strings.Contains(r.Out, "cannot reach /var/lib/etcd/etcd-2.etcd") {
		t.Fatalf("add onto a host whose etcd user cannot reach its data dir: exit %d, want 5 naming /var/lib/etcd\n%s", r.Code, r.Out)
	}
	e.WantUnchanged(t, before)
	fix := r.Remedy(t, "Open it, e.g. ")
	fix, _, _ = strings.Cut(fix, ", or put etcd_data_dir elsewhere")
	if x := e.RunCommand(t, fix); x.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", fix, x.Code, x.Out)
	}
	e.MustPlay(t, "add", "-e", "new=etcd-2", "-e", "group=members")
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-4", "etcd-5")
	e.MustPlay(t, "remove", "-e", "member=etcd-2", "-e", "group=members")
	e.WantMembers(t, []string{"etcd-1"}, members...)
}

// testWrongArch: an add whose etcd_src holds binaries built for another
// architecture (the lab's own, their ELF header saying aarch64) is
// refused by its preflight before any change, naming the binary and both
// machines.
func testWrongArch(t *testing.T, e *labtest.Env) {
	machine, name := elf.EM_AARCH64, "aarch64"
	if runtime.GOARCH == "arm64" {
		machine, name = elf.EM_X86_64, "x86_64"
	}
	dir := t.TempDir()
	for _, n := range []string{"etcd", "etcdctl", "etcdutl"} {
		b, err := os.ReadFile(filepath.Join(e.EtcdDir, n))
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint16(b[18:], uint16(machine)) // e_machine
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := e.HostStates(t, "etcd-1", "etcd-2", "etcd-4", "etcd-5")
	r := e.Play(t, "add", "-e", "new=etcd-2", "-e", "group=members", "-e", "etcd_src="+dir)
	if r.Code != 5 || !regexp.MustCompile(`etcd(ctl|utl)? is built for `+name+`, and etcd-2 is \S+: use the release for \S+; nothing was changed`).MatchString(r.Out) {
		t.Errorf("add from binaries built for %s: exit %d, want 5 naming both machines\n%s", name, r.Code, r.Out)
	}
	e.WantUnchanged(t, before)
	e.WantMembers(t, []string{"etcd-1"}, members...)
}

// testLearnerPresent: an add killed just before it promotes leaves a
// started learner; status shows it as a learner and succeeds, and a
// rolling restart restarts it with the others. The add run again
// finishes; etcd-2 is removed again after.
func testLearnerPresent(t *testing.T, e *labtest.Env) {
	_, hit := e.PlayPaused(t, "member_promote", func(p *os.Process) { p.Signal(syscall.SIGKILL) }, "add", "-e", "new=etcd-2", "-e", "group=members")
	if !hit {
		t.Fatal("add did not reach member_promote")
	}
	e.WaitHealthy(t, members...)
	r := e.MustPlay(t, "status", "-e", "group=members")
	_, rows := labtest.PrintedTable(t, r, "ID")
	roles := map[string]string{}
	for _, row := range rows {
		roles[row["NAME"]] = row["STATUS"]
	}
	if roles["etcd-2"] != "learner" || len(rows) != 4 {
		t.Errorf("status with a learner: %v\n%s", roles, r.Out)
	}
	if !strings.Contains(r.Out, "unfinished change: add new=etcd-2") {
		t.Errorf("status does not show the unfinished add:\n%s", r.Out)
	}
	rr := e.MustPlay(t, "rolling_restart", "-e", "group=members")
	if !strings.Contains(rr.Out, "etcd-2") {
		t.Errorf("rolling_restart did not restart the learner:\n%s", rr.Out)
	}
	e.MustPlay(t, "add", "-e", "new=etcd-2", "-e", "group=members")
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-2", "etcd-4", "etcd-5")
	e.MustPlay(t, "remove", "-e", "member=etcd-2", "-e", "group=members")
	e.WantMembers(t, []string{"etcd-1"}, members...)
}

// testTwoOperators: a remove started while rolling_restart runs is refused
// at once, naming the rolling restart's run; the rolling restart goes on
// and the cluster ends healthy with the same members.
func testTwoOperators(t *testing.T, e *labtest.Env) {
	locked := make(chan struct{})
	var wg sync.WaitGroup
	var rr labtest.Run
	wg.Add(1)
	go func() {
		defer wg.Done()
		rr, _ = e.PlayUntil(t, func(ev labtest.Event) bool { return ev.Type == "task_end" && ev.Module == "cluster_lock" },
			func(*os.Process) { close(locked) }, "rolling_restart", "-e", "group=members")
	}()
	select {
	case <-locked:
	case <-time.After(time.Minute):
		t.Fatal("rolling_restart did not take the lock")
	}
	r := e.Play(t, "remove", "-e", "member=etcd-5", "-e", "group=members")
	wg.Wait()
	if r.Code != 5 || !strings.Contains(r.Out, "locked by another etcdplay run") || !strings.Contains(r.Out, "run rolling_restart") {
		t.Errorf("remove during a rolling restart: exit %d, want 5 naming the rolling restart\n%s", r.Code, r.Out)
	}
	if rr.Code != 0 {
		t.Errorf("rolling_restart: exit %d\n%s", rr.Code, rr.Out)
	}
	e.WaitHealthy(t, members...)
	e.WantMembers(t, []string{"etcd-1"}, members...)
}

// testForeignLock: a lock held by an etcdplay on another machine (alive:
// its lease is renewed) refuses a run, naming its holder and the command
// that breaks it; that command runs.
func testForeignLock(t *testing.T, e *labtest.Env) {
	c := e.Client(t, members...)
	sess, err := concurrency.NewSession(c, concurrency.WithTTL(etcd.LockTTL))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	m := concurrency.NewMutex(sess, etcd.LockPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	holder, _ := json.Marshal(etcd.Holder{User: "ops", Host: "bastion-2", PID: 4242, Command: "etcdplay run replace -i prod.ini -e old=etcd-1 -e new=etcd-9", Since: time.Now().Add(-time.Minute)})
	if _, err := c.Put(ctx, m.Key(), string(holder), clientv3.WithLease(sess.Lease())); err != nil {
		t.Fatal(err)
	}
	r := e.Play(t, "rolling_restart", "-e", "group=members")
	if r.Code != 5 || !strings.Contains(r.Out, "ops@bastion-2, pid 4242") || !strings.Contains(r.Out, "prod.ini") {
		t.Fatalf("run while another machine's run holds the lock: exit %d, want 5 naming it\n%s", r.Code, r.Out)
	}
	take := r.Remedy(t, "or take it now with: ")
	if !strings.HasSuffix(take, "--break-lock") {
		t.Fatalf("remedy %q, want the command with --break-lock", take)
	}
	if x := e.RunCommand(t, take); x.Code != 0 || !strings.Contains(x.Out, "breaking the cluster lock of ops@bastion-2") {
		t.Fatalf("%s: exit %d\n%s", take, x.Code, x.Out)
	}
}
