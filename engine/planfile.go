package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// PlanFile is a plan: what etcdplay run --check --plan-out writes and
// etcdplay run --apply runs. It holds what a reviewer approves and what
// the run rests on: the playbook and its files, the command, the extra
// vars, the inventory's hosts and variables, the etcdplay binary, the
// cluster and the hosts as the modules read them, and every step with
// its arguments and effects. Nothing in it depends on when it was made,
// so the same cluster and inputs give the same bytes: two plans can be
// diffed.
//
// On disk it is the text rendering (Text), then the same as JSON between
// planBegin and planEnd: the text is what people read, the JSON what
// --apply reads, and a file whose text is not the rendering of its JSON
// is refused (ParsePlanFile).
type PlanFile struct {
	Format   int        `json:"format"`
	Etcdplay PlanBinary `json:"etcdplay"`
	// Playbook is the playbook as positions name it; Files are it and
	// the files it loaded, in the order loaded.
	Playbook string        `json:"playbook"`
	Files    []PlanFileSum `json:"files"`
	// Command is the run's command line without the flags that made it
	// a check run that writes a plan: what --apply runs.
	Command   []string   `json:"command"`
	ExtraVars []PlanVar  `json:"extra_vars"`
	Hosts     []PlanHost `json:"hosts"`
	// State is what the modules read, by key.
	State []PlanState `json:"state"`
	Steps []PlanStep  `json:"steps"`
}

// PlanFormat is the format of the plan files this etcdplay writes.
const PlanFormat = 1

// PlanBinary is the etcdplay that made a plan: its version and the
// sha256 of its executable.
type PlanBinary struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// PlanFileSum is a playbook file and the sha256 of its content.
type PlanFileSum struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// PlanVar is a variable and its value as JSON; a secret's value is not
// recorded.
type PlanVar struct {
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
	Secret bool   `json:"secret,omitempty"`
}

// PlanHost is an inventory host with its groups and variables (extra
// vars and magic variables apart).
type PlanHost struct {
	Name   string    `json:"name"`
	Groups []string  `json:"groups"`
	Vars   []PlanVar `json:"vars"`
}

// PlanState is one thing a module read (HostCall.Observe). Informs is set
// for what the plan shows without resting on it (ObserveInfo).
type PlanState struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Informs bool   `json:"informs,omitempty"`
}

// PlanStep is one module call of the playbook's main.
type PlanStep struct {
	N       int      `json:"n"`
	Module  string   `json:"module"`
	Pos     string   `json:"pos"`
	Cluster bool     `json:"cluster,omitempty"`
	Targets []string `json:"targets"`
	// Args are a cluster module's arguments; a host module's are each
	// host's own.
	Args  string         `json:"args,omitempty"`
	Hosts []PlanHostStep `json:"hosts"`
}

// PlanHostStep is how a step went on one host in the check run (a
// cluster module's one result has no Host).
type PlanHostStep struct {
	Host    string       `json:"host,omitempty"`
	Args    string       `json:"args,omitempty"`
	Status  Status       `json:"status"`
	Ignored bool         `json:"ignored,omitempty"`
	Msg     string       `json:"msg,omitempty"`
	Actions []PlanAction `json:"actions,omitempty"`
}

// PlanAction is an action a step would take: its effect, and the diff of
// the file it writes.
type PlanAction struct {
	Effect string    `json:"effect"`
	Diff   *PlanDiff `json:"diff,omitempty"`
}

// PlanDiff is a file an action changes: the sha256 of its content before
// and after ("" for none), and the diff as --diff shows it. A secret's
// has neither.
type PlanDiff struct {
	Path    string `json:"path"`
	Before  string `json:"before,omitempty"`
	After   string `json:"after,omitempty"`
	Text    string `json:"text,omitempty"`
	Omitted string `json:"omitted,omitempty"`
}

// PlanRecord is what a run records for a plan (Config.Record): the steps,
// what was read, the playbook's files.
type PlanRecord struct {
	Steps []PlanStep
	State []PlanState
	Files []PlanFileSum
}

