package engine

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// pauseBefore holds the run at the first task of the module Config.
// PauseBefore names (ETCDPLAY_PAUSE_BEFORE), once its task_start is out,
// until the process gets SIGUSR1 (the task then runs) or the run is
// interrupted: a rehearsal of a change stopped, or a fault injected, at
// exactly that step, which a signal sent on seeing the task's start
// cannot give, since the task may be done by the time the signal lands.
func (r *runner) pauseBefore(t *task) {
	if r.cfg.PauseBefore != t.module || !r.paused.CompareAndSwap(false, true) {
		return
	}
	ctx := r.ctx
	resume := make(chan os.Signal, 1)
	signal.Notify(resume, syscall.SIGUSR1)
	defer signal.Stop(resume)
	r.emit(Event{Type: EventWarning, Task: t.id, Module: t.module, Pos: t.pos,
		Msg: fmt.Sprintf("paused before %s (ETCDPLAY_PAUSE_BEFORE): kill -USR1 %d goes on, an interrupt stops the run here", t.module, os.Getpid())})
	select {
	case <-resume:
	case <-ctx.Done():
	}
}

// pauseTarget refuses a PauseBefore that names no module, before the run
// begins: a misspelt name would never pause.
func (r *runner) pauseTarget() error {
	if m := r.cfg.PauseBefore; m != "" && r.modules[m] == nil {
		return &Error{Err: BadInput("ETCDPLAY_PAUSE_BEFORE=%s: no module %s%s (etcdplay doc lists them)", m, m, suggest.Hint(m, r.moduleNames()))}
	}
	return nil
}
