package modules

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
)

// settingKind is the type of value an etcd setting takes.
type settingKind int

const (
	kindString settingKind = iota
	kindBool
	kindInt
	kindDuration
	kindURLs
	kindList
)

func (k settingKind) goName() string {
	return [...]string{"kindString", "kindBool", "kindInt", "kindDuration", "kindURLs", "kindList"}[k]
}

// etcdSetting is one setting etcd reads from its environment (ETCD_NAME) or
// flags (--name).
type etcdSetting struct {
	kind settingKind
	// yaml is the setting's key in the --config-file form ("a.b" for a
	// key in a section), "" when the file form has none.
	yaml string
}

// etcdSettings are the settings of etcd v3.6, generated from its flags by
// TestKnownSettingsMatchEtcd.
var etcdSettings = map[string]etcdSetting{
	"ETCD_ADVERTISE_CLIENT_URLS":                             {kindURLs, "advertise-client-urls"},
	"ETCD_AUTH_TOKEN":                                        {kindString, "auth-token"},
	"ETCD_AUTH_TOKEN_TTL":                                    {kindInt, "auth-token-ttl"},
	"ETCD_AUTO_COMPACTION_MODE":                              {kindString, "auto-compaction-mode"},
	"ETCD_AUTO_COMPACTION_RETENTION":                         {kindString, "auto-compaction-retention"},
	"ETCD_AUTO_TLS":                                          {kindBool, "client-transport-security.auto-tls"},
	"ETCD_BACKEND_BATCH_INTERVAL":                            {kindDuration, "backend-batch-interval"},
	"ETCD_BACKEND_BATCH_LIMIT":                               {kindInt, "backend-batch-limit"},
	"ETCD_BACKEND_BBOLT_FREELIST_TYPE":                       {kindString, "backend-bbolt-freelist-type"},
	"ETCD_BCRYPT_COST":                                       {kindInt, "bcrypt-cost"},
	"ETCD_BOOTSTRAP_DEFRAG_THRESHOLD_MEGABYTES":              {kindInt, "bootstrap-defrag-threshold-megabytes"},
	"ETCD_CERT_FILE":                                         {kindString, "client-transport-security.cert-file"},
	"ETCD_CIPHER_SUITES":                                     {kindList, "cipher-suites"},
	"ETCD_CLIENT_CERT_ALLOWED_HOSTNAME":                      {kindList, "client-transport-security.allowed-hostname"},
	"ETCD_CLIENT_CERT_AUTH":                                  {kindBool, "client-transport-security.client-cert-auth"},
	"ETCD_CLIENT_CERT_FILE":                                  {kindString, "client-transport-security.client-cert-file"},
	"ETCD_CLIENT_CRL_FILE":                                   {kindString, ""},
	"ETCD_CLIENT_KEY_FILE":                                   {kindString, "client-transport-security.client-key-file"},
	"ETCD_COMPACTION_BATCH_LIMIT":                            {kindInt, "compaction-batch-limit"},
	"ETCD_COMPACTION_SLEEP_INTERVAL":                         {kindDuration, "compaction-sleep-interval"},
	"ETCD_COMPACT_HASH_CHECK_TIME":                           {kindDuration, "compact-hash-check-time"},
	"ETCD_CONFIG_FILE":                                       {kindString, ""},
	"ETCD_CORRUPT_CHECK_TIME":                                {kindDuration, "corrupt-check-time"},
	"ETCD_CORS":                                              {kindList, "cors"},
	"ETCD_DATA_DIR":                                          {kindString, "data-dir"},
	"ETCD_DISCOVERY":                                         {kindString, "discovery"},
	"ETCD_DISCOVERY_CACERT":                                  {kindString, ""},
	"ETCD_DISCOVERY_CERT":                                    {kindString, ""},
	"ETCD_DISCOVERY_DIAL_TIMEOUT":                            {kindDuration, ""},
	"ETCD_DISCOVERY_ENDPOINTS":                               {kindList, ""},
	"ETCD_DISCOVERY_FALLBACK":                                {kindString, ""},
	"ETCD_DISCOVERY_INSECURE_SKIP_TLS_VERIFY":                {kindBool, ""},
	"ETCD_DISCOVERY_INSECURE_TRANSPORT":                      {kindBool, ""},
	"ETCD_DISCOVERY_KEEPALIVE_TIME":                          {kindDuration, ""},
	"ETCD_DISCOVERY_KEEPALIVE_TIMEOUT":                       {kindDuration, ""},
	"ETCD_DISCOVERY_KEY":                                     {kindString, ""},
	"ETCD_DISCOVERY_PASSWORD":                                {kindString, ""},
	"ETCD_DISCOVERY_PROXY":                                   {kindString, "discovery-proxy"},
	"ETCD_DISCOVERY_REQUEST_TIMEOUT":                         {kindDuration, ""},
	"ETCD_DISCOVERY_SRV":                                     {kindString, "discovery-srv"},
	"ETCD_DISCOVERY_SRV_NAME":                                {kindString, "discovery-srv-name"},
	"ETCD_DISCOVERY_TOKEN":                                   {kindString, ""},
	"ETCD_DISCOVERY_USER":                                    {kindString, ""},
	"ETCD_DISTRIBUTED_TRACING_ADDRESS":                       {kindString, "distributed-tracing-address"},
	"ETCD_DISTRIBUTED_TRACING_INSTANCE_ID":                   {kindString, "distributed-tracing-instance-id"},
	"ETCD_DISTRIBUTED_TRACING_SAMPLING_RATE":                 {kindInt, "distributed-tracing-sampling-rate"},
	"ETCD_DISTRIBUTED_TRACING_SERVICE_NAME":                  {kindString, "distributed-tracing-service-name"},
	"ETCD_DOWNGRADE_CHECK_TIME":                              {kindDuration, "downgrade-check-time"},
	"ETCD_ELECTION_TIMEOUT":                                  {kindInt, "election-timeout"},
	"ETCD_ENABLE_DISTRIBUTED_TRACING":                        {kindBool, "enable-distributed-tracing"},
	"ETCD_ENABLE_GRPC_GATEWAY":                               {kindBool, "enable-grpc-gateway"},
	"ETCD_ENABLE_LOG_ROTATION":                               {kindBool, "enable-log-rotation"},
	"ETCD_ENABLE_PPROF":                                      {kindBool, "enable-pprof"},
	"ETCD_EXPERIMENTAL_BOOTSTRAP_DEFRAG_THRESHOLD_MEGABYTES": {kindInt, "experimental-bootstrap-defrag-threshold-megabytes"},
	"ETCD_EXPERIMENTAL_COMPACTION_BATCH_LIMIT":               {kindInt, "experimental-compaction-batch-limit"},
	"ETCD_EXPERIMENTAL_COMPACTION_SLEEP_INTERVAL":            {kindDuration, "experimental-compaction-sleep-interval"},
	"ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_ENABLED":           {kindBool, "experimental-compact-hash-check-enabled"},
	"ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_TIME":              {kindDuration, "experimental-compact-hash-check-time"},
	"ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME":                   {kindDuration, "experimental-corrupt-check-time"},
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_ADDRESS":          {kindString, "experimental-distributed-tracing-address"},
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_INSTANCE_ID":      {kindString, "experimental-distributed-tracing-instance-id"},
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_SAMPLING_RATE":    {kindInt, "experimental-distributed-tracing-sampling-rate"},
	"ETCD_EXPERIMENTAL_DISTRIBUTED_TRACING_SERVICE_NAME":     {kindString, "experimental-distributed-tracing-service-name"},
	"ETCD_EXPERIMENTAL_DOWNGRADE_CHECK_TIME":                 {kindDuration, "experimental-downgrade-check-time"},
	"ETCD_EXPERIMENTAL_ENABLE_DISTRIBUTED_TRACING":           {kindBool, "experimental-enable-distributed-tracing"},
	"ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT":              {kindBool, "experimental-enable-lease-checkpoint"},
	"ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT_PERSIST":      {kindBool, "experimental-enable-lease-checkpoint-persist"},
	"ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK":                {kindBool, "experimental-initial-corrupt-check"},
	"ETCD_EXPERIMENTAL_MEMORY_MLOCK":                         {kindBool, "experimental-memory-mlock"},
	"ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION":    {kindBool, "experimental-peer-skip-client-san-verification"},
	"ETCD_EXPERIMENTAL_SNAPSHOT_CATCHUP_ENTRIES":             {kindInt, ""},
	"ETCD_EXPERIMENTAL_STOP_GRPC_SERVICE_ON_DEFRAG":          {kindBool, "experimental-stop-grpc-service-on-defrag"},
	"ETCD_EXPERIMENTAL_TXN_MODE_WRITE_WITH_SHARED_BUFFER":    {kindBool, "experimental-txn-mode-write-with-shared-buffer"},
	"ETCD_EXPERIMENTAL_WARNING_APPLY_DURATION":               {kindDuration, "experimental-warning-apply-duration"},
	"ETCD_EXPERIMENTAL_WARNING_UNARY_REQUEST_DURATION":       {kindDuration, "experimental-warning-unary-request-duration"},
	"ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL":       {kindDuration, "experimental-watch-progress-notify-interval"},
	"ETCD_FEATURE_GATES":                                     {kindString, "feature-gates"},
	"ETCD_FORCE_NEW_CLUSTER":                                 {kindBool, "force-new-cluster"},
	"ETCD_GRPC_KEEPALIVE_INTERVAL":                           {kindDuration, "grpc-keepalive-interval"},
	"ETCD_GRPC_KEEPALIVE_MIN_TIME":                           {kindDuration, "grpc-keepalive-min-time"},
	"ETCD_GRPC_KEEPALIVE_TIMEOUT":                            {kindDuration, "grpc-keepalive-timeout"},
	"ETCD_HEARTBEAT_INTERVAL":                                {kindInt, "heartbeat-interval"},
	"ETCD_HOST_WHITELIST":                                    {kindList, "host-whitelist"},
	"ETCD_INITIAL_ADVERTISE_PEER_URLS":                       {kindURLs, "initial-advertise-peer-urls"},
	"ETCD_INITIAL_CLUSTER":                                   {kindString, "initial-cluster"},
	"ETCD_INITIAL_CLUSTER_STATE":                             {kindString, "initial-cluster-state"},
	"ETCD_INITIAL_CLUSTER_TOKEN":                             {kindString, "initial-cluster-token"},
	"ETCD_INITIAL_ELECTION_TICK_ADVANCE":                     {kindBool, "initial-election-tick-advance"},
	"ETCD_KEY_FILE":                                          {kindString, "client-transport-security.key-file"},
	"ETCD_LISTEN_CLIENT_HTTP_URLS":                           {kindURLs, "listen-client-http-urls"},
	"ETCD_LISTEN_CLIENT_URLS":                                {kindURLs, "listen-client-urls"},
	"ETCD_LISTEN_METRICS_URLS":                               {kindURLs, "listen-metrics-urls"},
	"ETCD_LISTEN_PEER_URLS":                                  {kindURLs, "listen-peer-urls"},
	"ETCD_LOGGER":                                            {kindString, "logger"},
	"ETCD_LOG_FORMAT":                                        {kindString, "log-format"},
	"ETCD_LOG_LEVEL":                                         {kindString, "log-level"},
	"ETCD_LOG_OUTPUTS":                                       {kindList, "log-outputs"},
	"ETCD_LOG_ROTATION_CONFIG_JSON":                          {kindString, "log-rotation-config-json"},
	"ETCD_MAX_CONCURRENT_STREAMS":                            {kindInt, "max-concurrent-streams"},
	"ETCD_MAX_LEARNERS":                                      {kindInt, "max-learners"},
	"ETCD_MAX_REQUEST_BYTES":                                 {kindInt, "max-request-bytes"},
	"ETCD_MAX_SNAPSHOTS":                                     {kindInt, "max-snapshots"},
	"ETCD_MAX_TXN_OPS":                                       {kindInt, "max-txn-ops"},
	"ETCD_MAX_WALS":                                          {kindInt, "max-wals"},
	"ETCD_MEMORY_MLOCK":                                      {kindBool, "memory-mlock"},
	"ETCD_METRICS":                                           {kindString, "metrics"},
	"ETCD_NAME":                                              {kindString, "name"},
	"ETCD_PEER_AUTO_TLS":                                     {kindBool, "peer-transport-security.auto-tls"},
	"ETCD_PEER_CERT_ALLOWED_CN":                              {kindList, "peer-transport-security.allowed-cn"},
	"ETCD_PEER_CERT_ALLOWED_HOSTNAME":                        {kindList, "peer-transport-security.allowed-hostname"},
	"ETCD_PEER_CERT_FILE":                                    {kindString, "peer-transport-security.cert-file"},
	"ETCD_PEER_CLIENT_CERT_AUTH":                             {kindBool, "peer-transport-security.client-cert-auth"},
	"ETCD_PEER_CLIENT_CERT_FILE":                             {kindString, "peer-transport-security.client-cert-file"},
	"ETCD_PEER_CLIENT_KEY_FILE":                              {kindString, "peer-transport-security.client-key-file"},
	"ETCD_PEER_CRL_FILE":                                     {kindString, ""},
	"ETCD_PEER_KEY_FILE":                                     {kindString, "peer-transport-security.key-file"},
	"ETCD_PEER_SKIP_CLIENT_SAN_VERIFICATION":                 {kindBool, "peer-transport-security.skip-client-san-verification"},
	"ETCD_PEER_TRUSTED_CA_FILE":                              {kindString, "peer-transport-security.trusted-ca-file"},
	"ETCD_PRE_VOTE":                                          {kindBool, "pre-vote"},
	"ETCD_QUOTA_BACKEND_BYTES":                               {kindInt, "quota-backend-bytes"},
	"ETCD_RAFT_READ_TIMEOUT":                                 {kindDuration, ""},
	"ETCD_RAFT_WRITE_TIMEOUT":                                {kindDuration, ""},
	"ETCD_SELF_SIGNED_CERT_VALIDITY":                         {kindInt, "self-signed-cert-validity"},
	"ETCD_SNAPSHOT_CATCHUP_ENTRIES":                          {kindInt, "snapshot-catchup-entries"},
	"ETCD_SNAPSHOT_COUNT":                                    {kindInt, "snapshot-count"},
	"ETCD_SOCKET_REUSE_ADDRESS":                              {kindBool, ""},
	"ETCD_SOCKET_REUSE_PORT":                                 {kindBool, ""},
	"ETCD_STRICT_RECONFIG_CHECK":                             {kindBool, "strict-reconfig-check"},
	"ETCD_TLS_MAX_VERSION":                                   {kindString, "tls-max-version"},
	"ETCD_TLS_MIN_VERSION":                                   {kindString, "tls-min-version"},
	"ETCD_TRUSTED_CA_FILE":                                   {kindString, "client-transport-security.trusted-ca-file"},
	"ETCD_UNSAFE_NO_FSYNC":                                   {kindBool, "unsafe-no-fsync"},
	"ETCD_V2_DEPRECATION":                                    {kindString, ""},
	"ETCD_VERSION":                                           {kindBool, ""},
	"ETCD_WAL_DIR":                                           {kindString, "wal-dir"},
	"ETCD_WARNING_APPLY_DURATION":                            {kindDuration, "warning-apply-duration"},
	"ETCD_WARNING_UNARY_REQUEST_DURATION":                    {kindDuration, "warning-unary-request-duration"},
	"ETCD_WATCH_PROGRESS_NOTIFY_INTERVAL":                    {kindDuration, "watch-progress-notify-interval"},
}

