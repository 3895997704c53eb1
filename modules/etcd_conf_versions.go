package modules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etcdplay/etcdplay/etcd"
	"github.com/etcdplay/etcdplay/inventory/suggest"
)

// confMinors are the etcd minor versions whose settings render_conf
// knows, oldest first; etcdSettings is the newest's.
var confMinors = []string{"3.4", "3.5", "3.6"}

// settingsSince are the settings of etcdSettings that older etcd does
// not know, with the minor that brought them; every other one etcd 3.4
// has too. Taken from etcd --help of 3.4.23, 3.5.35 and 3.6.16
// (TestSettingsOfOlderEtcd checks 3.5's against the cached build).
var settingsSince = map[string]string{
	"ETCD_BACKEND_BBOLT_FREELIST_TYPE":                       "3.5",
	"ETCD_CLIENT_CERT_FILE":                                  "3.5",
	"ETCD_CLIENT_KEY_FILE":                                   "3.5",
	"ETCD_ENABLE_GRPC_GATEWAY":                               "3.5",
	"ETCD_ENABLE_LOG_ROTATION":                               "3.5",
	"ETCD_EXPERIMENTAL_BOOTSTRAP_DEFRAG_THRESHOLD_MEGABYTES": "3.5",
	"ETCD_EXPERIMENTAL_COMPACTION_SLEEP_INTERVAL":            "3.5",
	"ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_ENABLED":           "3.5",
	"ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_TIME":              "3.5",
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_ADDRESS":          "3.5",
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_INSTANCE_ID":      "3.5",
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_SAMPLING_RATE":    "3.5",
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_SERVICE_NAME":     "3.5",
	"ETCD_EXPERIMENTAL_DOWNGRADE_CHECK_TIME":                 "3.5",
	"ETCD_EXPERIMENTAL_ENABLE_DISTRIBUTED_TRACING":           "3.5",
	"ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT_PERSIST":      "3.5",
	"ETCD_EXPERIMENTAL_MEMORY_MLOCK":                         "3.5",
	"ETCD_EXPERIMENTAL_SNAPSHOT_CATCHUP_ENTRIES":             "3.5",
	"ETCD_EXPERIMENTAL_STOP_GRPC_SERVICE_ON_DEFRAG":          "3.5",
	"ETCD_EXPERIMENTAL_TXN_MODE_WRITE_WITH_SHARED_BUFFER":    "3.5",
	"ETCD_LISTEN_CLIENT_HTTP_URLS":                           "3.5",
	"ETCD_LOG_ROTATION_CONFIG_JSON":                          "3.5",
	"ETCD_PEER_CLIENT_CERT_FILE":                             "3.5",
	"ETCD_PEER_CLIENT_KEY_FILE":                              "3.5",
	"ETCD_RAFT_READ_TIMEOUT":                                 "3.5",
	"ETCD_RAFT_WRITE_TIMEOUT":                                "3.5",
	"ETCD_SELF_SIGNED_CERT_VALIDITY":                         "3.5",
	"ETCD_SOCKET_REUSE_ADDRESS":                              "3.5",
	"ETCD_SOCKET_REUSE_PORT":                                 "3.5",
	"ETCD_TLS_MAX_VERSION":                                   "3.5",
	"ETCD_TLS_MIN_VERSION":                                   "3.5",
	"ETCD_UNSAFE_NO_FSYNC":                                   "3.5",
	"ETCD_V2_DEPRECATION":                                    "3.5",

	"ETCD_BOOTSTRAP_DEFRAG_THRESHOLD_MEGABYTES":        "3.6",
	"ETCD_COMPACTION_BATCH_LIMIT":                      "3.6",
	"ETCD_COMPACTION_SLEEP_INTERVAL":                   "3.6",
	"ETCD_COMPACT_HASH_CHECK_TIME":                     "3.6",
	"ETCD_CORRUPT_CHECK_TIME":                          "3.6",
	"ETCD_DISCOVERY_CACERT":                            "3.6",
	"ETCD_DISCOVERY_CERT":                              "3.6",
	"ETCD_DISCOVERY_DIAL_TIMEOUT":                      "3.6",
	"ETCD_DISCOVERY_ENDPOINTS":                         "3.6",
	"ETCD_DISCOVERY_INSECURE_SKIP_TLS_VERIFY":          "3.6",
	"ETCD_DISCOVERY_INSECURE_TRANSPORT":                "3.6",
	"ETCD_DISCOVERY_KEEPALIVE_TIME":                    "3.6",
	"ETCD_DISCOVERY_KEEPALIVE_TIMEOUT":                 "3.6",
	"ETCD_DISCOVERY_KEY":                               "3.6",
	"ETCD_DISCOVERY_PASSWORD":                          "3.6",
	"ETCD_DISCOVERY_REQUEST_TIMEOUT":                   "3.6",
	"ETCD_DISCOVERY_TOKEN":                             "3.6",
	"ETCD_DISCOVERY_USER":                              "3.6",
	"ETCD_DISTRIBUTED_TRACING_ADDRESS":                 "3.6",
	"ETCD_DISTRIBUTED_TRACING_INSTANCE_ID":             "3.6",
	"ETCD_DISTRIBUTED_TRACING_SAMPLING_RATE":           "3.6",
	"ETCD_DISTRIBUTED_TRACING_SERVICE_NAME":            "3.6",
	"ETCD_DOWNGRADE_CHECK_TIME":                        "3.6",
	"ETCD_ENABLE_DISTRIBUTED_TRACING":                  "3.6",
	"ETCD_EXPERIMENTAL_WARNING_UNARY_REQUEST_DURATION": "3.6",
	"ETCD_FEATURE_GATES":                               "3.6",
	"ETCD_LOG_FORMAT":                                  "3.6",
	"ETCD_MAX_LEARNERS":                                "3.6",
	"ETCD_MEMORY_MLOCK":                                "3.6",
	"ETCD_PEER_SKIP_CLIENT_SAN_VERIFICATION":           "3.6",
	"ETCD_SNAPSHOT_CATCHUP_ENTRIES":                    "3.6",
	"ETCD_WARNING_APPLY_DURATION":                      "3.6",
	"ETCD_WARNING_UNARY_REQUEST_DURATION":              "3.6",
	"ETCD_WATCH_PROGRESS_NOTIFY_INTERVAL":              "3.6",
}

