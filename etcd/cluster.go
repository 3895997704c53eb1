package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// tryNext makes err one the engine answers by trying the next target,
// with err's own words (ErrTryNext's "target did not answer" would be
// wrong for a certificate problem).
type tryNext struct{ err error }

// Cluster is the cluster as one module call read it.
type Cluster struct {
	// URL is the client URL that answered the member list, Client its
	// client.
	URL    string
	Client Client
	// ID is the cluster ID; Members the member list, sorted by name
	// (unstarted members, which have no name, last).
	ID      uint64
	Members []*etcdserverpb.Member
	// NoQuorum is set when the list came from the answering member alone
	// (a serializable read) because the cluster did not answer a
	// linearizable one.
	NoQuorum bool
}

// Names are the started members' names, comma-separated, for messages.
func (cl *Cluster) Names() string {
	var names []string
	for _, m := range cl.Members {
		if m.Name != "" {
			names = append(names, m.Name)
		}
	}
	return strings.Join(names, ", ")
}

// members reads the member list through the first of urls that answers.
// A URL that does not answer is skipped with a note; when none answers,
// the error says why for each. A member that answers only a local read is
// used too, with NoQuorum set, so a gate can still show the arithmetic of
// a cluster that lost quorum.
func (s *Session) Members(ctx context.Context, urls []string) (*Cluster, error) {
	var notes []string
	var errs []error
	var local *Cluster
	var tlsErrs []*TLSError
	for i, u := range urls {
		c, probed, err := s.reach(ctx, u)
		if err == nil {
			var resp *clientv3.MemberListResponse
			resp, err = listIfLed(ctx, c, u)
			if err == nil {
				cl := newEtcdCluster(u, c, resp, false)
				s.observeMembers(cl)
				return cl, nil
			}
			if why := s.whyFailed(ctx, u, probed, err); why != err {
				c, err = nil, why // not reached at all: no local read either
			}
		}
		if c != nil {
			if local == nil && ctx.Err() == nil {
				rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
				if r, lerr := c.MemberList(rctx, clientv3.WithSerializable()); lerr == nil {
					local = newEtcdCluster(u, c, r, true)
				}
				cancel()
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if te := AsTLSError(err); te != nil {
			tlsErrs = append(tlsErrs, te)
			notes = append(notes, te.Error())
			if i < len(urls)-1 {
				s.Warnf("%s; trying the next endpoint", te)
			}
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: %s", u, ShortErr(err)))
		errs = append(errs, err)
		if i < len(urls)-1 {
			s.Warnf("etcd at %s did not answer (%s); trying the next endpoint", u, ShortErr(err))
		}
	}
	if local != nil {
		s.observeMembers(local)
		return local, nil
	}
	if len(tlsErrs) == len(urls) {
		// Every endpoint answered, and none over TLS as configured.
		return nil, joinTLSErrors(tlsErrs)
	}
	return nil, &ReadError{notes: notes, errs: errs}
}

// listIfLed is the member list of the member at u, read linearizably,
// or ErrNoLeader when the member has no leader. A linearizable read of a
// member without a leader waits out its whole timeout; so the list is
// asked for while hasLeader looks, and after an election's time without
// a leader the list is given up: the member's own view is all there is.
// Asked at once, the two cost one request's time, not two.
func listIfLed(ctx context.Context, c Client, u string) (*clientv3.MemberListResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type list struct {
		resp *clientv3.MemberListResponse
		err  error
	}
	lists := make(chan list, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		defer cancel()
		resp, err := c.MemberList(rctx)
		lists <- list{resp, err}
	}()
	led := make(chan bool, 1)
	go func() { led <- hasLeader(ctx, c, u) }()
	select {
	case l := <-lists:
		if l.err == nil {
			return l.resp, nil // a linearizable answer: there was a leader
		}
		if !<-led {
			return nil, rpctypes.ErrNoLeader
		}
		return nil, l.err
	case ok := <-led:
		if !ok {
			return nil, rpctypes.ErrNoLeader
		}
		l := <-lists
		return l.resp, l.err
	}
}

// leaderWait is how long a member may be without a leader before it is
// taken to have none: longer than an election (etcd's default election
// timeout is 1s), so that a leader change is not mistaken for lost
// quorum.
const leaderWait = 1500 * time.Millisecond

// hasLeader reports whether the member at u knows a leader, waiting up to
// leaderWait for one; a member whose status cannot be read counts as
// having one (the read that follows says what is wrong).
func hasLeader(ctx context.Context, c Client, u string) bool {
	deadline := time.Now().Add(leaderWait)
	for {
		rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
		st, err := c.Status(rctx, u)
		cancel()
		if err != nil || st.Leader != 0 {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ReadError is a member list that no endpoint gave: what each said, and
// what would open a way to them when the ways were closed.
type ReadError struct {
	notes []string
	errs  []error
}

func (e *ReadError) Error() string {
	msg := "no etcd endpoint answered: " + strings.Join(e.notes, "; ")
	var fixes []string
	for _, err := range e.errs {
		if pe := AsPathError(err); pe != nil && !slices.Contains(fixes, pe.Fix()) {
			fixes = append(fixes, pe.Fix())
		}
	}
	if len(fixes) > 0 {
		msg += ". To open a way: " + strings.Join(fixes, "; ")
	}
	return msg
}

func (e *ReadError) Unwrap() []error { return e.errs }

func newEtcdCluster(u string, c Client, resp *clientv3.MemberListResponse, noQuorum bool) *Cluster {
	ms := slices.Clone(resp.Members)
	sort.SliceStable(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if (a.Name == "") != (b.Name == "") {
			return a.Name != ""
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	var id uint64
	if resp.Header != nil {
		id = resp.Header.ClusterId
	}
	return &Cluster{URL: u, Client: c, ID: id, Members: ms, NoQuorum: noQuorum}
}

// Member is a member as the etcd API returns it.
type Member = etcdserverpb.Member

// MemberStatus is what one member said about itself, or why it did not.
type MemberStatus struct {
	Member *etcdserverpb.Member
	URL    string // the client URL that answered
	Status *clientv3.StatusResponse
	Err    error
}

// statuses asks every member for its status, concurrently, through its
// client URLs in order.
func (s *Session) Statuses(ctx context.Context, members []*etcdserverpb.Member) []MemberStatus {
	out := make([]MemberStatus, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		out[i].Member = m
		if len(m.ClientURLs) == 0 {
			out[i].Err = ErrNeverStarted
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.Status(ctx, m)
		}()
	}
	wg.Wait()
	s.observeStatuses(out)
	return out
}

// observeMembers records, for a plan, the cluster and its members as a
// member list says them.
func (s *Session) observeMembers(cl *Cluster) {
	if s.Observe == nil {
		return
	}
	s.Observe("cluster id", fmt.Sprintf("%x", cl.ID))
	if cl.NoQuorum {
		s.Observe("cluster quorum", "none: only "+cl.URL+"'s own view could be read")
	} else {
		s.Observe("cluster quorum", "answers linearizable reads")
	}
	for _, m := range cl.Members {
		mi := InfoOf(m, 0)
		role := "voter"
		if m.IsLearner {
			role = "learner"
		}
		client := strings.Join(m.ClientURLs, ",")
		if !mi.Started() {
			client = "none (never started)"
		}
		s.Observe("member "+mi.Label(), fmt.Sprintf("id %x, %s, peer %s, client %s", m.ID, role, strings.Join(m.PeerURLs, ","), client))
	}
}

// observeStatuses records, for a plan, what each member said of itself:
// whether it answers, with a leader, its etcd version; the leader and
// the revision only inform (what depends on them shows in the steps).
func (s *Session) observeStatuses(sts []MemberStatus) {
	if s.Observe == nil {
		return
	}
	names := map[uint64]string{}
	for _, st := range sts {
		names[st.Member.ID] = InfoOf(st.Member, 0).Label()
	}
	var rev int64
	for _, st := range sts {
		key := "member " + names[st.Member.ID] + " status"
		switch {
		case errors.Is(st.Err, ErrNeverStarted):
			s.Observe(key, "never started")
		case st.Err != nil:
			s.Observe(key, "does not answer")
		case st.Status.Leader == 0:
			s.Observe(key, "answers, no leader, etcd "+st.Status.Version)
		default:
			s.Observe(key, "answers, etcd "+st.Status.Version)
			if rev == 0 && st.Status.Header != nil {
				rev = st.Status.Header.Revision
			}
		}
	}
	if lead := LeaderOf(sts); lead != 0 && s.ObserveInfo != nil {
		name, ok := names[lead]
		if !ok {
			name = fmt.Sprintf("%x (not a member)", lead)
		}
		s.ObserveInfo("cluster leader", name)
	}
	if rev != 0 && s.ObserveInfo != nil {
		s.ObserveInfo("cluster revision", fmt.Sprint(rev))
	}
}

var ErrNeverStarted = errors.New("never started")

func (s *Session) Status(ctx context.Context, m *etcdserverpb.Member) MemberStatus {
	ms := MemberStatus{Member: m}
	for _, u := range m.ClientURLs {
		c, probed, err := s.reach(ctx, u)
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
			var st *clientv3.StatusResponse
			st, err = c.Status(rctx, u)
			cancel()
			if err == nil {
				ms.URL, ms.Status, ms.Err = u, st, nil
				return ms
			}
			err = s.whyFailed(ctx, u, probed, err)
		}
		ms.Err = err
	}
	return ms
}

// View turns the member list and statuses into what the quorum gate
// counts: a member is healthy when it answered and sees a leader that is
// a member of the cluster.
func (cl *Cluster) View(sts []MemberStatus) View {
	ids := map[uint64]bool{}
	for _, s := range sts {
		ids[s.Member.ID] = true
	}
	var q View
	for _, s := range sts {
		m := MemberHealth{ID: s.Member.ID, Name: s.Member.Name, Learner: s.Member.IsLearner}
		switch {
		case errors.Is(s.Err, ErrNeverStarted):
			m.Why = "never started"
		case s.Err != nil:
			m.Why = DownWhy(s.Err)
		case s.Status.Leader == 0:
			m.Why = "has no leader"
		case !ids[s.Status.Leader]:
			m.Why = fmt.Sprintf("follows %x, which is not a member", s.Status.Leader)
		default:
			m.Healthy = true
		}
		q.Members = append(q.Members, m)
	}
	q.HasQuorum = !cl.NoQuorum
	return q
}

// DownWhy says why a member's status could not be read: it is down, or
// it could not be asked over TLS.
func DownWhy(err error) string {
	if te := AsTLSError(err); te != nil {
		return "cannot be asked (" + te.Error() + ")"
	}
	return "is down (" + ShortErr(err) + ")"
}

// ShortErr is the part of an etcd client error an operator needs: gRPC
// wraps dial failures in several layers.
func ShortErr(err error) string {
	if err == nil {
		return ""
	}
	if te := AsTLSError(err); te != nil {
		return te.Error()
	}
	if pe := AsPathError(err); pe != nil {
		return pe.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	msg := err.Error()
	for _, p := range []string{"connection refused", "no route to host", "connection reset by peer", "i/o timeout"} {
		if strings.Contains(strings.ToLower(msg), p) {
			return p
		}
	}
	if i := strings.Index(msg, "TLS handshake with "); i >= 0 {
		return msg[i:]
	}
	if i := strings.Index(msg, "desc = "); i >= 0 {
		msg = msg[i+len("desc = "):]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// MemberInfo is a member as the modules report it.
type MemberInfo struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
	IsLeader   bool
}

func InfoOf(m *etcdserverpb.Member, leader uint64) MemberInfo {
	return MemberInfo{
		ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs,
		IsLearner: m.IsLearner, IsLeader: leader != 0 && m.ID == leader,
	}
}

// started says whether the member ever started: an added member has no
// name until it starts and publishes one.
func (m MemberInfo) Started() bool { return m.Name != "" }

// data is the member as result data: the ID in hex as etcdctl prints it.
func (m MemberInfo) Data() map[string]any {
	return map[string]any{
		"id":          fmt.Sprintf("%x", m.ID),
		"name":        m.Name,
		"peer_urls":   NonNil(m.PeerURLs),
		"client_urls": NonNil(m.ClientURLs),
		"is_learner":  m.IsLearner,
		"started":     m.Started(),
		"is_leader":   m.IsLeader,
	}
}

func (m MemberInfo) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("unstarted member %x", m.ID)
}

func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SameURLs reports whether two URL lists hold the same URLs, in any order.
func SameURLs(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// FindMember finds a member by name, hex ID or peer URL ("" matches none).
func FindMember(ms []*etcdserverpb.Member, name, id, peer string) *etcdserverpb.Member {
	for _, m := range ms {
		switch {
		case name != "" && m.Name == name,
			id != "" && fmt.Sprintf("%x", m.ID) == strings.TrimPrefix(strings.ToLower(id), "0x"),
			peer != "" && slices.Contains(m.PeerURLs, peer):
			return m
		}
	}
	return nil
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

// OpenLocked is Open for a module that changes the membership: the run
// holds the cluster's lock before the module reads anything else (the
// statuses its gate counts). A lock the cluster cannot give (no quorum)
// is a refusal: no membership change could commit either.
func OpenLocked(ctx context.Context, c *engine.ClusterCall, a *ConnArgs, what string) (*Session, *Cluster, error) {
	s, cl, err := Open(ctx, c, a)
	if err != nil {
		return nil, nil, err
	}
	if err := Lock(ctx, c.HostCall, s, cl); err != nil {
		return nil, nil, lockFailure(ctx, s, cl, err, what, lastTarget(c), func() string {
			return c.CommandFor("free_space", map[string]string{"old": "", "new": "", "member": ""})
		})
	}
	return s, cl, nil
}

// lockFailure is the error of OpenLocked when Lock failed with err
// through cl.URL; last says cl.URL is the call's last target, freeSpace
// is the command that frees a full database.
func lockFailure(ctx context.Context, s *Session, cl *Cluster, err error, what string, last bool, freeSpace func() string) error {
	var le *LockError
	if IsAuthError(err) {
		return engine.BadInput("%s: %v", what, Explain(err))
	}
	if errors.Is(err, rpctypes.ErrNoSpace) || strings.Contains(err.Error(), rpctypes.ErrNoSpace.Error()) {
		return engine.Refuse("%s: the cluster raised NOSPACE (its database reached the quota) and takes no writes, so not the lock either; free the space first: %s", what, freeSpace())
	}
	if errors.As(err, &le) && !last && !answers(ctx, s, cl.URL) {
		// The member the lock went through stopped answering (it was
		// restarted, or its host died): the lock is asked for through
		// the next target, as the member list would be. A lease it
		// granted before going expires by itself.
		return fmt.Errorf("%w: etcd at %s stopped answering while the lock was taken (%s)", engine.ErrTryNext, cl.URL, ShortErr(le.Err))
	}
	if errors.As(err, &le) {
		return engine.Refuse("%s: %v; a membership change needs a cluster that answers writes", what, le)
	}
	return err
}

// answers says whether the member at u answers a status now.
func answers(ctx context.Context, s *Session, u string) bool {
	c, probed, err := s.reach(ctx, u)
	if err == nil {
		rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
		_, err = c.Status(rctx, u)
		cancel()
		err = s.whyFailed(ctx, u, probed, err)
	}
	return err == nil
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

func (m *MemberArg) Validate() error {
	n := 0
	for _, s := range []string{m.Name, m.ID, m.PeerURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("name the member with exactly one of name=, id= (hex, as member_list shows it) or peer_url=")
	}
	if m.PeerURL != "" {
		if msg := CheckURL(m.PeerURL); msg != "" {
			return fmt.Errorf("peer_url: %s", msg)
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

func (e tryNext) Error() string { return e.err.Error() }

func (e tryNext) Unwrap() error { return e.err }

func (e tryNext) Is(target error) bool { return target == engine.ErrTryNext }
