package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// A run that records a plan (Config.Record: etcdplay run --check
// --plan-out) records every module call of the playbook's main as a step:
// its module, position, targets and arguments, and on each host what it
// would change (the effects of its actions, the diffs of its files); and
// what the modules read of the cluster and the hosts (HostCall.Observe).
//
// A run that follows a plan (Config.Follow: etcdplay run --apply) checks
// each call against the plan's next step before any host is contacted
// (the same module, position, targets and arguments), and each host's
// actions after its Plan and before they run: an action whose effect the
// plan's step does not have on that host is refused, and so the run stops
// before it acts. An effect the plan has that a host does not need any
// more (etcd had stopped by itself) is no deviation: nothing else is done.
// A run that ends before the plan's last step ends refused too. The calls
// of on_failure's functions are outside the plan.

// stepState is the plan step of one call of main, as it runs.
type stepState struct {
	rec  PlanStep  // what this run records
	want *PlanStep // the plan's step, when the run follows a plan
}

// inPlan reports whether the calls made now are steps of a plan: the run
// records or follows one, and no on_failure function is running.
func (r *runner) inPlan() bool {
	if r.cfg.Record == nil && r.cfg.Follow == nil {
		return false
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	return !r.quiet && !r.undoing
}

// beginStep starts the plan step of a call: recorded, or checked against
// the plan's next one, before any host is contacted. args gives each
// target host's arguments (a cluster module's are the same for all, under
// ""). It returns nil when the call is no step of a plan.
func (r *runner) beginStep(module, pos string, cluster bool, targets []*Host, args map[string]string) (*stepState, error) {
	if !r.inPlan() {
		return nil, nil
	}
	r.planMu.Lock()
	r.stepN++
	n := r.stepN
	r.planMu.Unlock()
	s := &stepState{rec: PlanStep{N: n, Module: module, Pos: pos, Cluster: cluster, Args: args[""]}}
	for _, h := range targets {
		s.rec.Targets = append(s.rec.Targets, h.Name())
	}
	if r.cfg.Follow == nil {
		return s, nil
	}
	if n > len(r.cfg.Follow) {
		return nil, Refuse("the run goes on past the plan's last step (%d) to %s at %s on %s, which the plan does not have: refused before it acts; nothing of it was done",
			len(r.cfg.Follow), module, pos, strings.Join(s.rec.Targets, ", "))
	}
	s.want = &r.cfg.Follow[n-1]
	w := s.want
	var diffs []string
	if w.Module != module || w.Pos != pos {
		diffs = append(diffs, fmt.Sprintf("the plan has %s at %s, the run calls %s at %s", w.Module, w.Pos, module, pos))
	} else {
		if !slices.Equal(w.Targets, s.rec.Targets) {
			diffs = append(diffs, fmt.Sprintf("its targets were %s and are %s", strings.Join(w.Targets, ", "), strings.Join(s.rec.Targets, ", ")))
		}
		if cluster && w.Args != args[""] {
			diffs = append(diffs, fmt.Sprintf("its arguments were %s and are %s", w.Args, args[""]))
		}
		if !cluster {
			for _, h := range w.Hosts {
				if now, ok := args[h.Host]; ok && h.Args != "" && now != h.Args {
					diffs = append(diffs, fmt.Sprintf("on %s its arguments were %s and are %s", h.Host, h.Args, now))
				}
			}
		}
	}
	if len(diffs) > 0 {
		return nil, Refuse("the run leaves the plan at step %d: %s; refused before the step acts (the steps before it are the plan's)", n, strings.Join(diffs, "; "))
	}
	return s, nil
}

// guard checks one host's actions against the plan's step before they
// run: each must have an effect the plan's step has on that host.
func (s *stepState) guard(host string, planned []PlanAction) error {
	if s == nil || s.want == nil || len(planned) == 0 {
		return nil
	}
	var want *PlanHostStep
	for i := range s.want.Hosts {
		if s.rec.Cluster || s.want.Hosts[i].Host == host {
			want = &s.want.Hosts[i]
			break
		}
	}
	var left []string
	if want != nil {
		for _, a := range want.Actions {
			left = append(left, a.Effect)
		}
	}
	has := "it plans nothing there"
	if len(left) > 0 {
		has = "it has: " + strings.Join(left, "; ")
	}
	for _, a := range planned {
		i := slices.Index(left, a.Effect)
		if i < 0 {
			where := " on " + host
			if s.rec.Cluster {
				where = ""
			}
			return Refuse("step %d (%s at %s)%s would %s, which the plan does not have (%s): refused before it acts",
				s.rec.N, s.rec.Module, s.rec.Pos, where, a.Effect, has)
		}
		left = slices.Delete(left, i, i+1)
	}
	return nil
}

// endStep records how the call ended on each host: results are the
// call's, in target order; args each host's arguments.
func (r *runner) endStep(s *stepState, results []*HostResult, o *callOptions, args map[string]string) {
	if s == nil || r.cfg.Record == nil {
		return
	}
	r.resMu.Lock()
	for _, hr := range results {
		if hr == nil {
			continue
		}
		h := PlanHostStep{Status: hr.Status, Ignored: r.ignored(o, hr), Actions: hr.planned}
		if !s.rec.Cluster {
			h.Host, h.Args = hr.Host.Name(), args[hr.Host.Name()]
		}
		switch hr.Status {
		case StatusSkipped, StatusFailed:
			// Why, in a word; an unreachable host's error depends on
			// timing (refused, timed out, no route) and is left out.
			h.Msg = firstLine(hr.Msg)
		}
		s.rec.Hosts = append(s.rec.Hosts, h)
	}
	r.resMu.Unlock()
	r.planMu.Lock()
	r.cfg.Record.Steps = append(r.cfg.Record.Steps, s.rec)
	r.planMu.Unlock()
}

// followedAll is the refusal of a run that ended, without an error,
// before the plan it follows did.
func (r *runner) followedAll() error {
	if r.cfg.Follow == nil {
		return nil
	}
	r.planMu.Lock()
	n := r.stepN
	r.planMu.Unlock()
	if n >= len(r.cfg.Follow) {
		return nil
	}
	next := r.cfg.Follow[n]
	return &Error{Err: Refuse("the run ended after step %d of the plan's %d: step %d (%s at %s on %s) and those after it did not run, so the cluster is not as the plan says",
		n, len(r.cfg.Follow), next.N, next.Module, next.Pos, strings.Join(next.Targets, ", "))}
}

// plannedActions are a plan's actions as a plan file records them, with
// their diffs.
func (r *runner) plannedActions(host string, p Plan) []PlanAction {
	if len(p.Actions) == 0 {
		return nil
	}
	out := make([]PlanAction, len(p.Actions))
	for i, a := range p.Actions {
		out[i] = PlanAction{Effect: r.mask(a.effect())}
		if d := a.Diff; d != nil {
			pd := &PlanDiff{Path: d.Path, Omitted: d.Omitted}
			if !d.Secret {
				pd.Before, pd.After = sum(d.Before), sum(d.After)
				if d.Omitted == "" {
					pd.Text = r.mask(d.unified(host))
				}
			}
			out[i].Diff = pd
		}
	}
	return out
}

// effect is the action's Effect, or its Desc.
func (a Action) effect() string {
	if a.Effect != "" {
		return a.Effect
	}
	return a.Desc
}

// sum is the sha256 of content in hex, "" for none (a file that does
// not exist).
func sum(b []byte) string {
	if b == nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wouldFile is a file an action of a check run would have written (or
// removed: gone).
type wouldFile struct {
	content []byte
	known   bool // the content is shown (not a secret, a binary)
	gone    bool
}

// noteWrites notes, in check mode, the files a plan's actions would
// change, for WouldHave.
func (r *runner) noteWrites(host string, p Plan) {
	if !r.cfg.Check {
		return
	}
	for _, a := range p.Actions {
		if a.Diff != nil {
			r.noteWrite(host, a.Diff)
		}
	}
}

func (r *runner) noteWrite(host string, d *FileDiff) {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	if r.would == nil {
		r.would = map[string]map[string]wouldFile{}
	}
	if r.would[host] == nil {
		r.would[host] = map[string]wouldFile{}
	}
	f := wouldFile{content: d.After, known: d.After != nil && !d.Secret}
	if d.After == nil && d.Omitted == "" {
		f = wouldFile{gone: true}
	}
	r.would[host][d.Path] = f
}

// WouldHave says, in check mode, what an earlier call of this run would
// have left at path on the call's host: check mode changes nothing, so a
// module whose step comes after one that writes a file (the unit file
// install_etcd writes, an etcd.conf written twice) plans as the run will
// find it. ok is false when no earlier call changes path; gone is set
// when one removes it; content is what one writes, when known (it is not
// for secrets and binaries). Outside check mode ok is false: the file is
// there or it is not.
func (c *HostCall) WouldHave(path string) (content []byte, known, gone, ok bool) {
	if !c.Check {
		return nil, false, false, false
	}
	c.r.planMu.Lock()
	defer c.r.planMu.Unlock()
	f, ok := c.r.would[c.Host.Name][path]
	return f.content, f.known, f.gone, ok
}

// Observe records, in a run that records a plan, what the call read of
// the cluster or its host that the plan rests on: key names the thing
// ("member etcd-2", "etcd-4 data dir /var/lib/etcd/etcd-4.etcd"), value
// what it is. etcdplay run --apply reads again first and refuses when a
// value differs. The first reading of a key in a run counts. In other
// runs it does nothing.
func (c *HostCall) Observe(key, value string) { c.r.observe(key, value, false) }

// ObserveInfo is Observe for what a plan shows without resting on it
// directly (the cluster's revision, its leader): what depends on it shows
// in the steps, which --apply compares.
func (c *HostCall) ObserveInfo(key, value string) { c.r.observe(key, value, true) }

func (r *runner) observe(key, value string, informs bool) {
	if r.cfg.Record == nil || !r.inPlan() {
		return
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	if r.observed == nil {
		r.observed = map[string]PlanState{}
	}
	if _, ok := r.observed[key]; !ok {
		r.observed[key] = PlanState{Key: key, Value: r.mask(value), Informs: informs}
	}
}

// finishRecord completes the plan record at the end of the run: what was
// observed, by key, and the playbook's files.
func (r *runner) finishRecord() {
	rec := r.cfg.Record
	if rec == nil {
		return
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	rec.State = nil
	for _, s := range r.observed {
		rec.State = append(rec.State, s)
	}
	sort.Slice(rec.State, func(i, j int) bool { return rec.State[i].Key < rec.State[j].Key })
	rec.Files = r.loader.sums()
}

// argText is a call's arguments as a plan shows and compares them:
// positional ones first, then name=value in the order given; secrets
// masked, long or multi-line strings by their size and hash.
func (r *runner) argText(args starlark.Tuple, kwargs []starlark.Tuple) string {
	var parts []string
	for _, v := range args {
		parts = append(parts, valueText(v, 0))
	}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		if SecretName(name) {
			parts = append(parts, name+"=(secret)")
			continue
		}
		parts = append(parts, name+"="+valueText(kv[1], 0))
	}
	return r.mask(strings.Join(parts, ", "))
}

// valueText is v as argText shows it.
func valueText(v starlark.Value, depth int) string {
	if depth > 8 {
		return "..."
	}
	join := func(it starlark.Iterable, open, close string) string {
		var xs []string
		iter := it.Iterate()
		defer iter.Done()
		var x starlark.Value
		for iter.Next(&x) {
			xs = append(xs, valueText(x, depth+1))
		}
		return open + strings.Join(xs, ", ") + close
	}
	switch v := v.(type) {
	case starlark.String:
		s := string(v)
		switch {
		case strings.Contains(s, "PRIVATE KEY"):
			return fmt.Sprintf("<secret: %d bytes>", len(s))
		case len(s) > 160 || strings.Contains(s, "\n"):
			return fmt.Sprintf("<%d bytes, sha256 %.12s>", len(s), sum([]byte(s)))
		}
		return v.String()
	case *Host:
		return v.Name()
	case *starlark.Dict:
		var xs []string
		for _, it := range v.Items() {
			xs = append(xs, valueText(it[0], depth+1)+": "+valueText(it[1], depth+1))
		}
		return "{" + strings.Join(xs, ", ") + "}"
	case *starlark.List:
		return join(v, "[", "]")
	case starlark.Tuple:
		return join(v, "(", ")")
	case *Results:
		return join(v, "[", "]")
	case *HostResult:
		return v.Host.Name()
	case starlark.Callable:
		return "<function " + v.Name() + ">"
	}
	return v.String()
}

// SecretName says whether a variable's or an argument's name says it
// holds a secret: a password, passwd, secret or token, but not a file
// that holds one (etcd_password_file is a path).
func SecretName(k string) bool {
	lk := strings.ToLower(k)
	if strings.HasSuffix(lk, "_file") || strings.HasSuffix(lk, "_path") {
		return false
	}
	return strings.Contains(lk, "password") || strings.Contains(lk, "passwd") || strings.Contains(lk, "secret") || strings.HasSuffix(lk, "_token")
}
