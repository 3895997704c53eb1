package modules

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/engine/transport"
)

// unitName adds ".service" to a bare name.
func unitName(u string) string {
	if path.Ext(u) == "" || !strings.Contains(u, ".") {
		return u + ".service"
	}
	return u
}

// systemdState is whether systemd manages units on a host.
type systemdState string

const (
	systemdRuns systemdState = "systemd"
	noSystemctl systemdState = "nosystemctl" // systemctl is not installed
	notBooted   systemdState = "notbooted"   // not booted with systemd (/run/systemd/system is missing), as in most containers
)

// withSystemd runs a script only where systemd manages units; elsewhere
// it prints nothing.
func withSystemd(script string) string {
	return "if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then\n" + script + "\nfi"
}

// systemdFact is whether systemd manages units on the host.
var systemdFact = Fact[systemdState]{
	Name: "systemd",
	Command: `if ! command -v systemctl >/dev/null 2>&1; then echo nosystemctl
elif [ ! -d /run/systemd/system ]; then echo notbooted
else echo systemd; fi`,
	Parse: func(out string) (systemdState, error) {
		switch s := systemdState(strings.TrimSpace(out)); s {
		case systemdRuns, noSystemctl, notBooted:
			return s, nil
		}
		return "", fmt.Errorf("unexpected output %q", out)
	},
}

// unitFacts is what systemctl show says about a unit; all "" where
// systemd does not run.
type unitFacts struct {
	Load, Active, Sub string
	FileState         string
	NeedReload        bool
	Fragment          string
	Restarts          int
}

func (f unitFacts) masked() bool { return f.FileState == "masked" || f.Load == "masked" }

// running reports whether the unit has a process, starting or stopping.
func (f unitFacts) running() bool {
	return f.Active == "active" || f.Active == "activating" || f.Active == "reloading" || f.Active == "deactivating"
}

// active is what systemctl is-active calls active.
func (f unitFacts) active() bool {
	return f.Active == "active" || f.Active == "reloading" || f.Active == "refreshing"
}

// unitFact is the state of unit, as systemctl show gives it. Its
// UnitFileState is the manager's answer; the systemd module, which
// enables and disables without a reload, reads enabledFact (the links)
// over it when its plan turns on it.
func unitFact(unit string) Fact[unitFacts] {
	return Fact[unitFacts]{
		Name:    "unit " + unit,
		Command: withSystemd("systemctl show --no-pager -p LoadState -p ActiveState -p SubState -p UnitFileState -p NeedDaemonReload -p FragmentPath -p NRestarts -- " + transport.QuoteWord(unit)),
		Parse:   parseUnitFacts,
	}
}

// enabledFact is whether unit starts at boot as systemctl is-enabled says
// it, from the links themselves ("enabled", "disabled", "masked", ...;
// "" for no such unit).
func enabledFact(unit string) Fact[string] {
	return Fact[string]{
		Name:    "whether " + unit + " is enabled",
		Command: withSystemd("systemctl is-enabled -- " + transport.QuoteWord(unit) + " 2>/dev/null; true"),
		Parse:   func(out string) (string, error) { return strings.TrimSpace(out), nil },
	}
}

func parseUnitFacts(out string) (unitFacts, error) {
	var f unitFacts
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "LoadState":
			f.Load = v
		case "ActiveState":
			f.Active = v
		case "SubState":
			f.Sub = v
		case "UnitFileState":
			f.FileState = v
		case "NeedDaemonReload":
			f.NeedReload = v == "yes"
		case "FragmentPath":
			f.Fragment = v
		case "NRestarts":
			f.Restarts, _ = strconv.Atoi(v)
		}
	}
	return f, nil
}

// unitStartFact is when the unit's main process started, in Unix
// seconds; -1 when it has none, or systemd does not run.
func unitStartFact(unit string) Fact[int64] {
	return Fact[int64]{
		Name:    "the start time of " + unit,
		Command: withSystemd("systemctl show -p ExecMainStartTimestamp --timestamp=unix -- " + transport.QuoteWord(unit)),
		Parse: func(out string) (int64, error) {
			for _, l := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(l, "ExecMainStartTimestamp=@"); ok {
					if t, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
						return t, nil
					}
				}
			}
			return -1, nil
		},
	}
}

// journalFact is the last lines of the unit's journal.
func journalFact(unit string, lines int) Fact[string] {
	return Fact[string]{
		Name:    "the journal of " + unit,
		Command: fmt.Sprintf("journalctl -u %s -n %d --no-pager -o cat", transport.QuoteWord(unit), lines),
		Parse:   func(out string) (string, error) { return strings.TrimRight(out, "\n"), nil },
	}
}
