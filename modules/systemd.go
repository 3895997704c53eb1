package modules

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type systemdArgs struct {
	Unit         string
	Content      string
	Src          string
	Template     string
	State        string
	Enabled      etcd.OptBool
	Masked       etcd.OptBool
	DaemonReload bool
	NoBlock      bool
	UnitDir      string
	JournalLines int
	QuorumCheck  etcd.OptBool
	Force        bool
	IfNewer      engine.StringList
	Cluster      starlark.Value
	etcd.ConnArgs
}

// systemd manages a systemd unit on each host: its unit file, whether it
// is enabled or masked, and whether it runs.
//
// It reads first (systemctl show: load, active and unit file state) and
// changes only the difference, in this order: write the unit file (from
// content=, src= or template=, atomically, only when it differs; --diff shows it),
// daemon-reload (only when the file changed or systemd says a reload is
// needed), unmask or mask, enable or disable, then start, stop, restart
// or reload.
//
// A unit that fails to start is reported with the last lines of
// journalctl -u UNIT, so the operator sees the service's own error, and
// with the cause and fix when it is a known etcd failure. A host without
// systemd (no systemctl, or not booted with systemd) gets an error saying
// so.
//
// Quorum gate: stopping or restarting a running etcd unit (a unit named
// etcd, etcd@..., or quorum_check=True) first reads the cluster through
// this host's SSH connection (its own member, and the hosts in cluster=)
// and refuses, showing the arithmetic, when the cluster would lose quorum
// without this member. Hosts of one call are counted together: when
// several are asked to stop at once, the ones that would break quorum are
// refused (restart members one at a time, serial=1). force=True overrides
// with a warning.
//
// etcd's unit is Type=notify: systemctl start returns when the member has
// joined, and a lone member of a new cluster waits for the others. Start
// all members in one call (they start in parallel), or no_block=True to
// queue the start and return at once (then wait_healthy).
//
// Arguments:
//
//	unit      the unit; ".service" is added when there is no suffix
//	content   the unit file's text; or
//	src       a unit file on the control machine (relative to the
//	          playbook's directory); or
//	template  a unit file template there (Go text/template, with the
//	          variables of the template module)
//	state     "started", "stopped", "restarted" or "reloaded"
//	enabled   start at boot (True) or not (False)
//	masked    mask (True) or unmask (False) the unit
//	daemon_reload   reload systemd's configuration even if no file changed
//	no_block  do not wait for start or restart to finish
//	unit_dir  where the unit file goes (default /etc/systemd/system)
//	journal_lines   lines of the journal shown after a failed start
//	          (default 20)
//	quorum_check    force the quorum gate on (True) or off (False); by
//	          default it is on for units named etcd
//	force     stop or restart even when the quorum gate refuses
//	if_newer  with state="restarted": files (paths on the host) the
//	          running process must have started after; it is restarted
//	          only when one changed since, so a run that stopped between
//	          writing a configuration and the restart restarts what still
//	          runs the old one, and a run that finished restarts nothing
//	cluster   more hosts of the cluster to read it through
//	dial, direct, cacert, cert, key, tls_from_host, to reach the cluster: see
//	          etcdplay doc member_list
//
// The result has active_state (after the change), enabled ("enabled",
// "disabled", "masked", ...: from the unit's links when enabled= or
// masked= is given, else as the manager last loaded them) and, after a
// failed start, journal.
//
// Check mode: reads the unit and the cluster, runs the gate, and reports
// what it would do (with --diff, the unit file's diff). A unit that is not
// installed yet, whose unit file an earlier step of the run would write
// (install_etcd), is planned as the run will find it: stopped and
// disabled.
//
// Example:
//
//	systemd(ctx.hosts("etcd"), unit = "etcd", state = "restarted", serial = 1, become = True)
var systemdModule = &engine.HostModule[systemdArgs]{
	Name: "systemd",
	Args: func(a *systemdArgs) []any {
		return append([]any{"unit", &a.Unit, "content?", &a.Content, "src?", &a.Src, "template?", &a.Template, "state?", &a.State,
			"enabled?", &a.Enabled, "masked?", &a.Masked, "daemon_reload?", &a.DaemonReload, "no_block?", &a.NoBlock,
			"unit_dir?", &a.UnitDir, "journal_lines?", &a.JournalLines, "quorum_check?", &a.QuorumCheck,
			"force?", &a.Force, "if_newer?", &a.IfNewer, "cluster?", &a.Cluster}, a.Pairs()...)
	},
	Validate: func(a *systemdArgs) error {
		if a.Unit == "" {
			return fmt.Errorf("unit is empty")
		}
		if strings.ContainsAny(a.Unit, "/ \t\n") {
			return fmt.Errorf("unit %q: want a unit name such as etcd or etcd.service, not a path", a.Unit)
		}
		switch a.State {
		case "", "started", "stopped", "restarted", "reloaded":
		default:
			return fmt.Errorf("state: got %q, want \"started\", \"stopped\", \"restarted\" or \"reloaded\"", a.State)
		}
		n := 0
		for _, x := range []string{a.Content, a.Src, a.Template} {
			if x != "" {
				n++
			}
		}
		if n > 1 {
			return fmt.Errorf("give one of content=, src= or template= for the unit file")
		}
		if a.Masked.Val && (a.State == "started" || a.State == "restarted" || a.State == "reloaded" || a.Enabled.Val) {
			return fmt.Errorf("a masked unit cannot be started or enabled (masked=True with state=%q, enabled=%v)", a.State, a.Enabled.Val)
		}
		return nil
	},
	Plan: planSystemd,
}