// confOrder puts the settings an operator looks for first at the top of a
// rendered file; the rest follow in alphabetical order.
var confOrder = []string{
	"ETCD_NAME", "ETCD_DATA_DIR", "ETCD_WAL_DIR",
	"ETCD_LISTEN_PEER_URLS", "ETCD_INITIAL_ADVERTISE_PEER_URLS",
	"ETCD_LISTEN_CLIENT_URLS", "ETCD_ADVERTISE_CLIENT_URLS",
	"ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_TOKEN", "ETCD_INITIAL_CLUSTER_STATE",
}

// etcdConf is an etcd configuration: ETCD_* names and their values as etcd
// reads them from its environment (the flag syntax: "true", "100",
// "1s", comma-separated URLs and lists).
type etcdConf map[string]string

// settingName turns what a playbook writes into the ETCD_* name: ETCD_NAME
// stays, "name" and "initial-cluster" (etcd's flag names) become
// ETCD_NAME and ETCD_INITIAL_CLUSTER.
func settingName(k string) string {
	if strings.HasPrefix(k, "ETCD_") {
		return k
	}
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(k, "--"), "-", "_"))
}

// sortedKeys returns the names of c in rendering order.
func (c etcdConf) sortedKeys() []string {
	var first, rest []string
	for _, k := range confOrder {
		if _, ok := c[k]; ok {
			first = append(first, k)
		}
	}
	for k := range c {
		if !slices.Contains(confOrder, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(first, rest...)
}

// confError is one thing wrong with an etcd configuration.
type confError struct {
	Name string // ETCD_* setting, "" for the whole configuration
	Msg  string
}

func (e confError) Error() string {
	if e.Name == "" {
		return e.Msg
	}
	return e.Name + ": " + e.Msg
}

// confErrors are every problem found, reported together so one run shows
// them all.
type confErrors []confError

func (es confErrors) Error() string {
	var b strings.Builder
	if len(es) > 1 {
		fmt.Fprintf(&b, "%d problems in the etcd configuration:", len(es))
		for _, e := range es {
			b.WriteString("\n  ")
			b.WriteString(e.Error())
		}
		return b.String()
	}
	return es[0].Error()
}

// validate checks c as etcd of minor version minor ("3.5"; "" for any
// version render_conf knows) would when it starts, and the mistakes etcd
// would not catch (a misspelt setting is only a warning in etcd's log).
// It returns confErrors, or nil.
func (c etcdConf) validate(minor string) error {
	var errs confErrors
	add := func(name, format string, args ...any) {
		errs = append(errs, confError{Name: name, Msg: fmt.Sprintf(format, args...)})
	}
	for _, k := range c.sortedKeys() {
		v := c[k]
		s, ok := settingOf(k, minor)
		if !ok {
			add(k, "%s", unknownSetting(k, minor))
			continue
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			add(k, "value contains a newline or NUL byte, which an environment file cannot hold: %q", v)
			continue
		}
		switch k {
		case "ETCD_CONFIG_FILE":
			add(k, "with a config file etcd ignores every other ETCD_* setting; render the config file itself instead (format=\"yaml\")")
			continue
		case "ETCD_VERSION":
			add(k, "makes etcd print its version and exit instead of serving")
			continue
		case "ETCD_FORCE_NEW_CLUSTER":
			if b, _ := strconv.ParseBool(v); b {
				add(k, "rewrites the membership to a single member on every start; it is a disaster-recovery switch for one start, never a configuration to keep")
				continue
			}
		}
		if msg := checkValue(s.kind, v); msg != "" {
			add(k, "%s", msg)
		}
	}
	if st, ok := c["ETCD_INITIAL_CLUSTER_STATE"]; ok && st != "new" && st != "existing" {
		add("ETCD_INITIAL_CLUSTER_STATE", "is %q: expected \"new\" (bootstrapping the cluster) or \"existing\" (joining a running cluster)", st)
	}
	for _, k := range []string{"ETCD_LISTEN_PEER_URLS", "ETCD_LISTEN_CLIENT_URLS", "ETCD_LISTEN_CLIENT_HTTP_URLS", "ETCD_LISTEN_METRICS_URLS"} {
		for _, u := range splitList(c[k]) {
			if msg := checkBindURL(u); msg != "" {
				add(k, "%s", msg)
			}
		}
	}
	for _, k := range []string{"ETCD_INITIAL_ADVERTISE_PEER_URLS", "ETCD_ADVERTISE_CLIENT_URLS"} {
		for _, u := range splitList(c[k]) {
			if msg := checkAdvertiseURL(u); msg != "" {
				add(k, "%s", msg)
			}
		}
	}
	if _, ok := c["ETCD_LISTEN_CLIENT_URLS"]; ok {
		if _, ok := c["ETCD_ADVERTISE_CLIENT_URLS"]; !ok {
			add("ETCD_ADVERTISE_CLIENT_URLS", "missing: etcd requires it when ETCD_LISTEN_CLIENT_URLS is set (the client URLs other members and clients are told)")
		}
	}
	if ic, ok := c["ETCD_INITIAL_CLUSTER"]; ok {
		errs = append(errs, c.checkInitialCluster(ic)...)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkInitialCluster checks ETCD_INITIAL_CLUSTER: NAME=URL pairs, this
// member's name among them with exactly its advertised peer URLs, and no
// peer URL used twice.
func (c etcdConf) checkInitialCluster(ic string) confErrors {
	const k = "ETCD_INITIAL_CLUSTER"
	var errs confErrors
	add := func(format string, args ...any) {
		errs = append(errs, confError{Name: k, Msg: fmt.Sprintf(format, args...)})
	}
	byName := map[string][]string{}
	owner := map[string]string{}
	for _, pair := range splitList(ic) {
		name, u, ok := strings.Cut(pair, "=")
		if !ok || name == "" || u == "" {
			add("%q is not NAME=PEER_URL (expected e.g. etcd-1=http://10.0.0.1:2380,etcd-2=http://10.0.0.2:2380)", pair)
			continue
		}
		if msg := etcd.CheckURL(u); msg != "" {
			add("member %s: %s", name, msg)
			continue
		}
		if prev, dup := owner[u]; dup {
			add("peer URL %s is given for both %s and %s: every member needs its own", u, prev, name)
		}
		owner[u] = name
		byName[name] = append(byName[name], u)
	}
	if len(errs) > 0 {
		return errs
	}
	name, ok := c["ETCD_NAME"]
	if !ok {
		return append(errs, confError{Name: "ETCD_NAME", Msg: "missing: with ETCD_INITIAL_CLUSTER set, etcd looks this member up by its name (etcd's default name \"default\" is never what a cluster wants)"})
	}
	mine, ok := byName[name]
	if !ok {
		names := slices.Sorted(maps.Keys(byName))
		add("does not list this member's name %q (it lists %s); etcd would stop with \"couldn't find local name\"", name, strings.Join(names, ", "))
		return errs
	}
	adv, ok := c["ETCD_INITIAL_ADVERTISE_PEER_URLS"]
	if !ok {
		adv = "http://localhost:2380" // etcd's default
	}
	want := splitList(adv)
	slices.Sort(want)
	got := slices.Clone(mine)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		add("gives %s=%s but ETCD_INITIAL_ADVERTISE_PEER_URLS is %s: they must be the same URLs, or etcd refuses to start (\"--initial-cluster has ... but missing from --initial-advertise-peer-urls\")",
			name, strings.Join(mine, ","), adv)
	}
	return errs
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkValue checks a value against its kind as etcd's flag parsing
// would, and says what was expected.
func checkValue(kind settingKind, v string) string {
	switch kind {
	case kindBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Sprintf("is %q: expected true or false", v)
		}
	case kindInt:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				return fmt.Sprintf("is %q: expected a whole number", v)
			}
		}
	case kindDuration:
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Sprintf("is %q: expected a duration such as 500ms, 10s or 2h", v)
		}
	case kindURLs:
		if len(splitList(v)) == 0 {
			return "is empty: expected one or more URLs, comma-separated"
		}
		for _, u := range splitList(v) {
			if msg := etcd.CheckURL(u); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// checkBindURL checks a listen URL: etcd binds to it, so its host must be
// an IP address (or localhost).
func checkBindURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "unix" || u.Scheme == "unixs" {
		return ""
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return ""
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Sprintf("%q: a listen URL needs an IP address (etcd binds to it and does not resolve names); use the host's IP, or 0.0.0.0 for every address", s)
	}
	return ""
}

// checkAdvertiseURL checks an advertised URL: other members and clients
// dial it, so it cannot be empty or a wildcard address.
func checkAdvertiseURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "unix" || u.Scheme == "unixs" {
		return ""
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return ""
	}
	if host == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Sprintf("%q: an advertised URL is what others dial; %s is a wildcard for listening, not an address to dial", s, host)
	}
	return ""
}

