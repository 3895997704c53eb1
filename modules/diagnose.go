package modules

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
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

func diagnoseScript(unit, dataDir string, lines int) string {
	q := transport.QuoteWord
	return fmt.Sprintf(`u=%s; d=%s
systemctl show --no-pager -p ActiveState -p SubState -p NRestarts -- "$u" 2>/dev/null
if [ ! -d "$d" ]; then echo data=missing; elif [ -d "$d/member" ]; then echo data=member; else echo data=empty; fi
echo --journal
journalctl -u "$u" -n %d --no-pager -o cat 2>/dev/null
true
`, q(unitName(unit)), q(dataDir), lines)
}

func planDiagnose(ctx context.Context, c *engine.HostCall, a *diagnoseArgs) (engine.Plan, error) {
	if a.Unit == "" {
		a.Unit = "etcd"
	}
	if a.Lines <= 0 {
		a.Lines = 80
	}
	res, err := shellOK(ctx, c, diagnoseScript(a.Unit, path.Clean(a.DataDir), a.Lines))
	if err != nil {
		return engine.Plan{}, err
	}
	head, journal, _ := strings.Cut(string(res.Stdout), "--journal\n")
	facts := map[string]string{}
	for _, l := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			facts[k] = v
		}
	}
	journal = strings.TrimRight(journal, "\n")
	restarts, _ := strconv.Atoi(facts["NRestarts"])
	c.Set("active", facts["ActiveState"])
	c.Set("sub", facts["SubState"])
	c.Set("restarts", restarts)
	c.Set("data", facts["data"])
	c.Set("journal", journal)
	d, ok := etcd.Diagnose(journal)
	c.Set("cause", d.Cause)
	c.Set("fix", d.Fix)
	c.Set("repair", d.Repair)
	c.Set("evidence", d.Line)
	state := fmt.Sprintf("etcd is %s (%s), restarted %d times, data dir %s", facts["ActiveState"], facts["SubState"], restarts, facts["data"])
	if !ok {
		return engine.NothingToDo("%s; no known failure in its last %d log lines", state, a.Lines), nil
	}
	return engine.NothingToDo("%s; %s", state, d.Cause), nil
}
