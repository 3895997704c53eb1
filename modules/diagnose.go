package modules

import (
	"context"
	"fmt"
	"path"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type diagnoseArgs struct {
	DataDir string
	Unit    string
	Lines   int
}

// diagnose reads why the etcd member of each host is not working: its
// unit's state and restarts, the last lines of its journal, its data dir.
// It changes nothing.
//
// A known failure in the journal is explained with its cause and the
// repair: the raft panic "tocommit(N) is out of range [lastIndex(M)]" (the
// member's data dir was lost or restored from an older copy), "member has
// already been bootstrapped", "cluster ID mismatch" (data of another
// cluster), each repaired by re-creating the member on its host (replace
// with old = new); "the member has been permanently removed" (the host is
// no member any more: add it again). A data dir that is empty, or
// missing, is said as such: the caller knows whether the cluster still
// lists the member.
//
// Arguments:
//
//	data_dir  the member's data dir
//	unit      its unit (default etcd)
//	lines     journal lines read (default 80)
//
// The result has active (the unit's ActiveState), sub (SubState),
// restarts (systemd's NRestarts), data ("missing", "empty" or "member"),
// cause, fix and repair ("recreate": the replace playbook with old = new;
// "add": the add playbook; or ""), evidence (the log line that shows the
// cause) and journal (the lines read).
//
// Check mode: the same; diagnose never changes anything.
//
// Example:
//
//	d = diagnose(h, data_dir = data_dir(h))
//	if d.repair == "recreate":
//	    print(d.cause)
var diagnoseModule = &engine.HostModule[diagnoseArgs]{
	Name: "diagnose",
	Args: func(a *diagnoseArgs) []any {
		return []any{"data_dir", &a.DataDir, "unit?", &a.Unit, "lines?", &a.Lines}
	},
	Validate: func(a *diagnoseArgs) error {
		if !path.IsAbs(a.DataDir) {
			return fmt.Errorf("data_dir: %q is not an absolute path", a.DataDir)
		}
		return nil
	},
	Plan: planDiagnose,
}

func planDiagnose(ctx context.Context, c *engine.HostCall, a *diagnoseArgs) (engine.Plan, error) {
	if a.Unit == "" {
		a.Unit = "etcd"
	}
	if a.Lines <= 0 {
		a.Lines = 80
	}
	unit, dir := unitName(a.Unit), path.Clean(a.DataDir)
	// What only informs may be missing: no systemd, no journal.
	var f unitFacts
	var data, member fileFacts
	var journal string
	err := readFacts(ctx, c,
		unitFact(unit).into(&f).optional(),
		statFact(dir, false).into(&data).optional(),
		statFact(path.Join(dir, "member"), false).into(&member).optional(),
		journalFact(unit, a.Lines).into(&journal).optional())
	if err != nil {
		return engine.Plan{}, err
	}
	held := "empty"
	switch {
	case !data.Dir:
		held = "missing"
	case member.Dir:
		held = "member"
	}
	c.Set("active", f.Active)
	c.Set("sub", f.Sub)
	c.Set("restarts", f.Restarts)
	c.Set("data", held)
	c.Set("journal", journal)
	d, ok := etcd.Diagnose(journal)
	c.Set("cause", d.Cause)
	c.Set("fix", d.Fix)
	c.Set("repair", d.Repair)
	c.Set("evidence", d.Line)
	state := fmt.Sprintf("etcd is %s (%s), restarted %d times, data dir %s", f.Active, f.Sub, f.Restarts, held)
	if !ok {
		return engine.NothingToDo("%s; no known failure in its last %d log lines", state, a.Lines), nil
	}
	return engine.NothingToDo("%s; %s", state, d.Cause), nil
}