// confHeader starts every rendered file.
const confHeader = "# etcd configuration, written by etcdplay render_conf: edit the playbook, not this file.\n"

// renderEnv renders c as an environment file for systemd's
// EnvironmentFile= (and for a POSIX shell's "."): one ETCD_X="value" per
// line in a stable order. Inside double quotes systemd, like the shell,
// takes \" \\ \` and \$ as the escaped character, so those four are
// escaped and everything else is literal.
func (c etcdConf) renderEnv() []byte {
	var b strings.Builder
	b.WriteString(confHeader)
	for _, k := range c.sortedKeys() {
		b.WriteString(k)
		b.WriteString(`="`)
		for _, r := range c[k] {
			if strings.ContainsRune("\"\\`$", r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteString("\"\n")
	}
	return []byte(b.String())
}

// parseEnv reads an environment file as systemd's EnvironmentFile= does,
// for the subset render_conf writes and people commonly write by hand:
// comments, blank lines, KEY=value, KEY="value" and KEY='value', an
// optional "export ". It is used to validate a rendered template and to
// read the current settings of a host.
func parseEnv(content []byte) (etcdConf, error) {
	c := etcdConf{}
	for n, line := range strings.Split(string(content), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", n+1, line)
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			var b strings.Builder
			in := v[1 : len(v)-1]
			for i := 0; i < len(in); i++ {
				if in[i] == '\\' && i+1 < len(in) && strings.IndexByte("\"\\`$", in[i+1]) >= 0 {
					i++
				}
				b.WriteByte(in[i])
			}
			v = b.String()
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		case strings.ContainsAny(v, "\"'"):
			return nil, fmt.Errorf("line %d: %s: unbalanced quotes in %s", n+1, k, v)
		}
		c[k] = v
	}
	return c, nil
}

// yamlStringList are list settings whose config-file form is one
// comma-separated string rather than a YAML list (embed's configJSON).
var yamlStringList = map[string]bool{"cors": true, "host-whitelist": true}

// renderYAML renders c as etcd's --config-file YAML. Settings without a
// config-file form are an error; so is one whose value does not parse.
func (c etcdConf) renderYAML() ([]byte, error) {
	top := map[string][]string{} // section -> lines; "" is the top level
	var sections []string
	var errs confErrors
	for _, k := range c.sortedKeys() {
		s, ok := settingOf(k, "")
		if !ok {
			continue // validate reports it
		}
		if s.yaml == "" {
			errs = append(errs, confError{Name: k, Msg: "has no config-file form in etcd; use the environment file form (format=\"env\")"})
			continue
		}
		section, key, nested := strings.Cut(s.yaml, ".")
		if !nested {
			section, key = "", s.yaml
		}
		val, err := yamlValue(s.kind, key, c[k])
		if err != nil {
			errs = append(errs, confError{Name: k, Msg: err.Error()})
			continue
		}
		if _, seen := top[section]; !seen && section != "" {
			sections = append(sections, section)
		}
		top[section] = append(top[section], key+": "+val)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var b strings.Builder
	b.WriteString(confHeader)
	for _, l := range top[""] {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for _, sec := range sections {
		b.WriteString(sec)
		b.WriteString(":\n")
		for _, l := range top[sec] {
			b.WriteString("  ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String()), nil
}

// yamlValue renders one value for the config file: booleans and numbers
// bare, durations as nanoseconds (embed.Config holds time.Duration, which
// YAML fills from an integer), lists as YAML flow lists, everything else
// as a double-quoted string (JSON quoting, which YAML reads the same).
func yamlValue(kind settingKind, key, v string) (string, error) {
	switch kind {
	case kindBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("is %q: expected true or false", v)
		}
		return strconv.FormatBool(b), nil
	case kindInt:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				return "", fmt.Errorf("is %q: expected a whole number", v)
			}
		}
		return v, nil
	case kindDuration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return "", fmt.Errorf("is %q: expected a duration such as 500ms, 10s or 2h", v)
		}
		return strconv.FormatInt(int64(d), 10), nil
	case kindList:
		if yamlStringList[key] {
			break
		}
		items := splitList(v)
		q := make([]string, len(items))
		for i, it := range items {
			q[i] = yamlQuote(it)
		}
		return "[" + strings.Join(q, ", ") + "]", nil
	}
	return yamlQuote(v), nil
}

func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
