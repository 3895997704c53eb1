//go:build linux

package playbooks_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/lab/labtest"
)

// planHosts: etcd-1..3 in group etcd, etcd-4 and etcd-5 spare.
const planHosts = 5

// TestPlan: reviewable changes on a lab of its own. Two plans of one
// replace on one cluster are the same bytes; a plan whose cluster lost a
// member since is refused, naming it, and changes nothing; a plan
// applied ends the cluster as it says, and applied again is refused, as
// is one too old; an add whose new member cannot start, with
// -e on_failure=rollback, leaves the member list and every member's
// etcd.conf as they were. Every command the refusals and the recap give
// as a remedy is run.
func TestPlan(t *testing.T) {
	t.Parallel()
	e := planLab.boot(t, planHosts, "", false)
	steps := []struct {
		name string
		f    func(*testing.T, *labtest.Env)
	}{
		{"bootstrap", func(t *testing.T, e *labtest.Env) { e.MustPlay(t, "bootstrap") }},
		{"identical", testPlanIdentical},
		{"member-died", testPlanMemberDied},
		{"apply", testPlanApply},
		{"rollback", testPlanRollback},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.f(t, e) }) {
			t.Fatalf("%s failed; the later steps need its cluster", s.name)
		}
	}
}

// replacePlan writes the plan of replace old=etcd-2 new=etcd-4 to file (in
// the runs' directory) and returns its bytes.
func replacePlan(t *testing.T, e *labtest.Env, file string) []byte {
	t.Helper()
	e.MustPlay(t, "replace", "-e", "old=etcd-2", "-e", "new=etcd-4", "--check", "--plan-out", file)
	b, err := os.ReadFile(filepath.Join(e.Work, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testPlanIdentical: the same inputs on the same cluster give the same
// plan, byte for byte; plan show renders its text and its machine part.
func testPlanIdentical(t *testing.T, e *labtest.Env) {
	a, b := replacePlan(t, e, "a.plan"), replacePlan(t, e, "b.plan")
	if !bytes.Equal(a, b) {
		t.Fatalf("two plans of one replace differ:\n%s", engine.Unified("a.plan", "b.plan", string(a), string(b), 2))
	}
	text := string(a)
	for _, want := range []string{
		"etcdplay plan: playbooks/replace.star",
		"member etcd-2 ", "member etcd-3 status", "etcd-4 data dir /var/lib/etcd/etcd-4.etcd",
		"add etcd-4 (" + e.Peer("etcd-4") + ") as a learner",
		"promote etcd-4 to a voting member",
		"remove member etcd-2 (id ",
		"+ETCD_INITIAL_CLUSTER=\"" + e.Cluster("etcd-1", "etcd-3", "etcd-4") + "\"",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan does not say %q", want)
		}
	}
	show := e.RunCommand(t, "etcdplay plan show a.plan")
	if show.Code != 0 || !strings.HasPrefix(text, show.Out) {
		t.Errorf("plan show: exit %d, not the plan's text:\n%s", show.Code, show.Out)
	}
	if j := e.RunCommand(t, "etcdplay plan show --json a.plan"); j.Code != 0 || !strings.Contains(j.Out, `"module": "member_add"`) {
		t.Errorf("plan show --json: exit %d\n%s", j.Code, j.Out)
	}
}

// testPlanMemberDied: a plan made, then etcd-3's host dies: the plan is
// refused, naming etcd-3, and nothing changes. The plan made again, as
// the refusal says, is refused too while etcd-3 is down (check mode's
// quorum gate counts the cluster as it is, without the member the replace
// adds first), and made once etcd-3 is back.
func testPlanMemberDied(t *testing.T, e *labtest.Env) {
	plan := replacePlan(t, e, "died.plan")
	if err := e.Lab.Kill("etcd-3"); err != nil {
		t.Fatal(err)
	}
	live := []string{"etcd-1", "etcd-2", "etcd-4"}
	before := e.HostStates(t, live...)
	members := e.Members(t, "etcd-1")
	r := e.RunCommand(t, "etcdplay run --apply died.plan -o json")
	if r.Code != 5 || !strings.Contains(r.Out, "member etcd-3 status: was answers, etcd") || !strings.Contains(r.Out, "does not answer now") || !strings.Contains(r.Out, "Nothing was changed") {
		t.Fatalf("apply after etcd-3 died: exit %d, want 5 naming etcd-3\n%s", r.Code, r.Out)
	}
	t.Logf("refused:\n%s", r.Out)
	for _, ev := range r.Events {
		if ev.Type == "task_start" {
			t.Errorf("the refused apply ran a task: %+v", ev)
		}
	}
	e.WantUnchanged(t, before)
	if now := e.Members(t, "etcd-1"); !reflect.DeepEqual(now, members) {
		t.Errorf("members changed: %+v, were %+v", now, members)
	}
	if got, _ := os.ReadFile(filepath.Join(e.Work, "died.plan")); !bytes.Equal(got, plan) {
		t.Errorf("the refused apply changed its plan file")
	}

	remake := r.Remedy(t, "Make the plan again and review it: ")
	if m := e.RunCommand(t, remake); m.Code != 5 || !strings.Contains(m.Out, "Bring etcd-3 back first") {
		t.Fatalf("%s with etcd-3 down: exit %d, want 5 asking for etcd-3\n%s", remake, m.Code, m.Out)
	}
	e.WantUnchanged(t, before)
	if err := e.Lab.Start(context.Background(), "etcd-3"); err != nil {
		t.Fatal(err)
	}
	e.WaitHealthy(t, "etcd-1", "etcd-2", "etcd-3")
	if m := e.RunCommand(t, remake); m.Code != 0 {
		t.Fatalf("%s with etcd-3 back: exit %d\n%s", remake, m.Code, m.Out)
	}
}

// testPlanApply: a plan too old is refused, and applied with the larger
// --plan-max-age the refusal gives it ends the cluster as it says: the
// members it says, every file it writes with the content it says. Applied
// a second time it is refused (the cluster changed), and made again as
// that refusal says.
func testPlanApply(t *testing.T, e *labtest.Env) {
	replacePlan(t, e, "replace.plan")
	file := filepath.Join(e.Work, "replace.plan")
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	before := e.HostStates(t, "etcd-1", "etcd-2", "etcd-3", "etcd-4")
	r := e.RunCommand(t, "etcdplay run --apply replace.plan -o json")
	if r.Code != 5 || !strings.Contains(r.Out, "more than --plan-max-age 1h0m0s") {
		t.Fatalf("apply of a plan 2h old: exit %d, want 5 naming its age\n%s", r.Code, r.Out)
	}
	e.WantUnchanged(t, before)
	older := r.Remedy(t, "or, to apply this one all the same (it is still read again first): ")

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.ParsePlanFile(file, data)
	if err != nil {
		t.Fatal(err)
	}
	a := e.RunCommand(t, older+" -o json")
	if a.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", older, a.Code, a.Out)
	}
	t.Logf("applied in %s", a.Elapsed.Round(time.Millisecond))
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4")
	// Every file the plan writes holds what the plan says.
	n := 0
	for _, s := range plan.Steps {
		for _, h := range s.Hosts {
			for _, act := range h.Actions {
				if act.Diff == nil || act.Diff.After == "" || h.Host == "" {
					continue
				}
				if got := fileSum(t, e, h.Host, act.Diff.Path); got != lastWrite(plan, h.Host, act.Diff.Path) {
					t.Errorf("%s:%s has sha256 %s; the plan's last write of it is %s", h.Host, act.Diff.Path, got, lastWrite(plan, h.Host, act.Diff.Path))
				}
				n++
			}
		}
	}
	if n < 4 {
		t.Errorf("the plan writes %d files with known content, want etcd-4's etcd.conf and every member's", n)
	}
	// The run did the plan's steps, no more.
	tasks := 0
	for _, ev := range a.Events {
		if ev.Type == "task_end" {
			tasks++
		}
	}
	if tasks != len(plan.Steps) {
		t.Errorf("the apply ran %d tasks, the plan has %d steps", tasks, len(plan.Steps))
	}

	again := e.RunCommand(t, "etcdplay run --apply replace.plan --plan-max-age 3h -o json")
	if again.Code != 5 || !strings.Contains(again.Out, "member etcd-2: was id ") || !strings.Contains(again.Out, "Nothing was changed") {
		t.Fatalf("the plan applied again: exit %d, want 5 naming etcd-2, no more a member\n%s", again.Code, again.Out)
	}
	remake := again.Remedy(t, "Make the plan again and review it: ")
	if m := e.RunCommand(t, remake); m.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", remake, m.Code, m.Out)
	}
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4")
}

