package modules

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type upgradeCheckArgs struct {
	Version string
	Running string
	BinDir  string
}

// upgrade_check checks, before an upgrade (or a downgrade) changes
// anything, that the member of each host may go from the etcd version
// the cluster's members run to another, as etcd's upgrade and downgrade
// guides ask; it changes nothing.
//
// It refuses (exit status 5), naming the host, the reason and the fix,
// when:
//   - the step is not one etcd supports: upgrades go to a newer patch of
//     the same minor, or to the next minor from a patch release the
//     upgrade guide names (3.5.26 for 3.6, 3.6.11 for 3.7); downgrades
//     go to the previous minor only from 3.6 on, by etcd's downgrade
//     procedure (etcdctl downgrade validate and enable); a skipped minor
//     or a patch downgrade is refused;
//   - the member's etcd.conf sets a setting that etcd of the new version
//     does not know (3.5's ETCD_ENABLE_V2 for 3.6, 3.6's
//     ETCD_FEATURE_GATES for 3.5), saying how the new version spells it
//     when it was renamed;
//   - from 3.5 to 3.6: the member's v2 store holds more than the
//     membership, which etcd 3.6 refuses to start on. etcdutl check
//     v2store (the member's own etcdutl, from its 3.5 release) reads a
//     copy of the member's WAL and v2 snapshots, taken beside it, not the
//     data etcd runs on; an etcdutl without that command is refused too,
//     since the check cannot be made. A member whose binaries are the new
//     version already (an upgrade that stopped after installing them,
//     whose check passed before) is not checked again.
//
// The data dir and etcd.conf are the host's member's (etcd_data_dir,
// etcd_conf_file: see etcdplay doc etcd).
//
// Arguments:
//
//	version   the etcd version the member is to run ("3.6.16")
//	running   the version the cluster's members to change run now
//	bin_dir   where etcd and etcdutl are (default /usr/local/bin)
//
// The result has step ("patch upgrade", "minor upgrade", "downgrade",
// "no change"), installed (the etcd binary's version on the host) and
// checks (what was checked, in words).
//
// Check mode: the same checks; upgrade_check never changes anything.
//
// Example:
//
//	upgrade_check(todo, version = "3.6.16", running = "3.5.35")
var upgradeCheckModule = &engine.HostModule[upgradeCheckArgs]{
	Name: "upgrade_check",
	Args: func(a *upgradeCheckArgs) []any {
		return []any{"version", &a.Version, "running", &a.Running, "bin_dir?", &a.BinDir}
	},
	Validate: func(a *upgradeCheckArgs) error {
		for name, v := range map[string]string{"version": a.Version, "running": a.Running} {
			if _, ok := etcd.ParseVersion(v); !ok {
				return fmt.Errorf("%s: %q is not an etcd version such as 3.6.16", name, v)
			}
		}
		if a.BinDir == "" {
			a.BinDir = "/usr/local/bin"
		}
		if !path.IsAbs(a.BinDir) {
			return fmt.Errorf("bin_dir: %q is not an absolute path", a.BinDir)
		}
		return nil
	},
	Plan: planUpgradeCheck,
}

// v2storeCheck is what etcdutl check v2store said of a copy of a
// member's data: state "ok", "custom" (the v2 store holds more than the
// membership), "nodata" (no WAL yet), "noetcdutl", "nocheck" (an etcdutl
// without the command), or "failed" with its output.
type v2storeCheck struct {
	State, Output string
}

// v2storeFact runs etcdutl check v2store on a copy of the WAL and v2
// snapshots of the member whose data dir and etcd.conf are dataDir and
// conf (ETCD_WAL_DIR in it, if set), in a temporary directory removed
// afterwards: the command wants a data dir no etcd runs on.
func v2storeFact(dataDir, conf, etcdutl string) Fact[v2storeCheck] {
	q := transport.QuoteWord
	return Fact[v2storeCheck]{
		Name: "etcdutl check v2store of " + dataDir,
		Command: "d=" + q(dataDir) + "; c=" + q(conf) + "; u=" + q(etcdutl) + `
if [ ! -x "$u" ]; then echo noetcdutl; exit 0; fi
if ! "$u" check v2store --help >/dev/null 2>&1; then echo nocheck; exit 0; fi
w=$(sed -n 's/^ETCD_WAL_DIR="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$c" 2>/dev/null | tail -n 1)
[ -n "$w" ] || w="$d/member/wal"
if [ ! -d "$w" ]; then echo nodata; exit 0; fi
t=$(mktemp -d /var/tmp/etcdplay-v2store.XXXXXX) || exit 1
mkdir -p "$t/member/snap" && cp -a "$w" "$t/member/wal" && for s in "$d"/member/snap/*.snap; do if [ -e "$s" ]; then cp -a "$s" "$t/member/snap/" || break; fi; done
out=$("$u" check v2store --data-dir "$t" 2>&1); rc=$?
rm -rf "$t"
echo "rc=$rc"
printf '%s\n' "$out"`,
		Parse: parseV2storeCheck,
	}
}

func parseV2storeCheck(out string) (v2storeCheck, error) {
	first, rest, _ := strings.Cut(strings.TrimSpace(out), "\n")
	switch first {
	case "noetcdutl", "nocheck", "nodata":
		return v2storeCheck{State: first}, nil
	case "rc=0":
		return v2storeCheck{State: "ok", Output: lastLine(rest)}, nil
	}
	if !strings.HasPrefix(first, "rc=") {
		return v2storeCheck{}, fmt.Errorf("unexpected output %q", firstLine(out))
	}
	msg := lastLine(rest)
	for _, l := range strings.Split(rest, "\n") {
		if strings.Contains(l, "custom") && !strings.HasPrefix(strings.TrimSpace(l), "{") {
			return v2storeCheck{State: "custom", Output: strings.TrimSpace(l)}, nil
		}
	}
	return v2storeCheck{State: "failed", Output: msg}, nil
}

