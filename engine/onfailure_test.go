package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// TestOnFailure: the playbook's on_failure function runs when a run that
// changed something stops; its prints are the recap's recovery lines, its
// module calls read in check mode and are not shown. A run that changed
// nothing, a successful run and a check run do not call it.
func TestOnFailure(t *testing.T) {
	const handler = `
def main(ctx):
    def where(f):
        r = run("h1", cmd = "touch handler-ran")
        print("stopped at %s (%s): %s" % (f.pos, f.module, f.msg))
        print("refused: %s, interrupted: %s, would change: %s" % (f.refused, f.interrupted, r["h1"].changed))
        print("to continue: " + ctx.command)

    on_failure(where)
`
	for _, tc := range []struct {
		name, body string
		check      bool
		want       []string // recovery lines; nil: the handler must not run
	}{
		{"changed then failed", `    run("h1", cmd = "true")
    boom("h1", kind = "fail")
`, false, []string{
			"stopped at play.star:11:9 (boom): play.star:11:9: boom on h1: it broke; no target host is left, so the run stops here",
			"refused: False, interrupted: False, would change: True",
			"to continue: etcdplay run play.star -e x=1",
		}},
		{"changed then refused", `    run("h1", cmd = "true")
    boom("h1", kind = "refuse")
`, false, []string{
			"stopped at play.star:11:9 (boom): play.star:11:9: boom on h1: refused: quorum would be lost: 3 members, 1 healthy",
			"refused: True, interrupted: False, would change: True",
			"to continue: etcdplay run play.star -e x=1",
		}},
		{"refused before any change", `    boom("h1", kind = "refuse")
`, false, nil},
		{"check mode", `    run("h1", cmd = "true")
    boom("h1", kind = "fail")
`, true, nil},
		{"success", `    run("h1", cmd = "true")
`, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, conn := enginetest.Hosts(t, "", "h1")
			rec := &recorder{}
			pb := &Playbook{src: source{path: "play.star"}, data: []byte(handler + tc.body)}
			cfg := Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: rec, Check: tc.check, Command: "etcdplay run play.star -e x=1"}
			recap, _ := Run(context.Background(), cfg, pb)
			if !slices.Equal(recap.Recovery, tc.want) {
				t.Errorf("recovery:\n%q\nwant:\n%q", recap.Recovery, tc.want)
			}
			if strings.Contains(rec.String(), "handler-ran") {
				t.Errorf("the handler's module call was shown or run:\n%s", rec)
			}
		})
	}
}

// TestRunKey: a RunKey's value is made once per run, shared by its calls,
// and AtRunEnd functions run once when the run ends, in reverse order.
func TestRunKey(t *testing.T) {
	var made, ended []string
	key := &RunKey[*[]string]{Name: "test"}
	m := &HostModule[noteArgs]{
		Name: "keep",
		Args: func(a *noteArgs) []any { return []any{"value", &a.Value, "tag?", &a.Tag} },
		Plan: func(ctx context.Context, c *HostCall, a *noteArgs) (Plan, error) {
			v := key.Get(c, func() *[]string {
				made = append(made, c.Host.Name)
				c.AtRunEnd(func() { ended = append(ended, "first") })
				c.AtRunEnd(func() { ended = append(ended, "second") })
				return new([]string)
			})
			*v = append(*v, c.Host.Name)
			c.Set("seen", len(*v))
			return NothingToDo("kept"), nil
		},
	}
	inv, conn := enginetest.Hosts(t, "", "h1")
	pb := &Playbook{src: source{path: "play.star"}, data: []byte("def main(ctx):\n    keep(\"h1\", value = 1)\n    keep(\"h1\", value = 2)\n")}
	for range 2 {
		made, ended = nil, nil
		if _, err := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: []Module{m}}, pb); err != nil {
			t.Fatal(err)
		}
		if len(made) != 1 || !slices.Equal(ended, []string{"second", "first"}) {
			t.Fatalf("made %v, ended %v: want one value per run, end functions once, last first", made, ended)
		}
	}
}

// TestUndo: on_failure's undo function runs for real, before the report,
// when a run that changed something stops: its module calls act and are
// shown, on the host that left the run too; its prints are recovery
// lines. A check run, a run that changed nothing and a successful one do
// not call it.
func TestUndo(t *testing.T) {
	const play = `
def main(ctx):
    def undo(f):
        r = put("h1", path = "undone", content = "x")
        print("undone: %s" % r.changed)

    on_failure(lambda f: print("to continue: " + ctx.command), undo = undo)
`
	for _, tc := range []struct {
		name, body string
		check      bool
		undone     bool
	}{
		{"changed then failed", "    run(\"h1\", cmd = \"true\")\n    boom(\"h1\", kind = \"fail\")\n", false, true},
		{"refused before any change", "    boom(\"h1\", kind = \"refuse\")\n", false, false},
		{"check mode", "    run(\"h1\", cmd = \"true\")\n    boom(\"h1\", kind = \"fail\")\n", true, false},
		{"success", "    run(\"h1\", cmd = \"true\")\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, conn := enginetest.Hosts(t, "", "h1")
			rec := &recorder{}
			pb := &Playbook{src: source{path: "play.star"}, data: []byte(play + tc.body)}
			cfg := Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: rec, Check: tc.check, Command: "etcdplay run play.star"}
			recap, _ := Run(context.Background(), cfg, pb)
			_, err := os.Stat(filepath.Join(conn.Conns["h1"].Dir, "undone"))
			if (err == nil) != tc.undone {
				t.Fatalf("undo ran: %v, want %v; recovery %q", err == nil, tc.undone, recap.Recovery)
			}
			if !tc.undone {
				return
			}
			if want := []string{"undone: True", "to continue: etcdplay run play.star"}; !slices.Equal(recap.Recovery, want) {
				t.Errorf("recovery %q, want %q", recap.Recovery, want)
			}
			if !strings.Contains(rec.String(), "TASK [put] play.star:4:16") {
				t.Errorf("the undo's call is not shown:\n%s", rec)
			}
		})
	}
}