var etcdUnitRE = regexp.MustCompile(`^etcd(@[^.]*)?\.service$`)

func planSystemd(ctx context.Context, c *engine.HostCall, a *systemdArgs) (engine.Plan, error) {
	unit := unitName(a.Unit)
	content, err := unitContent(c, a)
	if err != nil {
		return engine.Plan{}, err
	}
	unitDir := a.UnitDir
	if unitDir == "" {
		unitDir = "/etc/systemd/system"
	}
	want := wantFile{Path: path.Join(unitDir, unit), Content: content, Mode: engine.FileMode{Mode: 0o644, Set: true}}

	// Everything the plan needs, in one read.
	var sys systemdState
	var f unitFacts
	var file fileFacts
	start, mtimes := int64(-1), map[string]int64{}
	// Whether the unit is enabled is read from its links (is-enabled)
	// when the plan turns on it; otherwise the manager's UnitFileState
	// is reported, and a stop or restart saves a systemctl (9 ms on a
	// lab host). (systemd 252 keeps that copy up to date even with links
	// made by hand; the links are the authority all the same.)
	fresh := a.Enabled.Set || a.Masked.Set
	var enabled string
	qs := []query{systemdFact.into(&sys), unitFact(unit).into(&f)}
	if fresh {
		qs = append(qs, enabledFact(unit).into(&enabled))
	}
	if len(content) > 0 {
		qs = append(qs, statFact(want.Path, true).into(&file))
	}
	if a.State == "restarted" && len(a.IfNewer) > 0 {
		// A start time systemd cannot give (one older than
		// --timestamp=unix) stays -1: the unit is restarted.
		qs = append(qs, unitStartFact(unit).into(&start).optional(), mtimesFact(a.IfNewer).into(&mtimes))
	}
	if err := readFacts(ctx, c, qs...); err != nil {
		return engine.Plan{}, err
	}
	if fresh {
		f.FileState = enabled
	}
	switch sys {
	case noSystemctl:
		return engine.Plan{}, fmt.Errorf("unit %s: %s has no systemd (systemctl not found): manage etcd there another way", unit, c.Host.Name)
	case notBooted:
		return engine.Plan{}, fmt.Errorf("unit %s: %s was not booted with systemd (/run/systemd/system is missing, as in most containers): systemctl cannot manage units there", unit, c.Host.Name)
	}
	if f.Load == "not-found" && len(content) == 0 && wouldInstall(c, unitDir, unit) {
		// Check mode: an earlier step of the run (install_etcd) installs
		// the unit, so the run will find it there, stopped and disabled,
		// and its plan says what it will do then.
		f = unitFacts{Load: "loaded", Active: "inactive", Sub: "dead", FileState: "disabled"}
	}
	c.Set("active_state", f.Active)
	c.Set("enabled", f.FileState)

	var actions []engine.Action
	run := func(desc string, argv ...string) engine.Action {
		return engine.Action{Desc: desc, Do: func(ctx context.Context) error {
			_, err := c.Output(ctx, argv...)
			return err
		}}
	}

	// The unit file.
	fileChanged := false
	if len(content) > 0 {
		p, err := planWriteFrom(ctx, c, want, file)
		if err != nil {
			return engine.Plan{}, fmt.Errorf("unit %s: %w", unit, err)
		}
		actions = append(actions, p.Actions...)
		fileChanged = len(p.Actions) > 0
	} else if f.Load == "not-found" && (a.State != "" && a.State != "stopped" || a.Enabled.Val) {
		return engine.Plan{}, fmt.Errorf("unit %s not found on %s: install it first (content=, src= or template=, or install_etcd)", unit, c.Host.Name)
	}
	if fileChanged || f.NeedReload || a.DaemonReload {
		actions = append(actions, run("daemon-reload", "systemctl", "daemon-reload"))
	}

	// Mask, enable.
	if a.Masked.Set {
		switch {
		case a.Masked.Val && !f.masked():
			actions = append(actions, run("mask "+unit, "systemctl", "mask", "--", unit))
		case !a.Masked.Val && f.masked():
			actions = append(actions, run("unmask "+unit, "systemctl", "unmask", "--", unit))
		}
	}
	link := "" // enable or disable
	if a.Enabled.Set {
		enabled := f.FileState == "enabled" || f.FileState == "enabled-runtime"
		switch {
		case a.Enabled.Val && !enabled:
			link = "enable"
		case !a.Enabled.Val && enabled:
			link = "disable"
		}
	}

	// State.
	var verb string
	switch a.State {
	case "started":
		if !f.running() || f.Active == "deactivating" {
			verb = "start"
		}
	case "stopped":
		if f.running() {
			verb = "stop"
		}
	case "restarted":
		verb = "restart"
	case "reloaded":
		verb = "reload"
		if !f.running() {
			verb = "start"
		}
	}
	if verb == "restart" && !f.running() {
		verb = "start"
	}
	if verb == "restart" && len(a.IfNewer) > 0 {
		if fresh, why := startedAfter(start, mtimes, a.IfNewer); fresh {
			verb = ""
			c.Set("if_newer", why)
		}
	}
	if (verb == "stop" || verb == "restart") && a.QuorumCheck.Or(etcdUnitRE.MatchString(unit)) {
		more, err := hostsArg(a.Cluster)
		if err != nil {
			return engine.Plan{}, engine.BadInput("cluster: %v", err)
		}
		note, err := etcd.StopGate(ctx, c, &a.ConnArgs, more, verb, unit, a.Force)
		if err != nil {
			return engine.Plan{}, err
		}
		c.Set("quorum", note)
	}
	// --no-reload: the links say what starts at boot, which the manager
	// reads then; its reload now (a tenth of a second, as long as etcd
	// takes to start) changes nothing this module does next. A changed
	// unit file was reloaded above. An enable before a start, or a
	// disable before a stop, is one systemctl (--now), each being 9 ms
	// of a lab host's time; the plan still has the two actions, so a
	// plan file and check mode say what they did, and a run that applies
	// a plan whose stop has happened by itself since (a removed member's
	// etcd exits) still finds its disable there.
	now := !a.NoBlock && (link == "enable" && verb == "start" || link == "disable" && verb == "stop")
	switch {
	case link != "" && now:
		actions = append(actions, engine.Action{Desc: link + " " + unit, Do: func(ctx context.Context) error {
			res, err := c.Run(ctx, "systemctl", link, "--no-reload", "--now", "--", unit)
			if err != nil {
				return err
			}
			if res.ExitStatus != 0 {
				return unitFailed(ctx, c, unit, verb, res, a.JournalLines)
			}
			return nil
		}})
	case link != "":
		actions = append(actions, run(link+" "+unit, "systemctl", link, "--no-reload", "--", unit))
	}
	if verb != "" {
		argv := []string{"systemctl", verb}
		desc := verb + " " + unit
		if a.NoBlock && verb != "stop" {
			argv = append(argv, "--no-block")
			desc += " (without waiting)"
		}
		argv = append(argv, "--", unit)
		actions = append(actions, engine.Action{Desc: desc, Do: func(ctx context.Context) error {
			if !now { // else the enable or disable above did it
				res, err := c.Run(ctx, argv...)
				if err != nil {
					return err
				}
				if res.ExitStatus != 0 {
					return unitFailed(ctx, c, unit, verb, res, a.JournalLines)
				}
			}
			if st, err := readFact(ctx, c, unitFact(unit)); err == nil {
				c.Set("active_state", st.Active)
			}
			return nil
		}})
	}
	if len(actions) == 0 {
		return engine.NothingToDo("%s is %s (%s), %s", unit, f.Active, f.Sub, cmp.Or(f.FileState, "no unit file state")), nil
	}
	return engine.Do(actions...), nil
}

