package modules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

// goodConf is a valid configuration of the second member of three.
func goodConf() etcdConf {
	return etcdConf{
		"ETCD_NAME":                        "etcd-2",
		"ETCD_DATA_DIR":                    "/var/lib/etcd/etcd-2",
		"ETCD_LISTEN_PEER_URLS":            "http://10.77.0.12:2380",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": "http://10.77.0.12:2380",
		"ETCD_LISTEN_CLIENT_URLS":          "http://10.77.0.12:2379,http://127.0.0.1:2379",
		"ETCD_ADVERTISE_CLIENT_URLS":       "http://10.77.0.12:2379",
		"ETCD_INITIAL_CLUSTER":             "etcd-1=http://10.77.0.11:2380,etcd-2=http://10.77.0.12:2380,etcd-3=http://10.77.0.13:2380",
		"ETCD_INITIAL_CLUSTER_TOKEN":       "etcd-cluster-1",
		"ETCD_INITIAL_CLUSTER_STATE":       "new",
	}
}

func TestConfValidation(t *testing.T) {
	if err := goodConf().validate("3.6"); err != nil {
		t.Fatalf("good configuration: %v", err)
	}
	for _, tc := range []struct {
		name  string
		set   map[string]string // "" deletes
		field string
		msg   string // substring
	}{
		{"typo with suggestion", map[string]string{"ETCD_INITAL_CLUSTER": "x"}, "ETCD_INITAL_CLUSTER", "did you mean ETCD_INITIAL_CLUSTER?"},
		{"typo in a short name", map[string]string{"ETCD_NAEM": "x"}, "ETCD_NAEM", "did you mean ETCD_NAME?"},
		{"unknown without suggestion", map[string]string{"ETCD_SOMETHING_ELSE_ENTIRELY": "x"}, "ETCD_SOMETHING_ELSE_ENTIRELY", "not a setting etcd 3.6 knows"},
		{"bad bool", map[string]string{"ETCD_STRICT_RECONFIG_CHECK": "yes"}, "ETCD_STRICT_RECONFIG_CHECK", "expected true or false"},
		{"bad number", map[string]string{"ETCD_HEARTBEAT_INTERVAL": "100ms"}, "ETCD_HEARTBEAT_INTERVAL", "expected a whole number"},
		{"bad duration", map[string]string{"ETCD_GRPC_KEEPALIVE_TIMEOUT": "20"}, "ETCD_GRPC_KEEPALIVE_TIMEOUT", "expected a duration"},
		{"url without port", map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": "http://10.77.0.12"}, "ETCD_ADVERTISE_CLIENT_URLS", "has no port"},
		{"url without scheme", map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": "10.77.0.12:2379"}, "ETCD_ADVERTISE_CLIENT_URLS", "scheme"},
		{"url with wrong scheme", map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": "tcp://10.77.0.12:2379"}, "ETCD_ADVERTISE_CLIENT_URLS", "not one etcd serves"},
		{"url with path", map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": "http://10.77.0.12:2379/v3"}, "ETCD_ADVERTISE_CLIENT_URLS", "has a path"},
		{"empty url list", map[string]string{"ETCD_LISTEN_PEER_URLS": " , "}, "ETCD_LISTEN_PEER_URLS", "is empty"},
		{"listen on a name", map[string]string{"ETCD_LISTEN_PEER_URLS": "http://etcd-2:2380"}, "ETCD_LISTEN_PEER_URLS", "needs an IP address"},
		{"advertise a wildcard", map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": "http://0.0.0.0:2379"}, "ETCD_ADVERTISE_CLIENT_URLS", "wildcard"},
		{"listen without advertise", map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": ""}, "ETCD_ADVERTISE_CLIENT_URLS", "requires it when ETCD_LISTEN_CLIENT_URLS is set"},
		{"bad state", map[string]string{"ETCD_INITIAL_CLUSTER_STATE": "existsing"}, "ETCD_INITIAL_CLUSTER_STATE", `expected "new"`},
		{"initial cluster without this member", map[string]string{"ETCD_INITIAL_CLUSTER": "etcd-1=http://10.77.0.11:2380,etcd-3=http://10.77.0.13:2380"}, "ETCD_INITIAL_CLUSTER", `does not list this member's name "etcd-2" (it lists etcd-1, etcd-3)`},
		{"initial cluster with other peer URL", map[string]string{"ETCD_INITIAL_CLUSTER": "etcd-1=http://10.77.0.11:2380,etcd-2=http://10.77.0.99:2380"}, "ETCD_INITIAL_CLUSTER", "must be the same URLs"},
		{"initial cluster without advertise uses etcd's default", map[string]string{"ETCD_INITIAL_ADVERTISE_PEER_URLS": ""}, "ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_ADVERTISE_PEER_URLS is http://localhost:2380"},
		{"initial cluster malformed", map[string]string{"ETCD_INITIAL_CLUSTER": "etcd-2=http://10.77.0.12:2380,etcd-1"}, "ETCD_INITIAL_CLUSTER", "is not NAME=PEER_URL"},
		{"initial cluster bad url", map[string]string{"ETCD_INITIAL_CLUSTER": "etcd-2=http://10.77.0.12:2380,etcd-1=http://10.77.0.11"}, "ETCD_INITIAL_CLUSTER", "member etcd-1: \"http://10.77.0.11\" has no port"},
		{"initial cluster duplicate peer url", map[string]string{"ETCD_INITIAL_CLUSTER": "etcd-2=http://10.77.0.12:2380,etcd-1=http://10.77.0.12:2380"}, "ETCD_INITIAL_CLUSTER", "given for both etcd-2 and etcd-1"},
		{"initial cluster without a name", map[string]string{"ETCD_NAME": ""}, "ETCD_NAME", "missing"},
		{"config file", map[string]string{"ETCD_CONFIG_FILE": "/etc/etcd/etcd.yaml"}, "ETCD_CONFIG_FILE", "ignores every other"},
		{"version", map[string]string{"ETCD_VERSION": "true"}, "ETCD_VERSION", "exit"},
		{"force new cluster", map[string]string{"ETCD_FORCE_NEW_CLUSTER": "true"}, "ETCD_FORCE_NEW_CLUSTER", "disaster-recovery"},
		{"newline", map[string]string{"ETCD_INITIAL_CLUSTER_TOKEN": "a\nETCD_NAME=x"}, "ETCD_INITIAL_CLUSTER_TOKEN", "newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodConf()
			for k, v := range tc.set {
				if v == "" {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			err := c.validate("3.6")
			var errs confErrors
			if !errors.As(err, &errs) {
				t.Fatalf("validate = %v, want confErrors", err)
			}
			for _, e := range errs {
				if e.Name == tc.field && strings.Contains(e.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no error on %s containing %q; got:\n%v", tc.field, tc.msg, err)
		})
	}
}

func TestConfValidationReportsEverything(t *testing.T) {
	c := goodConf()
	c["ETCD_INITAL_CLUSTER_STATE"] = "new"
	c["ETCD_HEARTBEAT_INTERVAL"] = "fast"
	err := c.validate("3.6")
	if err == nil || !strings.HasPrefix(err.Error(), "2 problems in the etcd configuration:\n  ETCD_HEARTBEAT_INTERVAL: ") {
		t.Errorf("got %v", err)
	}
}

func TestSettingName(t *testing.T) {
	for in, want := range map[string]string{
		"ETCD_NAME": "ETCD_NAME", "name": "ETCD_NAME", "initial-cluster": "ETCD_INITIAL_CLUSTER", "--data-dir": "ETCD_DATA_DIR",
	} {
		if got := settingName(in); got != want {
			t.Errorf("settingName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderEnv(t *testing.T) {
	c := etcdConf{
		"ETCD_NAME":                  "etcd-1",
		"ETCD_LOG_LEVEL":             "info",
		"ETCD_DATA_DIR":              "/var/lib/etcd",
		"ETCD_INITIAL_CLUSTER_TOKEN": `we"ird $HOME \n ` + "`x`",
		"ETCD_AUTO_TLS":              "false",
	}
	got := string(c.renderEnv())
	want := confHeader +
		`ETCD_NAME="etcd-1"` + "\n" +
		`ETCD_DATA_DIR="/var/lib/etcd"` + "\n" +
		`ETCD_INITIAL_CLUSTER_TOKEN="we\"ird \$HOME \\n \` + "`x\\`" + `"` + "\n" +
		`ETCD_AUTO_TLS="false"` + "\n" +
		`ETCD_LOG_LEVEL="info"` + "\n"
	if got != want {
		t.Errorf("renderEnv:\n%s\nwant:\n%s", got, want)
	}
	back, err := parseEnv([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c {
		if back[k] != v {
			t.Errorf("round trip %s: %q, want %q", k, back[k], v)
		}
	}
	if len(back) != len(c) {
		t.Errorf("round trip: %d settings, want %d", len(back), len(c))
	}
}

func TestParseEnvForms(t *testing.T) {
	c, err := parseEnv([]byte("# comment\n\nexport ETCD_NAME=etcd-1\nETCD_DATA_DIR='/var/lib/etcd'\n  ETCD_LOG_LEVEL = \"warn\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c["ETCD_NAME"] != "etcd-1" || c["ETCD_DATA_DIR"] != "/var/lib/etcd" || c["ETCD_LOG_LEVEL"] != "warn" {
		t.Errorf("got %v", c)
	}
	for _, bad := range []string{"ETCD_NAME", "=x", "ETCD NAME=x", `ETCD_NAME="x`} {
		if _, err := parseEnv([]byte(bad)); err == nil {
			t.Errorf("parseEnv(%q) accepted", bad)
		}
	}
}

// TestRenderYAMLLoadsInEtcd renders the config-file form and loads it with
// etcd's own loader.
func TestRenderYAMLLoadsInEtcd(t *testing.T) {
	c := goodConf()
	c["ETCD_HEARTBEAT_INTERVAL"] = "150"
	c["ETCD_STRICT_RECONFIG_CHECK"] = "false"
	c["ETCD_GRPC_KEEPALIVE_MIN_TIME"] = "7s"
	c["ETCD_LOG_OUTPUTS"] = "stderr,/var/log/etcd.log"
	c["ETCD_CLIENT_CERT_AUTH"] = "true"
	c["ETCD_TRUSTED_CA_FILE"] = "/etc/etcd/ca.crt"
	c["ETCD_PEER_CERT_FILE"] = "/etc/etcd/peer.crt"
	c["ETCD_CORS"] = "http://a.example:80,http://b.example:80"
	b, err := c.renderYAML()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "etcd.yaml")
	os.WriteFile(p, b, 0o644)
	cfg, err := embed.ConfigFromFile(p)
	if err != nil {
		t.Fatalf("etcd cannot load\n%s\n%v", b, err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v\n%s", what, got, want, b)
		}
	}
	check("name", cfg.Name, "etcd-2")
	check("data dir", cfg.Dir, "/var/lib/etcd/etcd-2")
	check("initial cluster", cfg.InitialCluster, c["ETCD_INITIAL_CLUSTER"])
	check("state", cfg.ClusterState, "new")
	check("token", cfg.InitialClusterToken, "etcd-cluster-1")
	check("heartbeat", cfg.TickMs, uint(150))
	check("strict reconfig", cfg.StrictReconfigCheck, false)
	check("keepalive", cfg.GRPCKeepAliveMinTime.String(), "7s")
	check("log outputs", strings.Join(cfg.LogOutputs, ","), "stderr,/var/log/etcd.log")
	check("client cert auth", cfg.ClientTLSInfo.ClientCertAuth, true)
	check("trusted ca", cfg.ClientTLSInfo.TrustedCAFile, "/etc/etcd/ca.crt")
	check("peer cert", cfg.PeerTLSInfo.CertFile, "/etc/etcd/peer.crt")
	check("listen client", len(cfg.ListenClientUrls), 2)
	check("advertise peer", cfg.AdvertisePeerUrls[0].String(), "http://10.77.0.12:2380")
	check("cors", len(cfg.CORS), 2)

	c["ETCD_RAFT_READ_TIMEOUT"] = "5s"
	if _, err := c.renderYAML(); err == nil || !strings.Contains(err.Error(), "ETCD_RAFT_READ_TIMEOUT: has no config-file form") {
		t.Errorf("setting without a file form: %v", err)
	}
}