// lastLine is the last line of s that is not blank.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// confFileFact is the settings of an etcd environment file, none when
// there is no such file.
func confFileFact(p string) Fact[etcdConf] {
	return Fact[etcdConf]{
		Name:    p,
		Command: "c=" + transport.QuoteWord(p) + `; if [ -f "$c" ]; then cat "$c"; fi`,
		Parse:   func(out string) (etcdConf, error) { return parseEnv([]byte(out)) },
	}
}

// v2storeFix is the fix for a v2 store that holds more than the
// membership, after etcd's 3.5 to 3.6 upgrade guide, in words: which v2
// data to keep is the operator's to say. A v2 snapshot taken after the
// data is deleted holds none of it, and the WAL after it no v2 write.
const v2storeFix = "etcd 3.6 refuses to start on data whose v2 store holds more than the membership. " +
	"The fix (etcd's upgrade guide, https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/): while the members still run with " +
	"ETCD_ENABLE_V2=true, move the v2 data still needed to v3 (etcd's v2 migration guide) and delete it from the v2 store " +
	"(DELETE /v2/keys/KEY); add ETCD_SNAPSHOT_COUNT=1 to the members' etcd_settings, rewrite their etcd.conf (etcdplay run " +
	"bootstrap on the running cluster rewrites it and restarts nothing) and restart them one at a time (etcdplay run " +
	"rolling_restart), then write to the cluster once, so that each takes a v2 snapshot without that data; then take " +
	"ETCD_ENABLE_V2 and ETCD_SNAPSHOT_COUNT out of etcd_settings, rewrite etcd.conf and restart them again the same way. " +
	"Then run the same command again"

func planUpgradeCheck(ctx context.Context, c *engine.HostCall, a *upgradeCheckArgs) (engine.Plan, error) {
	id, err := etcd.IdentityOf(c.Host)
	if err != nil {
		return engine.Plan{}, err
	}
	from, _ := etcd.ParseVersion(a.Running)
	to, _ := etcd.ParseVersion(a.Version)
	host := c.Host.Name
	step, err := etcd.VersionStepOf(from, to)
	if err != nil {
		return engine.Plan{}, engine.Refuse("%s: %v; nothing was changed", host, err)
	}
	c.Set("step", step.String())
	checks := []string{fmt.Sprintf("etcd %s to %s is a %s etcd supports", from, to, step)}

	var conf etcdConf
	var installed string
	var v2 v2storeCheck
	needV2 := step == etcd.MinorUpgrade && from.Major == 3 && from.Minor == 5
	qs := []query{confFileFact(id.ConfFile).into(&conf), versionFact(path.Join(a.BinDir, "etcd")).into(&installed)}
	if needV2 {
		qs = append(qs, v2storeFact(id.DataDir, id.ConfFile, path.Join(a.BinDir, "etcdutl")).into(&v2))
	}
	if err := readFacts(ctx, c, qs...); err != nil {
		return engine.Plan{}, err
	}
	c.Set("installed", installed)

	var problems []string
	minor := confMinor(to.String())
	for _, k := range conf.sortedKeys() {
		if _, ok := settingOf(k, minor); !ok {
			problems = append(problems, fmt.Sprintf("%s sets %s: %s. Take it out of the member's etcd_settings and rewrite %s (etcdplay run bootstrap on the running cluster rewrites it and restarts nothing)", id.ConfFile, k, unknownSetting(k, minor), id.ConfFile))
		}
	}
	if len(problems) == 0 {
		checks = append(checks, fmt.Sprintf("every setting of %s is one etcd %s knows", id.ConfFile, minor))
	}
	if needV2 {
		switch {
		case installed == to.String():
			checks = append(checks, "the v2 store was checked before etcd "+installed+" was installed")
		case v2.State == "ok" || v2.State == "nodata":
			checks = append(checks, "etcdutl check v2store: no custom content in the v2 store")
		case v2.State == "custom":
			problems = append(problems, fmt.Sprintf("etcdutl check v2store on a copy of %s's data: %s. %s", id.DataDir, v2.Output, v2storeFix))
		case v2.State == "noetcdutl" || v2.State == "nocheck":
			what := "there is no " + path.Join(a.BinDir, "etcdutl")
			if v2.State == "nocheck" {
				what = path.Join(a.BinDir, "etcdutl") + " has no check v2store command"
			}
			problems = append(problems, fmt.Sprintf("the v2 store cannot be checked, as etcd's 3.5 to 3.6 upgrade guide asks: %s. Install a 3.5 release that has it (3.5.26 or later, with etcdutl) on every member first, then run the same command again", what))
		default:
			problems = append(problems, fmt.Sprintf("etcdutl check v2store on a copy of %s's data failed: %s", id.DataDir, v2.Output))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return engine.Plan{}, engine.Refuse("%s cannot go from etcd %s to %s: %s; nothing was changed", host, from, to, strings.Join(problems, "; "))
	}
	c.Set("checks", checks)
	return engine.NothingToDo("ready: %s", strings.Join(checks, "; ")), nil
}
