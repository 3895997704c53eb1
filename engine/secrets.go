package engine

import (
	"strings"
)

// Secret says that s must never be shown: the run's events (text, JSON,
// diffs, recaps) have it masked from here on. A password the etcd layer
// read, a value of the command line that names one.
func (c *HostCall) Secret(s string) { c.r.addSecret(s) }

// masked replaces a secret in output.
const masked = "***"

func (r *runner) addSecret(s string) {
	if len(s) < 3 {
		return // masking two letters everywhere would garble output
	}
	r.secretMu.Lock()
	defer r.secretMu.Unlock()
	for _, x := range r.secrets {
		if x == s {
			return
		}
	}
	r.secrets = append(r.secrets, s)
}

// mask is s with the run's secrets masked.
func (r *runner) mask(s string) string { return maskWith(r.secretList(), s) }

// secretList is the run's secrets so far (addSecret only appends).
func (r *runner) secretList() []string {
	r.secretMu.Lock()
	defer r.secretMu.Unlock()
	return r.secrets
}

func maskWith(secrets []string, s string) string {
	for _, x := range secrets {
		s = strings.ReplaceAll(s, x, masked)
	}
	return s
}

// redact masks the run's secrets in e, reading them once.
func (r *runner) redact(e *Event) {
	secrets := r.secretList()
	if len(secrets) == 0 {
		return
	}
	mask := func(s string) string { return maskWith(secrets, s) }
	e.Msg, e.Stdout, e.Stderr, e.Diffs, e.Backtrace = mask(e.Msg), mask(e.Stdout), mask(e.Stderr), mask(e.Diffs), mask(e.Backtrace)
	if e.Data != nil {
		d := make(map[string]any, len(e.Data))
		for k, v := range e.Data {
			d[k] = maskValue(v, mask)
		}
		e.Data = d
	}
	if e.Recap != nil {
		rec := *e.Recap
		rec.Error = mask(rec.Error)
		rec.Recovery = nil
		for _, n := range e.Recap.Recovery {
			rec.Recovery = append(rec.Recovery, mask(n))
		}
		rec.Hosts = nil
		for _, h := range e.Recap.Hosts {
			h.Dropped = mask(h.Dropped)
			rec.Hosts = append(rec.Hosts, h)
		}
		e.Recap = &rec
	}
}

func maskValue(v any, mask func(string) string) any {
	switch v := v.(type) {
	case string:
		return mask(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = mask(s)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = maskValue(x, mask)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = maskValue(x, mask)
		}
		return out
	}
	return v
}
