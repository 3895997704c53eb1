package modules

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/lab/labtest"
)

func TestConfMinor(t *testing.T) {
	for v, want := range map[string]string{"3.5.35": "3.5", "3.6.16": "3.6", "3.4.23": "3.4", "3.7.0": "3.6", "3.3.27": "3.4", "": "", "unknown": ""} {
		if got := confMinor(v); got != want {
			t.Errorf("confMinor(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestConfValidationByVersion: each version takes its own spellings and
// refuses another's, naming both versions and, for a setting 3.6
// renamed, what it is called in the version checked against.
func TestConfValidationByVersion(t *testing.T) {
	for _, tc := range []struct {
		minor, name, value string
		err                string // "" accepted
	}{
		{"3.5", "ETCD_ENABLE_V2", "true", ""},
		{"3.5", "ETCD_EXPERIMENTAL_COMPACTION_BATCH_LIMIT", "1000", ""},
		{"3.5", "ETCD_V2_DEPRECATION", "not-yet", ""},
		{"3.5", "ETCD_FEATURE_GATES", "StopGRPCServiceOnDefrag=true", "not a setting etcd 3.5 knows (a setting of etcd 3.6)"},
		{"3.5", "ETCD_COMPACTION_BATCH_LIMIT", "1000", "etcd 3.5 calls it ETCD_EXPERIMENTAL_COMPACTION_BATCH_LIMIT"},
		{"3.5", "ETCD_LOG_PACKAGE_LEVELS", "etcdserver=DEBUG", "not a setting etcd 3.5 knows (a setting of etcd 3.4)"},
		{"3.6", "ETCD_EXPERIMENTAL_COMPACTION_BATCH_LIMIT", "1000", ""},
		{"3.6", "ETCD_COMPACTION_BATCH_LIMIT", "1000", ""},
		{"3.6", "ETCD_ENABLE_V2", "true", "not a setting etcd 3.6 knows (a setting of etcd 3.4 and 3.5)"},
		{"3.6", "ETCD_PROXY", "on", "a setting of etcd 3.4 and 3.5"},
		{"3.4", "ETCD_LOG_PACKAGE_LEVELS", "etcdserver=DEBUG", ""},
		{"3.4", "ETCD_DEBUG", "true", ""},
		{"3.4", "ETCD_TLS_MIN_VERSION", "TLS1.2", "not a setting etcd 3.4 knows (a setting of etcd 3.5 and 3.6)"},
		{"3.4", "ETCD_ENABLE_V2", "yes", "expected true or false"},
		{"", "ETCD_ENABLE_V2", "true", ""},
		{"", "ETCD_FEATURE_GATES", "StopGRPCServiceOnDefrag=true", ""},
		{"", "ETCD_ENABLE_V3", "true", "not a setting etcd knows: did you mean ETCD_ENABLE_V2?"},
		{"3.6", "ETCD_INITAL_CLUSTER_TOKEN", "x", "not a setting etcd 3.6 knows: did you mean ETCD_INITIAL_CLUSTER_TOKEN?"},
	} {
		c := goodConf()
		c[tc.name] = tc.value
		err := c.validate(tc.minor)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s=%s for etcd %q: %v", tc.name, tc.value, tc.minor, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s=%s for etcd %q: %v; want an error saying %q", tc.name, tc.value, tc.minor, err, tc.err)
		}
	}
}

// etcdFlagNames are the flags etcd --help lists, as ETCD_* names, with
// the few it takes without listing them.
func etcdFlagNames(t *testing.T, bin string, hidden ...string) []string {
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("%s --help: %v", bin, err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		names = append(names, settingName(m[1]))
	}
	for _, h := range hidden {
		names = append(names, settingName(h))
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// TestSettingsOfOlderEtcd keeps the 3.5 table equal to the flags of the
// 3.5 build the upgrade tests use (make etcd-prev; ETCDPLAY_ETCD_PREV_DIR),
// as TestKnownSettingsMatchEtcd keeps 3.6's equal to the pinned etcd's.
func TestSettingsOfOlderEtcd(t *testing.T) {
	dir := labtest.FindEtcdPrev()
	if dir == "" {
		t.Skip("no etcd 3.5 build: make etcd-prev builds one")
	}
	got := etcdFlagNames(t, filepath.Join(dir, "etcd"), "config-file", "version", "experimental-snapshot-catchup-entries")
	want := settingNames("3.5")
	sort.Strings(want)
	for _, n := range got {
		if !slices.Contains(want, n) {
			t.Errorf("%s: etcd 3.5 has it, the 3.5 settings do not", n)
		}
	}
	for _, n := range want {
		if !slices.Contains(got, n) {
			t.Errorf("%s: in the 3.5 settings, not a flag of %s", n, filepath.Join(dir, "etcd"))
		}
	}
}
