package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// tlsFor loads the TLS configuration the connection arguments ask for, from
// the control machine or (tls_from_host) from the host of c; nil when no
// TLS file is given. A local file that is missing or wrong is bad input,
// found before etcd is dialled.
func tlsFor(ctx context.Context, c *engine.HostCall, a *ConnArgs) (*tls.Config, TLSFiles, error) {
	f := a.TLSFilesOf(c.Host)
	if !f.any() {
		return nil, f, nil
	}
	read := func(ctx context.Context, p string) ([]byte, error) { return readLocal(c.LocalPath(p)) }
	if f.FromHost {
		read = func(ctx context.Context, p string) ([]byte, error) { return c.ReadFile(ctx, p) }
	}
	origin := func(role string) string {
		byArg := map[string]string{"cacert": a.CACert, "cert": a.Cert, "key": a.Key}
		byVar := map[string]string{"cacert": VarCACert, "cert": VarCert, "key": VarKey}
		if byArg[role] != "" {
			return ""
		}
		return " (variable " + byVar[role] + " of " + c.Host.Name + ")"
	}
	cfg, err := loadTLS(ctx, f, read, origin)
	if err != nil {
		if f.FromHost {
			return nil, f, fmt.Errorf("%w (read on %s, as %s asks)", err, c.Host.Name, tlsFromHostSource(a, c.Host))
		}
		var in *engine.InputError
		if errors.As(err, &in) {
			return nil, f, err
		}
		return nil, f, engine.BadInput("%v (on the control machine: a relative path is from the playbook's directory; tls_from_host=True reads the files on the member hosts)", err)
	}
	return cfg, f, nil
}

func tlsFromHostSource(a *ConnArgs, h *inventory.Host) string {
	if a.TLSFromHost.Set {
		return "tls_from_host=True"
	}
	return "the variable " + VarTLSFromHost + " of " + h.Name
}

// ClusterSession is the session of a cluster module's call: member client
// URLs are dialled through the SSH connection of the target host whose
// client URL it is, and any other URL (a member not among the targets)
// through the host that answered.
func ClusterSession(ctx context.Context, c *engine.ClusterCall, a *ConnArgs) (*Session, string, error) {
	tlsCfg, files, err := tlsFor(ctx, c.HostCall, a)
	if err != nil {
		return nil, "", err
	}
	tlsOn := tlsCfg != nil
	direct := a.DialDirect(c.Host)
	byURL := map[string]*inventory.Host{}
	for _, h := range c.Targets {
		byURL[ClientURL(h, tlsOn)] = h
	}
	route := func(ctx context.Context, u string) (dialFunc, string, error) {
		if direct {
			return nil, "directly", nil
		}
		if h, ok := byURL[u]; ok && h != c.Host {
			if hc, err := c.Connect(ctx, h); err == nil {
				if d, err := sshDial(h.Name, hc.Conn); err == nil {
					return d, "through " + h.Name, nil
				}
			}
		}
		d, err := sshDial(c.Host.Name, c.Conn)
		return d, "through " + c.Host.Name, err
	}
	s := NewSession(ctx, tlsCfg, route)
	s.Files = files
	s.Warn, s.Progress = c.Warn, c.Progress
	return s, ClientURL(c.Host, tlsOn), nil
}

// HostSession is the session of a host module that reads the cluster
// (a quorum gate): every client URL is dialled through the host's own SSH
// connection, or directly.
func HostSession(ctx context.Context, c *engine.HostCall, a *ConnArgs) (*Session, bool, error) {
	tlsCfg, files, err := tlsFor(ctx, c, a)
	if err != nil {
		return nil, false, err
	}
	tlsOn := tlsCfg != nil
	direct := a.DialDirect(c.Host)
	route := func(ctx context.Context, u string) (dialFunc, string, error) {
		if direct {
			return nil, "directly", nil
		}
		d, err := sshDial(c.Host.Name, c.Conn)
		return d, "through " + c.Host.Name, err
	}
	s := NewSession(ctx, tlsCfg, route)
	s.Files = files
	s.Warn, s.Progress = c.Warn, c.Progress
	return s, tlsOn, nil
}