// PlanVars are variables as a plan records them, by name: values as
// JSON, secrets (by name, or as secret says) without their value.
func PlanVars(vars map[string]any, secret func(name string) bool) []PlanVar {
	var out []PlanVar
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		v := PlanVar{Name: k}
		if SecretName(k) || secret != nil && secret(k) {
			v.Secret = true
		} else {
			b, err := json.Marshal(vars[k])
			if err != nil {
				b = []byte(fmt.Sprintf("%q", fmt.Sprint(vars[k])))
			}
			v.Value = string(b)
		}
		out = append(out, v)
	}
	return out
}

// PlanHosts are the inventory's hosts within --limit as a plan records
// them: every variable but the magic ones and the extra vars, which the
// plan lists once. What a playbook reads of them cannot be told apart
// from what it does not, so all count.
func PlanHosts(inv *inventory.Inventory, extra map[string]any) []PlanHost {
	hs, err := inv.Select("all")
	if err != nil {
		return nil
	}
	var out []PlanHost
	for _, h := range hs {
		vars := map[string]any{}
		for k, v := range h.Vars {
			if _, isExtra := extra[k]; isExtra || inventory.MagicVar(k) {
				continue
			}
			vars[k] = v
		}
		out = append(out, PlanHost{Name: h.Name, Groups: append([]string{}, h.Groups...), Vars: PlanVars(vars, h.Secret)})
	}
	return out
}

// The lines around a plan file's JSON.
const (
	planBegin = "-----BEGIN ETCDPLAY PLAN-----"
	planEnd   = "-----END ETCDPLAY PLAN-----"
)

// Marshal is the plan file: the text, then the JSON.
func (p *PlanFile) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(p.Text())
	b.WriteString("\n" + planBegin + "\n")
	j, _ := json.MarshalIndent(p, "", " ")
	b.Write(j)
	b.WriteString("\n" + planEnd + "\n")
	return b.Bytes()
}

// ParsePlanFile reads a plan file. It is bad input when the file is no
// plan of this format, or when its text is not the rendering of its
// machine part (edited by hand: what was reviewed is not what would run).
func ParsePlanFile(name string, data []byte) (*PlanFile, error) {
	text, rest, ok := bytes.Cut(data, []byte("\n"+planBegin+"\n"))
	if !ok {
		return nil, BadInput("%s is not an etcdplay plan: no %s line (etcdplay run PLAYBOOK --check --plan-out FILE writes one)", name, planBegin)
	}
	js, _, ok := bytes.Cut(rest, []byte("\n"+planEnd+"\n"))
	if !ok {
		return nil, BadInput("%s: the plan's machine part has no %s line: the file is cut short", name, planEnd)
	}
	var p PlanFile
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, BadInput("%s: the plan's machine part: %v", name, err)
	}
	if p.Format != PlanFormat {
		return nil, BadInput("%s: a plan of format %d; this etcdplay reads format %d: make the plan again with it", name, p.Format, PlanFormat)
	}
	if want := p.Text(); string(text) != want {
		line := firstDifferentLine(string(text), want)
		return nil, BadInput("%s: the plan's text is not what its machine part says (first difference at line %d): the file was edited, and what was reviewed is not what would run; make the plan again", name, line)
	}
	return &p, nil
}

func firstDifferentLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// Text is the plan as people read it.
func (p *PlanFile) Text() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("etcdplay plan: %s, %d steps, %d of which change something\n", p.Playbook, len(p.Steps), p.Changing())
	w("\n")
	w("Made by a check run: nothing was changed. It runs, exactly as below, with\n")
	w("    etcdplay run --apply FILE\n")
	w("which first reads the cluster and the hosts again and refuses when anything\n")
	w("below reads otherwise, then runs these steps in order and nothing else.\n")
	w("A plan older than --plan-max-age (default 1h, counted from the file's\n")
	w("modification time) is refused.\n")
	w("\n")
	w("command:  %s\n", transport.Quote(append([]string{"etcdplay", "run"}, p.Command...)...))
	w("etcdplay: %s (sha256 %s)\n", p.Etcdplay.Version, p.Etcdplay.SHA256)
	w("files:\n")
	for _, f := range p.Files {
		w("    %s  sha256 %s\n", f.Name, f.SHA256)
	}
	w("extra vars:%s\n", none(len(p.ExtraVars)))
	writeVars(&b, "    ", p.ExtraVars)
	w("\ninventory: %d hosts\n", len(p.Hosts))
	for _, h := range p.Hosts {
		groups := "no group"
		if len(h.Groups) > 0 {
			groups = "groups " + strings.Join(h.Groups, ", ")
		}
		w("    %s (%s)\n", h.Name, groups)
		writeVars(&b, "        ", h.Vars)
	}
	w("\nas read (--apply refuses when any of it reads otherwise; what only\n")
	w("informs counts through the steps it changes):%s\n", none(len(p.State)))
	width := 0
	for _, s := range p.State {
		width = max(width, len(s.Key))
	}
	for _, s := range p.State {
		note := ""
		if s.Informs {
			note = "  (informs)"
		}
		w("    %-*s  %s%s\n", width, s.Key, s.Value, note)
	}
	w("\nsteps:\n")
	for _, s := range p.Steps {
		s.text(&b)
	}
	return b.String()
}

func none(n int) string {
	if n == 0 {
		return " none"
	}
	return ""
}

func writeVars(b *strings.Builder, indent string, vars []PlanVar) {
	for _, v := range vars {
		val := v.Value
		if v.Secret {
			val = "(secret: not recorded)"
		}
		fmt.Fprintf(b, "%s%s = %s\n", indent, v.Name, val)
	}
}

// Changing is how many of the plan's steps change something.
func (p *PlanFile) Changing() int {
	n := 0
	for _, s := range p.Steps {
		if s.changes() {
			n++
		}
	}
	return n
}

// changes reports whether the step would change something on a host.
func (s PlanStep) changes() bool {
	for _, h := range s.Hosts {
		if len(h.Actions) > 0 {
			return true
		}
	}
	return false
}

func (s PlanStep) text(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	via := "on"
	if s.Cluster {
		via = "through"
	}
	w("%3d  %s at %s, %s %s\n", s.N, s.Module, s.Pos, via, strings.Join(s.Targets, ", "))
	args := s.Args
	if !s.Cluster {
		// One line for the arguments when every host has the same.
		args = ""
		for i, h := range s.Hosts {
			if i > 0 && h.Args != args {
				args = ""
				break
			}
			args = h.Args
		}
	}
	if args != "" {
		w("     args: %s\n", args)
	}
	for _, h := range s.Hosts {
		pre := "         "
		if h.Host != "" {
			w("     %s:", h.Host)
			if h.Args != "" && args == "" {
				w(" args: %s\n%s", h.Args, pre[:len(pre)-1])
			}
		} else {
			w("    ")
		}
		switch {
		case len(h.Actions) > 0:
			w(" changes:\n")
			for _, a := range h.Actions {
				w("%s%s\n", pre, a.Effect)
				if d := a.Diff; d != nil {
					switch {
					case d.Text != "":
						for _, l := range strings.Split(strings.TrimRight(d.Text, "\n"), "\n") {
							w("%s    %s\n", pre, l)
						}
					case d.Omitted != "":
						w("%s    (%s: %s)\n", pre, d.Path, d.Omitted)
					}
				}
			}
		case h.Status == StatusSkipped:
			w(" skipped: %s\n", h.Msg)
		case h.Status == StatusFailed:
			w(" fails%s: %s\n", ignoredNote(h.Ignored), h.Msg)
		case h.Status == StatusUnreachable:
			w(" unreachable%s\n", ignoredNote(h.Ignored))
		default:
			w(" nothing to change\n")
		}
	}
}

