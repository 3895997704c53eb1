package engine

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// onWarning is an Output that calls do at the first warning.
type onWarning struct {
	recorder
	do func()
}

func (o *onWarning) Emit(e Event) {
	o.recorder.Emit(e)
	if e.Type == EventWarning {
		o.do()
	}
}

// TestPauseBefore: the run holds at the first task of the module named,
// after its task_start and before it touches a host, until interrupted,
// or until SIGUSR1 lets it go on; the earlier task ran; a module name
// that does not exist is refused before anything runs.
func TestPauseBefore(t *testing.T) {
	inv, conn := enginetest.Hosts(t, "", "h1")
	pb := &Playbook{src: source{path: "pause.star"}, data: []byte(`
def main(ctx):
    run("h1", cmd = "echo first")
    put("h1", path = "f", content = "x")
    run("h1", cmd = "echo second")
`)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &onWarning{do: cancel}
	rec, err := Run(ctx, Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: out, PauseBefore: "put"}, pb)
	if err == nil || rec.Interrupted == nil {
		t.Fatalf("paused run, interrupted: %v, recap %+v, want an interruption\n%s", err, rec, &out.recorder)
	}
	if runs := conn.Conns["h1"].Runs(); len(runs) != 1 || runs[0] != "echo first" {
		t.Errorf("ran %q, want only the task before the paused one", runs)
	}
	warn := out.of(EventWarning)
	if len(warn) != 1 || !strings.Contains(warn[0].Msg, "paused before put") || warn[0].Pos != "pause.star:4:8" {
		t.Errorf("warnings %+v, want one saying the run paused before put at pause.star:4:8", warn)
	}
	if starts := out.of(EventTaskStart); len(starts) != 2 || starts[1].Module != "put" {
		t.Errorf("task starts %+v, want run, then the paused put", starts)
	}

	resumed := &onWarning{do: func() { syscall.Kill(os.Getpid(), syscall.SIGUSR1) }}
	inv, conn = enginetest.Hosts(t, "", "h1")
	if _, err := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: resumed, PauseBefore: "put"}, pb); err != nil {
		t.Fatalf("a paused run sent SIGUSR1: %v\n%s", err, &resumed.recorder)
	}
	if runs := conn.Conns["h1"].Runs(); len(runs) != 3 || runs[2] != "echo second" {
		t.Errorf("the resumed run ran %q, want every task", runs)
	}

	out2 := &recorder{}
	_, err = Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: out2, PauseBefore: "ptu"}, pb)
	if err == nil || !strings.Contains(err.Error(), "ETCDPLAY_PAUSE_BEFORE=ptu: no module ptu") || !strings.Contains(err.Error(), "put") {
		t.Errorf("a misspelt module: %v, want it refused with a suggestion", err)
	}
	if runs := conn.Conns["h1"].Runs(); len(runs) != 3 {
		t.Errorf("a run refused for its pause ran %q", runs[3:])
	}
}
