package modules

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
)

// templateData is what a template sees for the host of c: its inventory
// variables, the run's extra vars, then vars, each overriding the one
// before, and the host as .host.name and .host.address. The template
// module, and systemd's and render_conf's template=, render with it.
func templateData(c *engine.HostCall, vars *starlark.Dict) (map[string]any, error) {
	data := map[string]any{}
	for k, v := range c.Host.Vars {
		data[k] = v
	}
	for k, v := range c.Vars {
		data[k] = v
	}
	if vars != nil {
		m, err := engine.FromStarlark(vars)
		if err != nil {
			return nil, err
		}
		for k, v := range m.(map[string]any) {
			data[k] = v
		}
	}
	data["host"] = map[string]any{"name": c.Host.Name, "address": c.Host.Address()}
	return data, nil
}

var templateFuncs = template.FuncMap{
	"join": func(l any, sep string) (string, error) {
		switch l := l.(type) {
		case []string:
			return strings.Join(l, sep), nil
		case []any:
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = fmt.Sprint(x)
			}
			return strings.Join(parts, sep), nil
		}
		return "", fmt.Errorf("join: got %T, want a list", l)
	},
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
	"quote": func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
}

// render executes a template; its errors carry the template's name and
// line.
func render(name, text string, data map[string]any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, engine.BadInput("%v", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	return b.Bytes(), nil
}