// readCluster reads the member list through the target that answered the
// call. When etcd there does not answer, or answers only for itself (no
// quorum) while more targets remain, the engine is asked to try the next.
// A certificate problem is said as one: another target may have the
// certificate that works, so it is tried next, but the last target fails
// with it rather than as one more that "did not answer".
func readCluster(ctx context.Context, c *engine.ClusterCall, s *Session, url string) (*Cluster, error) {
	cl, err := s.Members(ctx, []string{url})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if te := AsTLSError(err); te != nil {
			if lastTarget(c) {
				return nil, te
			}
			return nil, tryNext{te}
		}
		return nil, fmt.Errorf("%w: etcd at %s: %v", engine.ErrTryNext, url, strings.TrimPrefix(err.Error(), "no etcd endpoint answered: "+url+": "))
	}
	if cl.NoQuorum && !lastTarget(c) {
		return nil, fmt.Errorf("%w: etcd at %s answers but has no quorum", engine.ErrTryNext, url)
	}
	return cl, nil
}

// Open is the first step of every cluster module: a session
// through the answering target and the cluster's member list read there.
func Open(ctx context.Context, c *engine.ClusterCall, a *ConnArgs) (*Session, *Cluster, error) {
	s, url, err := ClusterSession(ctx, c, a)
	if err != nil {
		return nil, nil, err
	}
	cl, err := readCluster(ctx, c, s, url)
	if err != nil {
		return nil, nil, err
	}
	return s, cl, nil
}

func lastTarget(c *engine.ClusterCall) bool {
	return len(c.Targets) == 0 || c.Targets[len(c.Targets)-1] == c.Host
}

// SetMembers records the member table in the result.
func SetMembers(set func(string, any), cl *Cluster, leader uint64) []MemberInfo {
	var infos []MemberInfo
	var data []any
	for _, m := range cl.Members {
		mi := InfoOf(m, leader)
		infos = append(infos, mi)
		data = append(data, mi.Data())
	}
	if data == nil {
		data = []any{}
	}
	set("members", data)
	set("cluster_id", fmt.Sprintf("%x", cl.ID))
	return infos
}

// LeaderOf returns the leader the statuses agree on, 0 when none answered
// or they disagree.
func LeaderOf(sts []MemberStatus) uint64 {
	var leader uint64
	for _, s := range sts {
		if s.Status == nil || s.Status.Leader == 0 {
			continue
		}
		if leader != 0 && s.Status.Leader != leader {
			return 0
		}
		leader = s.Status.Leader
	}
	return leader
}

// MemberArg is how a module names the member it acts on: by name (a
// member name, or an inventory host whose etcd_name it is), by hex ID, or
// by peer URL.
type MemberArg struct {
	Name    string
	ID      string
	PeerURL string
}

func (m *MemberArg) Pairs() []any {
	return []any{"name?", &m.Name, "id?", &m.ID, "peer_url?", &m.PeerURL}
}

func (m *MemberArg) Validate(module string) error {
	n := 0
	for _, s := range []string{m.Name, m.ID, m.PeerURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%s: name the member with exactly one of name=, id= (hex, as member_list shows it) or peer_url=", module)
	}
	if m.PeerURL != "" {
		if msg := CheckURL(m.PeerURL); msg != "" {
			return fmt.Errorf("%s: peer_url: %s", module, msg)
		}
	}
	return nil
}

func (m *MemberArg) String() string {
	switch {
	case m.Name != "":
		return m.Name
	case m.ID != "":
		return "member " + m.ID
	}
	return "the member with peer URL " + m.PeerURL
}

func (m *MemberArg) Find(ms []*Member) *Member {
	return FindMember(ms, m.Name, m.ID, m.PeerURL)
}

// Gate turns a quorum verdict into the module's answer: nil when the
// step is safe (its warning sent), a refusal otherwise, or, with force, a
// warning that the refusal was overridden.
func Gate(v Verdict, force bool, warn func(string, ...any)) error {
	if v.Safe {
		if v.Warning != "" && warn != nil {
			warn("%s", v.Warning)
		}
		return nil
	}
	if force {
		if warn != nil {
			warn("force=True overrides the quorum gate: %s", strings.TrimSuffix(v.Msg, ", or force=True to override."))
		}
		return nil
	}
	return engine.Refuse("%s", v.Msg)
}

// IsRefused reports whether err is a safety refusal.
func IsRefused(err error) bool {
	var r *engine.RefusedError
	return errors.As(err, &r)
}

// hostsOf turns a list of Starlark hosts (or names) into inventory hosts.
func namesOf(hs []*inventory.Host) []string {
	var ns []string
	for _, h := range hs {
		ns = append(ns, h.Name)
	}
	return slices.Clip(ns)
}