func ignoredNote(ignored bool) string {
	if ignored {
		return " (ignored)"
	}
	return ""
}

// Differences says, one line each, what in now (a plan made again for
// --apply) differs from p: what the plan rests on that changed. None
// means the plan still holds.
func (p *PlanFile) Differences(now *PlanFile) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if p.Etcdplay != now.Etcdplay {
		add("etcdplay: the plan was made by %s (sha256 %.12s), this is %s (sha256 %.12s)", p.Etcdplay.Version, p.Etcdplay.SHA256, now.Etcdplay.Version, now.Etcdplay.SHA256)
	}
	if p.Playbook != now.Playbook {
		add("playbook: %s, now %s", p.Playbook, now.Playbook)
	}
	out = append(out, listDiff("file", fileMap(p.Files), fileMap(now.Files))...)
	if !slices.Equal(p.Command, now.Command) {
		add("command: %s, now %s", strings.Join(p.Command, " "), strings.Join(now.Command, " "))
	}
	out = append(out, listDiff("extra var", varMap(p.ExtraVars), varMap(now.ExtraVars))...)
	hosts, nowHosts := map[string]PlanHost{}, map[string]PlanHost{}
	for _, h := range p.Hosts {
		hosts[h.Name] = h
	}
	for _, h := range now.Hosts {
		nowHosts[h.Name] = h
	}
	out = append(out, listDiff("inventory host", hostGroups(hosts), hostGroups(nowHosts))...)
	for _, name := range slices.Sorted(maps.Keys(hosts)) {
		if n, ok := nowHosts[name]; ok {
			out = append(out, listDiff(name+" variable", varMap(hosts[name].Vars), varMap(n.Vars))...)
		}
	}
	was, is := map[string]string{}, map[string]string{}
	for _, s := range p.State {
		if !s.Informs {
			was[s.Key] = s.Value
		}
	}
	for _, s := range now.State {
		if !s.Informs {
			is[s.Key] = s.Value
		}
	}
	out = append(out, listDiff("", was, is)...)
	if steps := stepDiffs(p.Steps, now.Steps); len(steps) > 0 {
		out = append(out, steps...)
		// What only informs may be why.
		out = append(out, informs(p.State, now.State)...)
	}
	return out
}