// wouldInstall reports whether, in check mode, an earlier step of the run
// writes the unit file of unit where systemd looks for it.
func wouldInstall(c *engine.HostCall, unitDir, unit string) bool {
	for _, dir := range []string{unitDir, "/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"} {
		if _, _, gone, ok := c.WouldHave(path.Join(dir, unit)); ok && !gone {
			return true
		}
	}
	return false
}

// unitContent is the unit file's text from content=, src= or template=,
// nil when none is given.
func unitContent(c *engine.HostCall, a *systemdArgs) ([]byte, error) {
	switch {
	case a.Src != "":
		b, err := os.ReadFile(c.LocalPath(a.Src))
		if err != nil {
			return nil, engine.BadInput("src: %v", err)
		}
		return b, nil
	case a.Template != "":
		b, err := os.ReadFile(c.LocalPath(a.Template))
		if err != nil {
			return nil, engine.BadInput("template: %v", err)
		}
		data, err := templateData(c, nil)
		if err != nil {
			return nil, engine.BadInput("%v", err)
		}
		return render(a.Template, string(b), data)
	}
	return []byte(a.Content), nil
}

// unitFailed describes a failed systemctl start (or restart, reload): its
// own message, the last lines of the unit's journal, and the explanation
// of a known etcd failure found in them.
func unitFailed(ctx context.Context, c *engine.HostCall, unit, verb string, res transport.Result, lines int) error {
	if lines <= 0 {
		lines = 20
	}
	base := engine.CommandError("systemctl "+verb, res)
	jr, err := readFact(ctx, c, journalFact(unit, lines))
	if err != nil {
		return base
	}
	journal := strings.TrimSpace(jr)
	c.Set("journal", journal)
	msg := fmt.Sprintf("%v\nlast lines of journalctl -u %s:\n%s", base, unit, indent(journal, "  "))
	if why := etcd.ExplainLog(journal); why != "" {
		msg += "\n" + why
	}
	return fmt.Errorf("%s", msg)
}

func indent(s, pre string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(pre)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// startedAfter reports whether the unit's main process started (at
// start, -1 for not running) after every one of files last changed, by
// their mtimes (a file that does not exist does not count), and says so
// in words.
func startedAfter(start int64, mtimes map[string]int64, files []string) (bool, string) {
	if start < 0 {
		return false, ""
	}
	for _, f := range files {
		if t, ok := mtimes[f]; ok && t >= start {
			return false, ""
		}
	}
	return true, fmt.Sprintf("its process started after %s last changed", strings.Join(files, ", "))
}