// oldSetting is a setting etcd 3.6 no longer has, and the minors that
// have it.
type oldSetting struct {
	etcdSetting
	minors []string
}

// olderSettings are the settings of etcd 3.4 and 3.5 that 3.6 dropped:
// the v2 API and its proxy, and 3.4's logging switches.
var olderSettings = map[string]oldSetting{
	"ETCD_ENABLE_V2":                {etcdSetting{kindBool, "enable-v2"}, []string{"3.4", "3.5"}},
	"ETCD_EXPERIMENTAL_ENABLE_V2V3": {etcdSetting{kindString, "experimental-enable-v2v3"}, []string{"3.4", "3.5"}},
	"ETCD_PROXY":                    {etcdSetting{kindString, "proxy"}, []string{"3.4", "3.5"}},
	"ETCD_PROXY_DIAL_TIMEOUT":       {etcdSetting{kindInt, "proxy-dial-timeout"}, []string{"3.4", "3.5"}},
	"ETCD_PROXY_FAILURE_WAIT":       {etcdSetting{kindInt, "proxy-failure-wait"}, []string{"3.4", "3.5"}},
	"ETCD_PROXY_READ_TIMEOUT":       {etcdSetting{kindInt, "proxy-read-timeout"}, []string{"3.4", "3.5"}},
	"ETCD_PROXY_REFRESH_INTERVAL":   {etcdSetting{kindInt, "proxy-refresh-interval"}, []string{"3.4", "3.5"}},
	"ETCD_PROXY_WRITE_TIMEOUT":      {etcdSetting{kindInt, "proxy-write-timeout"}, []string{"3.4", "3.5"}},

	"ETCD_DEBUG": {etcdSetting{kindBool, "debug"}, []string{"3.4"}},
	"ETCD_EXPERIMENTAL_BACKEND_BBOLT_FREELIST_TYPE": {etcdSetting{kindString, "experimental-backend-bbolt-freelist-type"}, []string{"3.4"}},
	"ETCD_LOG_PACKAGE_LEVELS":                       {etcdSetting{kindString, "log-package-levels"}, []string{"3.4"}},
}

