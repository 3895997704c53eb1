package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// TestConnectAhead: ctx.connect dials the hosts it is given in the
// background, each once, skipping those outside --limit; by the time the
// run ends every dial is done. A host it could not reach is reported by
// the first call on it, as unreachable, and the run goes on.
func TestConnectAhead(t *testing.T) {
	inv, conn := enginetest.Hosts(t, "", "h1", "h2", "h3", "h4")
	conn.SetDown("h4", true)
	if err := inv.SetLimit("h1:h2:h4"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	pb := &Playbook{src: source{path: "connect.star"}, data: []byte(`
def main(ctx):
    if ctx.connect([ctx.host("h1"), ctx.host("h3"), "test"]) != None:
        fail("connect returned a value")
    r = run("h4", cmd = "true", ignore_unreachable = True)
    if not r["h4"].unreachable:
        fail("h4: %s" % r["h4"].msg)
    run("h1", cmd = "true")
`)}
	if _, err := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: rec}, pb); err != nil {
		t.Fatalf("%v\n%s", err, rec)
	}
	if n := conn.DialsOf("h2"); n != 1 {
		t.Errorf("h2, named only to connect: %d dials, want 1", n)
	}
	if n := conn.DialsOf("h3"); n != 0 {
		t.Errorf("h3 is outside --limit and was dialled %d times", n)
	}
	if n := conn.DialsOf("h1"); n < 1 {
		t.Errorf("h1 was not dialled")
	}

	for _, bad := range []string{`ctx.connect()`, `ctx.connect(1)`, `ctx.connect("nosuchgroup[")`} {
		pb := &Playbook{src: source{path: "bad.star"}, data: []byte("def main(ctx):\n    " + bad + "\n")}
		_, err := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: &recorder{}}, pb)
		var e *Error
		if !asError(err, &e) || e.Module != "ctx.connect" || !strings.Contains(e.Pos, "bad.star:2") {
			t.Errorf("%s: %v, want an error of ctx.connect at its line", bad, err)
		}
	}
}
