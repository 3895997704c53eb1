package modules

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type renderConfArgs struct {
	Dest     string
	Values   starlark.Value
	Template string
	Format   string
	Mode     engine.FileMode
	Owner    string
	Group    string
	Backup   bool
	Version  string
}

// render_conf writes an etcd configuration on each host, validated first.
//
// The default form is the environment file the etcd unit reads with
// EnvironmentFile=: one ETCD_NAME="value" per line, in a stable order
// (identity, URLs and cluster settings first, then the rest
// alphabetically), quoted so that systemd and a POSIX shell read the
// value back unchanged. format="yaml" writes etcd's --config-file YAML
// instead (durations as nanoseconds, TLS settings in their sections).
//
// The values are checked as etcd would check them, and for the mistakes
// etcd lets through: a setting etcd does not know is an error with the
// closest known name as a suggestion (ETCD_INITAL_CLUSTER: did you mean
// ETCD_INITIAL_CLUSTER?), because etcd only logs a warning and starts
// without it; booleans, numbers, durations and URLs must parse; listen
// URLs need IP addresses; ETCD_INITIAL_CLUSTER must name this member
// (ETCD_NAME) with exactly its advertised peer URLs; the cluster state
// must be "new" or "existing". Every problem is reported at once.
//
// The settings are those of the etcd on the host (the binary its etcd
// unit starts, else /usr/local/bin/etcd or /usr/bin/etcd), or of
// version=: etcd 3.4 and 3.5 take their own spellings (ETCD_ENABLE_V2,
// ETCD_EXPERIMENTAL_COMPACTION_BATCH_LIMIT), 3.6 its own
// (ETCD_COMPACTION_BATCH_LIMIT, ETCD_FEATURE_GATES, and the
// ETCD_EXPERIMENTAL_* it still accepts). A setting of another version is
// refused naming the version ("ETCD_FEATURE_GATES: not a setting etcd
// 3.5 knows (etcd 3.6 has it)"), with its spelling there when it was
// renamed. Where no etcd is installed yet (check mode before
// install_etcd), a setting of any of these versions is accepted.
//
// The write is atomic (a temporary file renamed over the old one) and only
// happens when the content differs; --diff shows the change.
//
// Arguments:
//
//	dest      path of the file on the host
//	values    a dict of settings: ETCD_* names or etcd's flag names
//	          ("initial-cluster"); values are strings, numbers, booleans or
//	          lists (joined with commas); None leaves a setting out. A dict
//	          keyed by host, or a function of the host, gives per-host
//	          values. Or:
//	template  an environment-file template on the control machine (Go
//	          text/template with the same variables as the template
//	          module), validated after rendering
//	format    "env" (default) or "yaml"
//	mode      of the file, default 0644
//	owner, group, of the file (kept from the old file when not given)
//	backup    keep the old file as DEST.TIME~
//	version   the etcd version the settings are for ("3.5.35"; default
//	          the version of the etcd on the host)
//
// The result has dest, sha256, values (the settings written), state
// (ETCD_INITIAL_CLUSTER_STATE, "" when not set) and etcd_version (the
// version checked against, "" when none was known).
//
// Check mode: validates, compares and reports (with --diff, the diff);
// writes nothing.
//
// Example:
//
//	render_conf(new, dest = "/etc/etcd/etcd.conf",
//	            values = etcd_conf(new, m.initial_cluster, state = "existing"))
var renderConfModule = &engine.HostModule[renderConfArgs]{
	Name: "render_conf",
	Args: func(a *renderConfArgs) []any {
		return []any{"dest", &a.Dest, "values?", &a.Values, "template?", &a.Template, "format?", &a.Format,
			"mode?", &a.Mode, "owner?", &a.Owner, "group?", &a.Group, "backup?", &a.Backup, "version?", &a.Version}
	},
	Validate: func(a *renderConfArgs) error {
		if a.Dest == "" {
			return fmt.Errorf("dest is empty")
		}
		hasValues := a.Values != nil && a.Values != starlark.None
		if hasValues == (a.Template != "") {
			return fmt.Errorf("give either values= (a dict of ETCD_* settings) or template= (an environment-file template)")
		}
		switch a.Format {
		case "", "env":
		case "yaml":
			if a.Template != "" {
				return fmt.Errorf("template= renders the environment-file form; for format=\"yaml\" give values=")
			}
		default:
			return fmt.Errorf("format: got %q, want \"env\" or \"yaml\"", a.Format)
		}
		if _, ok := etcd.ParseVersion(a.Version); a.Version != "" && !ok {
			return fmt.Errorf("version: %q is not an etcd version such as 3.6.16", a.Version)
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.HostCall, a *renderConfArgs) (engine.Plan, error) {
		// The file and the etcd whose settings these are, in one round
		// trip.
		var f fileFacts
		version := a.Version
		qs := []query{statFact(a.Dest, true).into(&f)}
		if version == "" {
			qs = append(qs, hostEtcdFact().into(&version).optional())
		}
		if err := readFacts(ctx, c, qs...); err != nil {
			return engine.Plan{}, err
		}
		c.Set("etcd_version", version)
		content, conf, err := renderConf(c, a, confMinor(version))
		if err != nil {
			return engine.Plan{}, err
		}
		vals := map[string]any{}
		for k, v := range conf {
			vals[k] = v
		}
		c.Set("values", vals)
		c.Set("state", conf["ETCD_INITIAL_CLUSTER_STATE"])
		mode := a.Mode
		if !mode.Set {
			mode = engine.FileMode{Mode: 0o644, Set: true}
		}
		return planWriteFrom(ctx, c, wantFile{Path: a.Dest, Content: content, Mode: mode, Owner: a.Owner, Group: a.Group, Backup: a.Backup}, f)
	},
}

// renderConf builds the file content and the settings it holds,
// validated as etcd of minor (confMinor) reads them.
func renderConf(c *engine.HostCall, a *renderConfArgs, minor string) ([]byte, etcdConf, error) {
	if a.Template != "" {
		b, err := os.ReadFile(c.LocalPath(a.Template))
		if err != nil {
			return nil, nil, engine.BadInput("template: %v", err)
		}
		data, err := templateData(c, nil)
		if err != nil {
			return nil, nil, engine.BadInput("%v", err)
		}
		out, err := render(a.Template, string(b), data)
		if err != nil {
			return nil, nil, err
		}
		conf, err := parseEnv(out)
		if err != nil {
			return nil, nil, engine.BadInput("template %s renders an environment file that does not parse: %v", a.Template, err)
		}
		if err := conf.validate(minor); err != nil {
			return nil, nil, engine.BadInput("template %s: %v", a.Template, err)
		}
		return out, conf, nil
	}
	conf, err := confFromValues(a.Values)
	if err != nil {
		return nil, nil, engine.BadInput("values: %v", err)
	}
	if err := conf.validate(minor); err != nil {
		return nil, nil, engine.BadInput("values: %v", err)
	}
	if a.Format == "yaml" {
		out, err := conf.renderYAML()
		if err != nil {
			return nil, nil, engine.BadInput("values: %v", err)
		}
		return out, conf, nil
	}
	return conf.renderEnv(), conf, nil
}

// confFromValues turns the values= dict into settings.
func confFromValues(v starlark.Value) (etcdConf, error) {
	d, ok := v.(starlark.IterableMapping)
	if !ok {
		return nil, fmt.Errorf("got %s, want a dict of ETCD_* settings", v.Type())
	}
	conf := etcdConf{}
	from := map[string]string{}
	for _, kv := range d.Items() {
		k, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("key %s: want a string such as \"ETCD_NAME\"", kv[0])
		}
		if kv[1] == starlark.None {
			continue
		}
		name := settingName(k)
		if prev, dup := from[name]; dup {
			return nil, fmt.Errorf("%s and %s are the same setting %s", prev, k, name)
		}
		from[name] = k
		s, err := confValue(kv[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		conf[name] = s
	}
	return conf, nil
}

// confValue writes a value as etcd's flag syntax expects it.
func confValue(v starlark.Value) (string, error) {
	switch v := v.(type) {
	case starlark.String:
		return string(v), nil
	case starlark.Bool:
		if v {
			return "true", nil
		}
		return "false", nil
	case starlark.Int:
		return v.String(), nil
	case starlark.Iterable:
		var parts []string
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			s, err := confValue(x)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("got %s, want a string, number, boolean or list", v.Type())
}