// confMinor is the minor whose settings apply to etcd of version v
// ("3.5.35"): its own when known, else the nearest known (a newer etcd
// is checked as the newest known, an older as the oldest); "" when v is
// "" or no version: every known setting of any minor is accepted then.
func confMinor(v string) string {
	pv, ok := etcd.ParseVersion(v)
	if !ok {
		return ""
	}
	if m := pv.MinorString(); slices.Contains(confMinors, m) {
		return m
	}
	if oldest, _ := etcd.ParseVersion(confMinors[0]); pv.Compare(oldest) < 0 {
		return confMinors[0]
	}
	return confMinors[len(confMinors)-1]
}

// settingOf is the setting called name in etcd of minor ("3.5"; "" for
// any known minor).
func settingOf(name, minor string) (etcdSetting, bool) {
	if s, ok := etcdSettings[name]; ok {
		if since, newer := settingsSince[name]; newer && minor != "" && minorLess(minor, since) {
			return etcdSetting{}, false
		}
		return s, true
	}
	if s, ok := olderSettings[name]; ok && (minor == "" || slices.Contains(s.minors, minor)) {
		return s.etcdSetting, true
	}
	return etcdSetting{}, false
}

func minorLess(a, b string) bool {
	va, _ := etcd.ParseVersion(a)
	vb, _ := etcd.ParseVersion(b)
	return va.Compare(vb) < 0
}

// settingNames are the names etcd of minor knows ("" for any minor).
func settingNames(minor string) []string {
	var names []string
	for n := range etcdSettings {
		if _, ok := settingOf(n, minor); ok {
			names = append(names, n)
		}
	}
	for n := range olderSettings {
		if _, ok := settingOf(n, minor); ok {
			names = append(names, n)
		}
	}
	return names
}

// minorsOf are the known minors that have the setting name.
func minorsOf(name string) []string {
	var in []string
	for _, m := range confMinors {
		if _, ok := settingOf(name, m); ok {
			in = append(in, m)
		}
	}
	return in
}

// unknownSetting says why etcd of minor does not take name: another
// version's setting (and its spelling in this one, when it was renamed),
// or a misspelling with the closest name it knows.
func unknownSetting(name, minor string) string {
	etcdV := "etcd"
	if minor != "" {
		etcdV = "etcd " + minor
	}
	if in := minorsOf(name); len(in) > 0 {
		msg := fmt.Sprintf("not a setting %s knows (a setting of etcd %s)", etcdV, strings.Join(in, " and "))
		// 3.6 took the experimental- prefix off settings it promoted.
		rest := strings.TrimPrefix(name, "ETCD_")
		for _, other := range []string{"ETCD_EXPERIMENTAL_" + rest, "ETCD_" + strings.TrimPrefix(rest, "EXPERIMENTAL_")} {
			if other == name {
				continue
			}
			if _, ok := settingOf(other, minor); ok {
				msg += fmt.Sprintf(": %s calls it %s", etcdV, other)
				break
			}
		}
		return msg
	}
	if hint := suggest.Closest(name, settingNames(minor)); hint != "" {
		return fmt.Sprintf("not a setting %s knows: did you mean %s?", etcdV, hint)
	}
	return fmt.Sprintf("not a setting %s knows (etcd only warns about it in its log and goes on without it)", etcdV)
}
