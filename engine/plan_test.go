package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// planPlaybook writes a file twice on h1 (the second write plans against
// what the first leaves), changes the cluster through h2, and reads.
const planPlaybook = `
def main(ctx):
    note(["h1", "h2"], value = {"b": 2, "a": "x" * 200})
    put("h1", path = "conf", content = ctx.vars.get("first", "one\n"))
    probe(["h2", "h1"], act = True)
    put("h1", path = "conf", content = "two\n")
`

// record runs pb in check mode, recording its plan.
func record(t *testing.T, cfg Config, pb *Playbook) *PlanFile {
	t.Helper()
	cfg.Check, cfg.Record = true, &PlanRecord{}
	if _, err := Run(context.Background(), cfg, pb); err != nil {
		t.Fatalf("check run: %v", err)
	}
	return &PlanFile{Format: PlanFormat, Playbook: pb.Name(), Files: cfg.Record.Files, State: cfg.Record.State, Steps: cfg.Record.Steps, Hosts: PlanHosts(cfg.Inventory, nil)}
}

// TestPlanRecordFollow: a check run records its steps, with each host's
// arguments and effects and the diffs of what it writes (the second write
// of a file against what the first leaves); two records are the same
// bytes, and the file reads back. A real run following the plan does it;
// a real run whose step would do what the plan does not have is refused
// before it acts, as is a call the plan does not have, and a run that
// ends before the plan does.
func TestPlanRecordFollow(t *testing.T) {
	inv, conn := enginetest.Hosts(t, "", "h1", "h2")
	pb := &Playbook{src: source{path: "play.star"}, data: []byte(planPlaybook)}
	cfg := Config{Inventory: inv, Connector: conn, Modules: testModules()}
	p := record(t, cfg, pb)
	if b := record(t, cfg, pb); string(b.Marshal()) != string(p.Marshal()) {
		t.Fatalf("two records of one check run differ:\n%s", Unified("a", "b", string(p.Marshal()), string(b.Marshal()), 2))
	}
	if len(p.Steps) != 4 {
		t.Fatalf("steps: %+v, want 4", p.Steps)
	}
	if got := p.Steps[0].Hosts[0].Args; !strings.Contains(got, "<200 bytes, sha256 ") {
		t.Errorf("a long argument is not summarised: %s", got)
	}
	second := p.Steps[3].Hosts[0].Actions
	if len(second) != 1 || second[0].Diff == nil || second[0].Diff.Before != sum([]byte("one\n")) || !strings.Contains(second[0].Diff.Text, "-one") {
		t.Errorf("the second write of conf does not plan against the first's content: %+v", second)
	}
	back, err := ParsePlanFile("p", p.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Differences(back); len(d) > 0 {
		t.Errorf("read back, the plan differs: %q", d)
	}
	edited := strings.Replace(string(p.Marshal()), "change the cluster", "change everything", 1)
	if _, err := ParsePlanFile("p", []byte(edited)); err == nil || KindOf(err) != KindBadInput || !strings.Contains(err.Error(), "the file was edited") {
		t.Errorf("a plan whose text was edited: %v, want bad input saying so", err)
	}

	follow := func(vars map[string]any, data string) (*Recap, error) {
		c := cfg
		c.Follow, c.Vars = p.Steps, vars
		return Run(context.Background(), c, &Playbook{src: source{path: "play.star"}, data: []byte(data)})
	}
	conf := filepath.Join(conn.Conns["h1"].Dir, "conf")

	// Other arguments for a step: refused before it is contacted.
	_, err = follow(map[string]any{"first": "other\n"}, planPlaybook)
	if KindOf(err) != KindRefused || !strings.Contains(err.Error(), "the run leaves the plan at step 2: on h1 its arguments were path=\"conf\", content=<4 bytes") {
		t.Errorf("a step with other arguments: %v", err)
	}
	// An action whose effect the plan's step does not have: refused
	// before it acts.
	saved := p.Steps[1].Hosts[0].Actions[0].Effect
	p.Steps[1].Hosts[0].Actions[0].Effect = "write something else"
	_, err = follow(nil, planPlaybook)
	p.Steps[1].Hosts[0].Actions[0].Effect = saved
	if KindOf(err) != KindRefused || !strings.Contains(err.Error(), "step 2 (put at play.star:4:8) on h1 would write conf, which the plan does not have (it has: write something else)") {
		t.Errorf("an effect the plan does not have: %v", err)
	}
	if _, serr := os.Stat(conf); serr == nil {
		t.Errorf("the refused write was made")
	}
	// A call the plan does not have.
	_, err = follow(nil, strings.Replace(planPlaybook, `probe(["h2", "h1"], act = True)`, `probe(["h1"], act = True)`, 1))
	if KindOf(err) != KindRefused || !strings.Contains(err.Error(), "the run leaves the plan at step 3: its targets were h2, h1 and are h1") {
		t.Errorf("a call the plan does not have: %v", err)
	}
	// The plan itself.
	os.Remove(conf)
	if _, err := follow(nil, planPlaybook); err != nil {
		t.Fatalf("following the plan: %v", err)
	}
	if b, _ := os.ReadFile(conf); string(b) != "two\n" {
		t.Errorf("conf holds %q after the plan, want two", b)
	}
	// A run that ends before the plan does.
	_, err = follow(nil, strings.Replace(planPlaybook, `    put("h1", path = "conf", content = "two\n")`, "", 1))
	if KindOf(err) != KindRefused || !strings.Contains(err.Error(), "the run ended after step 3 of the plan's 4") {
		t.Errorf("a run that stops short of the plan: %v", err)
	}
}

// TestPlanDifferences: what a plan made again says of what changed: a
// value read, an inventory variable, the first step that differs.
func TestPlanDifferences(t *testing.T) {
	was := &PlanFile{
		State: []PlanState{{Key: "member etcd-3 status", Value: "answers, etcd 3.6.16"}, {Key: "cluster leader", Value: "etcd-3", Informs: true}},
		Hosts: []PlanHost{{Name: "etcd-1", Vars: []PlanVar{{Name: "etcd_peer_port", Value: "2380"}}}},
		Steps: []PlanStep{{N: 1, Module: "move_leader", Pos: "x.star:1:1", Targets: []string{"etcd-1"}, Hosts: []PlanHostStep{{Status: StatusOK}}}},
	}
	now := &PlanFile{
		State: []PlanState{{Key: "member etcd-3 status", Value: "does not answer"}, {Key: "cluster leader", Value: "etcd-2", Informs: true}},
		Hosts: []PlanHost{{Name: "etcd-1", Vars: []PlanVar{{Name: "etcd_peer_port", Value: "2381"}}}},
		Steps: []PlanStep{{N: 1, Module: "move_leader", Pos: "x.star:1:1", Targets: []string{"etcd-1"}, Hosts: []PlanHostStep{{Status: StatusChanged, Actions: []PlanAction{{Effect: "move leadership away from etcd-2"}}}}}},
	}
	got := strings.Join(was.Differences(now), "\n")
	for _, want := range []string{
		"etcd-1 variable etcd_peer_port: was 2380, is 2381 now",
		"member etcd-3 status: was answers, etcd 3.6.16, is does not answer now",
		"step 1 (move_leader at x.star:1:1): it changes nothing, now it would move leadership away from etcd-2",
		"cluster leader: was etcd-3, is etcd-2 now (informs)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("differences lack %q:\n%s", want, got)
		}
	}
	now.Steps, now.State[1].Value = was.Steps, "etcd-1"
	now.State[0], now.Hosts = was.State[0], was.Hosts
	if d := was.Differences(now); len(d) > 0 {
		t.Errorf("a leader that changed and changes no step is a difference: %q", d)
	}
}

// TestPlanSecrets: what a plan records holds no secret: not the run's
// secrets, not an argument or a variable whose name says it is one, not a
// private key's text.
func TestPlanSecrets(t *testing.T) {
	r := &runner{}
	r.addSecret("hunter22")
	var kw []starlark.Tuple
	for _, kv := range [][2]string{{"user_password", "pw"}, {"note", "say hunter22"}, {"key", "-----BEGIN PRIVATE KEY-----\nMIIE"}} {
		kw = append(kw, starlark.Tuple{starlark.String(kv[0]), starlark.String(kv[1])})
	}
	text := r.argText(nil, kw)
	for _, leak := range []string{"hunter22", "pw", "MIIE"} {
		if strings.Contains(text, leak) {
			t.Errorf("argument text %q shows %q", text, leak)
		}
	}
	vars := PlanVars(map[string]any{"etcd_password": "s3cret", "etcd_password_file": "/etc/pw", "old": "etcd-2"}, nil)
	p := &PlanFile{Format: PlanFormat, ExtraVars: vars}
	if s := string(p.Marshal()); strings.Contains(s, "s3cret") || !strings.Contains(s, "/etc/pw") {
		t.Errorf("extra vars in a plan:\n%s", s)
	}
}
