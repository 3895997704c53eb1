package modules

import (
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

var printSettings = flag.Bool("print-settings", false, "print the etcdSettings table generated from etcd's flags")

// etcdFlags returns etcd's own flag set: embed's flags plus the few that
// etcdmain adds (go.etcd.io/etcd/server/v3/etcdmain/config.go newConfig).
func etcdFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	embed.NewConfig().AddFlags(fs)
	fs.String("config-file", "", "")
	fs.String("discovery-fallback", "", "")
	fs.String("initial-cluster-state", "", "")
	fs.String("v2-deprecation", "", "")
	fs.Bool("version", false, "")
	return fs
}

func flagKind(f *flag.Flag) settingKind {
	t := fmt.Sprintf("%T", f.Value)
	switch {
	case f.Name == "cors":
		return kindList // URLs, or "*"
	case strings.Contains(t, "boolValue"):
		return kindBool
	case strings.Contains(t, "durationValue"):
		return kindDuration
	case strings.Contains(t, "intValue"), strings.Contains(t, "int64Value"), strings.Contains(t, "uintValue"),
		strings.Contains(t, "uint64Value"), strings.Contains(t, "uint32Value"):
		return kindInt
	case strings.Contains(t, "URLs"):
		return kindURLs
	case strings.Contains(t, "StringsValue"):
		return kindList
	}
	return kindString
}

// yamlKeyOf is where a flag lives in etcd's --config-file YAML: the JSON
// tags of embed.Config and of embed's configJSON and securityConfig.
func yamlKeyOf(name string) string {
	switch name {
	case "config-file", "version", "discovery-fallback", "v2-deprecation":
		return ""
	case "listen-peer-urls", "listen-client-urls", "listen-client-http-urls", "initial-advertise-peer-urls",
		"advertise-client-urls", "cors", "host-whitelist", "feature-gates", "listen-metrics-urls":
		return name
	}
	tls := map[string]string{
		"cert-file": "cert-file", "key-file": "key-file", "client-cert-file": "client-cert-file",
		"client-key-file": "client-key-file", "client-cert-auth": "client-cert-auth",
		"trusted-ca-file": "trusted-ca-file", "auto-tls": "auto-tls",
		"client-cert-allowed-hostname": "allowed-hostname",
	}
	if k, ok := tls[name]; ok {
		return "client-transport-security." + k
	}
	peer := map[string]string{
		"peer-cert-file": "cert-file", "peer-key-file": "key-file", "peer-client-cert-file": "client-cert-file",
		"peer-client-key-file": "client-key-file", "peer-client-cert-auth": "client-cert-auth",
		"peer-trusted-ca-file": "trusted-ca-file", "peer-auto-tls": "auto-tls",
		"peer-cert-allowed-cn": "allowed-cn", "peer-cert-allowed-hostname": "allowed-hostname",
		"peer-skip-client-san-verification": "skip-client-san-verification",
	}
	if k, ok := peer[name]; ok {
		return "peer-transport-security." + k
	}
	var found string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == name {
				found = name
			}
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(embed.Config{}))
	return found
}

// TestKnownSettingsMatchEtcd keeps etcdSettings equal to the flags of the
// pinned etcd: go test -run KnownSettings -print-settings ./modules
// prints the table after an etcd upgrade.
func TestKnownSettingsMatchEtcd(t *testing.T) {
	fs := etcdFlags()
	want := map[string]etcdSetting{}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		env := "ETCD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		want[env] = etcdSetting{kind: flagKind(f), yaml: yamlKeyOf(f.Name)}
		names = append(names, env)
	})
	sort.Strings(names)
	if *printSettings {
		for _, n := range names {
			s := want[n]
			fmt.Printf("\t%q: {%s, %q},\n", n, s.kind.goName(), s.yaml)
		}
	}
	for _, n := range names {
		got, ok := etcdSettings[n]
		if !ok {
			t.Errorf("%s: etcd has it, etcdSettings does not", n)
			continue
		}
		if got != want[n] {
			t.Errorf("%s: etcdSettings has %+v, etcd's flag gives %+v", n, got, want[n])
		}
	}
	for n := range etcdSettings {
		if _, ok := want[n]; !ok {
			t.Errorf("%s: in etcdSettings, not a flag of etcd %s", n, "v3.6")
		}
	}
}