// lastWrite is the sha256 of what the plan's last write of path on host
// leaves.
func lastWrite(p *engine.PlanFile, host, path string) string {
	sum := ""
	for _, s := range p.Steps {
		for _, h := range s.Hosts {
			for _, a := range h.Actions {
				if h.Host == host && a.Diff != nil && a.Diff.Path == path {
					sum = a.Diff.After
				}
			}
		}
	}
	return sum
}

func fileSum(t *testing.T, e *labtest.Env, host, path string) string {
	t.Helper()
	s := sha256.Sum256([]byte(e.Exec(t, host, "cat "+path)))
	return hex.EncodeToString(s[:])
}

// testPlanRollback: add etcd-5, whose etcd cannot start (its metrics URL
// is an address it does not have), with -e on_failure=rollback: the run
// fails, the learner is removed, etcd-5's etcd stopped and its data moved
// aside, and the member list (IDs and all) and every member's etcd.conf
// are as before; the recap says so. Once the setting is fixed, the
// command the recap gives adds etcd-5.
func testPlanRollback(t *testing.T, e *labtest.Env) {
	members := []string{"etcd-1", "etcd-3", "etcd-4"}
	bad := filepath.Join(e.Work, "bad.ini")
	if err := os.WriteFile(bad, []byte("[bad]\netcd-5 etcd_settings='{\"ETCD_LISTEN_METRICS_URLS\": \"http://10.77.9.99:2381\"}'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	was := e.Members(t, "etcd-1")
	confs := map[string]string{}
	for _, h := range members {
		confs[h] = e.Conf(t, h)
	}
	r := e.Play(t, "add", "-i", bad, "-e", "new=etcd-5", "-e", "on_failure=rollback")
	if r.Code == 0 {
		t.Fatalf("add of a host whose etcd cannot start succeeded\n%s", r.Out)
	}
	recovery := strings.Join(r.Recovery(), "\n")
	t.Logf("exit %d; recap:\n%s", r.Code, recovery)
	for _, want := range []string{"rolled back the add of etcd-5: removed learner etcd-5", "stopped and disabled etcd on etcd-5", "moved etcd-5's data aside",
		"the cluster is as it was: 3 voters (etcd-1, etcd-3, etcd-4)"} {
		if !strings.Contains(recovery, want) {
			t.Errorf("the recap does not say %q", want)
		}
	}
	if now := e.Members(t, "etcd-1"); !reflect.DeepEqual(now, was) {
		t.Errorf("members after the rollback: %+v, were %+v", now, was)
	}
	for _, h := range members {
		if now := e.Conf(t, h); now != confs[h] {
			t.Errorf("%s's etcd.conf changed:\n%s\nwas:\n%s", h, now, confs[h])
		}
	}
	if got := e.Active(t, "etcd-5"); len(got) > 0 {
		t.Errorf("etcd runs on etcd-5 after the rollback")
	}
	if v := e.Key(t, []string{"etcd-1"}, etcd.ChangeKey); v != "" {
		t.Errorf("after the rollback the change is still recorded: %s", v)
	}

	// The failure dealt with, the recap's command adds etcd-5.
	cont := r.Remedy(t, "to continue: ")
	if err := os.WriteFile(bad, []byte("[bad]\netcd-5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := e.RunCommand(t, cont); c.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", cont, c.Code, c.Out)
	}
	e.WantMembers(t, []string{"etcd-1"}, "etcd-1", "etcd-3", "etcd-4", "etcd-5")
}