// listDiff says what differs between two maps of name to value, each
// line starting with what (a kind of thing) and the name.
func listDiff(what string, was, is map[string]string) []string {
	var out []string
	names := slices.Collect(maps.Keys(was))
	for k := range is {
		if _, ok := was[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	label := func(k string) string { return strings.TrimSpace(what + " " + k) }
	for _, k := range names {
		a, inA := was[k]
		b, inB := is[k]
		switch {
		case inA && !inB:
			out = append(out, fmt.Sprintf("%s: was %s, and is not there now", label(k), a))
		case !inA && inB:
			out = append(out, fmt.Sprintf("%s: was not there, and is %s now", label(k), b))
		case a != b:
			out = append(out, fmt.Sprintf("%s: was %s, is %s now", label(k), a, b))
		}
	}
	return out
}

func fileMap(fs []PlanFileSum) map[string]string {
	m := map[string]string{}
	for _, f := range fs {
		m[f.Name] = "sha256 " + f.SHA256
	}
	return m
}

func varMap(vs []PlanVar) map[string]string {
	m := map[string]string{}
	for _, v := range vs {
		m[v.Name] = v.Value
		if v.Secret {
			m[v.Name] = "(secret)"
		}
	}
	return m
}

func hostGroups(hs map[string]PlanHost) map[string]string {
	m := map[string]string{}
	for n, h := range hs {
		m[n] = "in groups " + strings.Join(h.Groups, ", ")
	}
	return m
}

// informs says what changed among what only informs, for the step
// differences it may explain: "cluster leader: was etcd-3, is etcd-1 now
// (informs)".
func informs(was, is []PlanState) []string {
	now := map[string]string{}
	for _, s := range is {
		if s.Informs {
			now[s.Key] = s.Value
		}
	}
	var out []string
	for _, s := range was {
		if v, ok := now[s.Key]; s.Informs && ok && v != s.Value {
			out = append(out, fmt.Sprintf("%s: was %s, is %s now (informs)", s.Key, s.Value, v))
		}
	}
	return out
}

// stepDiffs says how the steps made again differ from the plan's: the
// first step that differs (the rest follow from it) and how.
func stepDiffs(was, is []PlanStep) []string {
	for i := range max(len(was), len(is)) {
		switch {
		case i >= len(is):
			return []string{fmt.Sprintf("steps: the plan has %d, and made again it stops after %d", len(was), len(is))}
		case i >= len(was):
			return []string{fmt.Sprintf("steps: the plan has %d, and made again it goes on to step %d (%s at %s)", len(was), i+1, is[i].Module, is[i].Pos)}
		}
		a, b := was[i], is[i]
		if a.Module != b.Module || a.Pos != b.Pos {
			return []string{fmt.Sprintf("step %d: was %s at %s, is %s at %s now", a.N, a.Module, a.Pos, b.Module, b.Pos)}
		}
		var d []string
		if !slices.Equal(a.Targets, b.Targets) {
			d = append(d, fmt.Sprintf("targets were %s, are %s", strings.Join(a.Targets, ", "), strings.Join(b.Targets, ", ")))
		}
		if a.Args != b.Args {
			d = append(d, fmt.Sprintf("arguments were %s, are %s", a.Args, b.Args))
		}
		hosts := map[string]PlanHostStep{}
		for _, h := range b.Hosts {
			hosts[h.Host] = h
		}
		for _, h := range a.Hosts {
			n, ok := hosts[h.Host]
			on := ""
			if h.Host != "" {
				on = " on " + h.Host
			}
			switch {
			case !ok:
				d = append(d, "it does not run"+on+" now")
			case h.Args != n.Args:
				d = append(d, fmt.Sprintf("arguments%s were %s, are %s", on, h.Args, n.Args))
			case h.outcome() != n.outcome():
				d = append(d, fmt.Sprintf("%sit %s, now it %s", strings.TrimPrefix(on+" ", " "), h.outcome(), n.outcome()))
			default:
				// What the reviewer read of a file's change.
				for i, a := range h.Actions {
					if x := n.Actions[i]; a.Diff != nil && x.Diff != nil && a.Diff.Text != x.Diff.Text {
						d = append(d, fmt.Sprintf("the diff of %s%s is not the plan's", a.Diff.Path, on))
					}
				}
			}
		}
		if len(d) > 0 {
			return []string{fmt.Sprintf("step %d (%s at %s): %s", a.N, a.Module, a.Pos, strings.Join(d, "; "))}
		}
	}
	return nil
}

// outcome is what a step does on one host, in words, with the hashes of
// the files it changes: what two plans compare.
func (h PlanHostStep) outcome() string {
	switch {
	case len(h.Actions) > 0:
		var parts []string
		for _, a := range h.Actions {
			p := a.Effect
			switch d := a.Diff; {
			case d == nil:
			case d.Before != "" || d.After != "":
				p += fmt.Sprintf(" (%s: sha256 %s → %s)", d.Path, short(d.Before), short(d.After))
			case d.Omitted != "":
				p += fmt.Sprintf(" (%s: %s)", d.Path, d.Omitted)
			}
			parts = append(parts, p)
		}
		return "would " + strings.Join(parts, "; ")
	case h.Status == StatusSkipped:
		return "is skipped (" + h.Msg + ")"
	case h.Status == StatusFailed:
		return "fails" + ignoredNote(h.Ignored) + " (" + h.Msg + ")"
	case h.Status == StatusUnreachable:
		return "is unreachable" + ignoredNote(h.Ignored)
	}
	return "changes nothing"
}

func short(s string) string {
	if s == "" {
		return "none"
	}
	return s[:min(12, len(s))]
}
