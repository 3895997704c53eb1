package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.starlark.net/starlark"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// Client is the part of the etcd v3 client the modules use. *clientv3.Client
// satisfies it; Plan tests can use fakes.
type Client interface {
	MemberList(ctx context.Context, opts ...clientv3.OpOption) (*clientv3.MemberListResponse, error)
	MemberAdd(ctx context.Context, peerAddrs []string) (*clientv3.MemberAddResponse, error)
	MemberAddAsLearner(ctx context.Context, peerAddrs []string) (*clientv3.MemberAddResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error)
	MemberUpdate(ctx context.Context, id uint64, peerAddrs []string) (*clientv3.MemberUpdateResponse, error)
	MemberPromote(ctx context.Context, id uint64) (*clientv3.MemberPromoteResponse, error)
	Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)
	Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error)
	SnapshotWithVersion(ctx context.Context) (*clientv3.SnapshotResponse, error)
	Close() error
}

var _ Client = (*clientv3.Client)(nil)

// Timeouts of single requests to one member: long enough for a member on
// a slow disk, short enough that a dead member costs little before the
// next is tried.
const (
	dialTimeout    = 5 * time.Second
	RequestTimeout = 5 * time.Second
	StatusTimeout  = 3 * time.Second
)

// Inventory variables the etcd modules read (each has an argument of the
// same name without the etcd_ prefix that overrides it).
const (
	VarClientURL   = "etcd_client_url"    // this member's client URL; default SCHEME://ADDRESS:PORT
	VarClientPort  = "etcd_client_port"   // default 2379
	VarScheme      = "etcd_client_scheme" // http or https; default https when a CA is given
	VarDirect      = "etcd_direct"        // dial client URLs straight from the control machine
	VarCACert      = "etcd_cacert"
	VarCert        = "etcd_cert"
	VarKey         = "etcd_key"
	VarTLSFromHost = "etcd_tls_from_host" // cacert/cert/key are paths on the member host
	VarName        = "etcd_name"          // the member's name; default the inventory name
	VarPeerURL     = "etcd_peer_url"      // the member's peer URL; default http://ADDRESS:2380
)

// OptBool is a boolean argument that can be left out, so an inventory
// variable decides instead.
type OptBool struct {
	Set, Val bool
}

// Unpack implements starlark.Unpacker.
func (b *OptBool) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		*b = OptBool{}
	case starlark.Bool:
		*b = OptBool{Set: true, Val: bool(v)}
	case starlark.String:
		x, ok := inventory.Bool(string(v))
		if !ok {
			return fmt.Errorf("got %q, want True or False (or yes/no, on/off, 1/0)", string(v))
		}
		*b = OptBool{Set: true, Val: x}
	default:
		return fmt.Errorf("got %s, want True or False", v.Type())
	}
	return nil
}

func (b OptBool) Or(def bool) bool {
	if b.Set {
		return b.Val
	}
	return def
}

// ConnArgs are the arguments every etcd module takes to reach the
// cluster. Each falls back to an inventory variable of the target host.
type ConnArgs struct {
	Direct      OptBool
	CACert      string
	Cert        string
	Key         string
	TLSFromHost OptBool
}

func (a *ConnArgs) Pairs() []any {
	return []any{"direct?", &a.Direct, "cacert?", &a.CACert, "cert?", &a.Cert, "key?", &a.Key, "tls_from_host?", &a.TLSFromHost}
}

// HostVar returns a host variable as a string ("" when unset).
func HostVar(h *inventory.Host, name string) string {
	v, ok := h.Var(name)
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			return fmt.Sprint(v[0])
		}
		return ""
	}
	return fmt.Sprint(v)
}

func HostBool(h *inventory.Host, name string) bool {
	v, ok := h.Var(name)
	if !ok {
		return false
	}
	b, _ := inventory.Bool(v)
	return b
}

// TLSFiles are the TLS file paths to use, from arguments or variables.
type TLSFiles struct {
	CACert, Cert, Key string
	FromHost          bool
	// Host is the host the files are read on when FromHost is set.
	Host string
}

// describe is a file's path as messages show it: with the host it is
// on, when it is not on the control machine.
func (f TLSFiles) describe(p string) string {
	if f.FromHost && f.Host != "" {
		return p + " (on " + f.Host + ")"
	}
	return p
}

func (f TLSFiles) any() bool { return f.CACert != "" || f.Cert != "" || f.Key != "" }

func (a *ConnArgs) TLSFilesOf(h *inventory.Host) TLSFiles {
	pick := func(arg, v string) string {
		if arg != "" {
			return arg
		}
		return HostVar(h, v)
	}
	return TLSFiles{
		CACert:   pick(a.CACert, VarCACert),
		Cert:     pick(a.Cert, VarCert),
		Key:      pick(a.Key, VarKey),
		FromHost: a.TLSFromHost.Or(HostBool(h, VarTLSFromHost)),
		Host:     h.Name,
	}
}

func (a *ConnArgs) DialDirect(h *inventory.Host) bool { return a.Direct.Or(HostBool(h, VarDirect)) }

// MemberName is the etcd member name of an inventory host.
func MemberName(h *inventory.Host) string {
	if n := HostVar(h, VarName); n != "" {
		return n
	}
	return h.Name
}

// ClientURL is the client URL of the etcd member on h.
func ClientURL(h *inventory.Host, tlsOn bool) string {
	if u := HostVar(h, VarClientURL); u != "" {
		return u
	}
	scheme := HostVar(h, VarScheme)
	if scheme == "" {
		scheme = "http"
		if tlsOn {
			scheme = "https"
		}
	}
	port := HostVar(h, VarClientPort)
	if port == "" {
		port = "2379"
	}
	return scheme + "://" + net.JoinHostPort(h.Address(), port)
}

// PeerURL is the peer URL of the etcd member on h.
func PeerURL(h *inventory.Host) string {
	if u := HostVar(h, VarPeerURL); u != "" {
		return u
	}
	return "http://" + net.JoinHostPort(h.Address(), "2380")
}

// loadTLS builds the client TLS configuration from PEM files, read by
// read (local files, or files on the member host). Its errors name the
// file, its role (cacert, cert, key) and, by origin, where the path came
// from, and say what is wrong with it.
func loadTLS(ctx context.Context, f TLSFiles, read func(ctx context.Context, path string) ([]byte, error), origin func(role string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	file := func(role, p string) string { return role + " " + p + origin(role) }
	if f.CACert != "" {
		b, err := read(ctx, f.CACert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file("cacert", f.CACert), pathErr(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificate in it; give the CA certificate that signed etcd's server certificate", file("cacert", f.CACert))
		}
		cfg.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, engine.BadInput("give both cert= and key= for a client certificate (got cert %q, key %q)", f.Cert, f.Key)
	}
	if f.Cert != "" {
		cb, err := read(ctx, f.Cert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file("cert", f.Cert), pathErr(err))
		}
		kb, err := read(ctx, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file("key", f.Key), pathErr(err))
		}
		pair, err := tls.X509KeyPair(cb, kb)
		if err != nil {
			return nil, fmt.Errorf("%s and %s: %w; give a client certificate and its own key, both PEM", file("cert", f.Cert), file("key", f.Key), err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// pathErr drops the path from a file error whose message names it
// already ("open /x: no such file or directory").
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// TLSError is a TLS handshake with etcd that failed over a certificate or
// the URL's scheme: a mistake in the TLS files or client URLs, which
// waiting does not fix and which is not the member being down.
type TLSError struct {
	Addr string // host:port dialled
	Msg  string // what is wrong, naming the file to look at
	Err  error
}

func (e *TLSError) Error() string { return "TLS with etcd at " + e.Addr + ": " + e.Msg }
func (e *TLSError) Unwrap() error { return e.Err }

// AsTLSError returns the TLS problem err is, or nil.
func AsTLSError(err error) *TLSError {
	var te *TLSError
	if errors.As(err, &te) {
		return te
	}
	return nil
}

// joinTLSErrors is one error for the TLS problems of several endpoints:
// their addresses in one message when the problem is the same (a wrong
// CA is wrong for every member).
func joinTLSErrors(errs []*TLSError) error {
	var addrs, msgs []string
	for _, e := range errs {
		addrs = append(addrs, e.Addr)
		if !slices.Contains(msgs, e.Msg) {
			msgs = append(msgs, e.Msg)
		}
	}
	if len(msgs) == 1 {
		return &TLSError{Addr: strings.Join(addrs, ", "), Msg: msgs[0], Err: errs[0].Err}
	}
	var rest []string
	for _, e := range errs[1:] {
		rest = append(rest, e.Error())
	}
	return fmt.Errorf("%w; %s", errs[0], strings.Join(rest, "; "))
}

// tlsRefusals are the TLS alerts a server sends when it does not accept
// the client's certificate (or its lack of one), as Go prints them.
var tlsRefusals = []string{"bad certificate", "unknown certificate authority", "certificate required",
	"unknown certificate", "unsupported certificate", "expired certificate", "revoked certificate"}

// tlsProblem explains a failed handshake with the etcd at addr in terms
// of the TLS files f, or returns nil when it is not about certificates
// (a connection that broke, a timeout).
func tlsProblem(err error, addr string, f TLSFiles) *TLSError {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rec tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &ua):
		ca := "a CA this machine trusts (no cacert= is given)"
		if f.CACert != "" {
			ca = "the CA in cacert " + f.describe(f.CACert)
		}
		return &TLSError{addr, fmt.Sprintf("its certificate is not signed by %s: %v; give the CA that signed etcd's server certificate (etcd's --cert-file)", ca, ua), err}
	case errors.As(err, &he):
		return &TLSError{addr, fmt.Sprintf("its certificate is not for the address dialled: %v; give a client URL with a name or address the certificate holds (%s)", he, VarClientURL), err}
	case errors.As(err, &ci):
		return &TLSError{addr, fmt.Sprintf("its certificate is not valid: %v", ci), err}
	case errors.As(err, &rec):
		return &TLSError{addr, fmt.Sprintf("it does not speak TLS (%v): its client URL is http://, not https:// (set %s=http, or %s)", err, VarScheme, VarClientURL), err}
	}
	msg := err.Error()
	i := strings.Index(msg, "remote error: tls: ")
	if i < 0 {
		return nil
	}
	alert := msg[i+len("remote error: tls: "):]
	if f.Cert == "" && alert == "handshake failure" {
		// What Go's TLS 1.2 server, and so etcd, answers a client
		// without a certificate when it requires one.
		return &TLSError{addr, fmt.Sprintf("it ended the handshake (remote error: tls: %s), as etcd does when it requires a client certificate: give cert= and key=", alert), err}
	}
	if !slices.Contains(tlsRefusals, alert) {
		return nil
	}
	if f.Cert == "" {
		return &TLSError{addr, fmt.Sprintf("it wants a client certificate (remote error: tls: %s): give cert= and key=", alert), err}
	}
	return &TLSError{addr, fmt.Sprintf("it refused the client certificate %s (remote error: tls: %s); give one signed by the CA etcd trusts (its --trusted-ca-file)", f.describe(f.Cert), alert), err}
}

// tryNext makes err one the engine answers by trying the next target,
// with err's own words (ErrTryNext's "target did not answer" would be
// wrong for a certificate problem).
type tryNext struct{ err error }

func (e tryNext) Error() string        { return e.err.Error() }
func (e tryNext) Unwrap() error        { return e.err }
func (e tryNext) Is(target error) bool { return target == engine.ErrTryNext }

// dialFunc opens a TCP connection to addr (host:port) for the etcd client.
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

// sshDial returns a dialFunc that opens connections from the host at the
// other end of conn, or an error saying why it cannot.
func sshDial(host string, conn transport.Conn) (dialFunc, error) {
	d, ok := conn.(transport.Dialer)
	if !ok {
		return nil, fmt.Errorf("the connection to %s cannot forward TCP to etcd's client port; give direct=True (or the variable %s) if the control machine reaches it", host, VarDirect)
	}
	return func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, nil
}

// newEtcdClient returns a client of the one member at endpoint, dialled
// through dial (directly when nil).
func newEtcdClient(endpoint string, tlsCfg *tls.Config, dial dialFunc) (*clientv3.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("client URL %q: expected scheme://host:port", endpoint)
	}
	cfg := clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: dialTimeout,
		Logger:      zap.NewNop(),
		// The modules retry on their own terms (the next endpoint, a
		// learner catching up); the client's own retries of an
		// unavailable member would only hide why it failed until the
		// request's deadline.
		MaxUnaryRetries:    2,
		BackoffWaitBetween: 100 * time.Millisecond,
	}
	if u.Scheme == "https" || u.Scheme == "unixs" {
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg.TLS = tlsCfg.Clone()
	}
	if dial != nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithContextDialer(dial)}
	}
	return clientv3.New(cfg)
}

// Session is one module call's way to the cluster: clients of member
// client URLs, each dialled by the route the call decided, cached for the
// call and closed when its context ends.
type Session struct {
	TLS *tls.Config
	// files are the TLS files tls was loaded from, for messages.
	Files TLSFiles
	// route says how to dial a client URL: through which host's SSH
	// connection (nil dialFunc: directly), and a word on it for messages.
	route func(ctx context.Context, url string) (dialFunc, string, error)
	// warn tells the operator something and the run goes on; progress
	// reports a long wait. Both may be nil.
	Warn     func(format string, args ...any)
	Progress func(format string, args ...any)

	mu      sync.Mutex
	clients map[string]Client
	warned  map[string]bool
	// open, when set, replaces newEtcdClient (tests with fakes).
	open func(url string) (Client, error)
}

func NewSession(ctx context.Context, tlsCfg *tls.Config, route func(ctx context.Context, url string) (dialFunc, string, error)) *Session {
	s := &Session{TLS: tlsCfg, route: route, clients: map[string]Client{}}
	context.AfterFunc(ctx, s.close)
	return s
}

func (s *Session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u, c := range s.clients {
		c.Close()
		delete(s.clients, u)
	}
}

// warnf warns once per session: wait_healthy's rounds would repeat the
// same note every second.
func (s *Session) Warnf(format string, args ...any) {
	if s.Warn == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	seen := s.warned[msg]
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[msg] = true
	s.mu.Unlock()
	if !seen {
		s.Warn("%s", msg)
	}
}

func (s *Session) Progressf(format string, args ...any) {
	if s.Progress != nil {
		s.Progress(format, args...)
	}
}

// client returns the client of the member at url.
func (s *Session) Client(ctx context.Context, url string) (Client, error) {
	s.mu.Lock()
	c, ok := s.clients[url]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	var err error
	if s.open != nil {
		c, err = s.open(url)
	} else {
		var dial dialFunc
		if s.route != nil {
			dial, _, err = s.route(ctx, url)
			if err != nil {
				return nil, err
			}
		}
		c, err = newEtcdClient(url, s.TLS, dial)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.clients[url]; ok {
		c.Close()
		return prev, nil
	}
	s.clients[url] = c
	return c, nil
}

// probe opens and closes a TCP connection to the client URL by the route
// the session dials it, so that a member that is down is known at once:
// the etcd client waits for a connection until its request's deadline
// and then reports only that the deadline passed.
func (s *Session) Probe(ctx context.Context, u string) error {
	if s.open != nil {
		return nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || pu.Scheme == "unix" || pu.Scheme == "unixs" {
		return nil
	}
	var dial dialFunc
	if s.route != nil {
		if dial, _, err = s.route(ctx, u); err != nil {
			return err
		}
	}
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	pctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	c, err := dial(pctx, pu.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if pu.Scheme != "https" {
		return nil
	}
	// A TLS problem (unknown CA, missing client certificate) would also
	// only show as a deadline: shake hands once here. TLS 1.2 makes a
	// refused client certificate fail the handshake itself; a server that
	// insists on 1.3 is left to the client.
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	}
	cfg.MaxVersion = tls.VersionTLS12
	if cfg.ServerName == "" {
		cfg.ServerName = pu.Hostname()
	}
	if dl, ok := pctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(pctx); err != nil && !strings.Contains(err.Error(), "protocol version") {
		if te := tlsProblem(err, pu.Host, s.Files); te != nil {
			return te
		}
		return fmt.Errorf("TLS handshake with %s: %w", pu.Host, err)
	}
	return nil
}

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

// members reads the member list through the first of urls that answers.
// A URL that does not answer is skipped with a note; when none answers,
// the error says why for each. A member that answers only a local read is
// used too, with NoQuorum set, so a gate can still show the arithmetic of
// a cluster that lost quorum.
func (s *Session) Members(ctx context.Context, urls []string) (*Cluster, error) {
	var notes []string
	var local *Cluster
	var tlsErrs []*TLSError
	for i, u := range urls {
		err := s.Probe(ctx, u)
		var c Client
		if err == nil {
			c, err = s.Client(ctx, u)
		}
		if err == nil {
			var resp *clientv3.MemberListResponse
			rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
			resp, err = c.MemberList(rctx)
			cancel()
			if err == nil {
				return newEtcdCluster(u, c, resp, false), nil
			}
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
		if i < len(urls)-1 {
			s.Warnf("etcd at %s did not answer (%s); trying the next endpoint", u, ShortErr(err))
		}
	}
	if local != nil {
		return local, nil
	}
	if len(tlsErrs) == len(urls) {
		// Every endpoint answered, and none over TLS as configured.
		return nil, joinTLSErrors(tlsErrs)
	}
	return nil, fmt.Errorf("no etcd endpoint answered: %s", strings.Join(notes, "; "))
}

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
	return out
}

var ErrNeverStarted = errors.New("never started")

func (s *Session) Status(ctx context.Context, m *etcdserverpb.Member) MemberStatus {
	ms := MemberStatus{Member: m}
	for _, u := range m.ClientURLs {
		err := s.Probe(ctx, u)
		var c Client
		if err == nil {
			c, err = s.Client(ctx, u)
		}
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
			var st *clientv3.StatusResponse
			st, err = c.Status(rctx, u)
			cancel()
			if err == nil {
				ms.URL, ms.Status, ms.Err = u, st, nil
				return ms
			}
		}
		ms.Err = err
	}
	return ms
}

// View turns the member list and statuses into what the quorum gate
// counts: a member is healthy when it answered and sees a leader that is
// a member of the cluster.
func ViewOf(sts []MemberStatus) View {
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

// readLocal reads a file on the control machine.
func readLocal(path string) ([]byte, error) { return os.ReadFile(path) }

// reconfigSettle is how long a membership change is retried while etcd
// refuses it for a reason that passes by itself: etcd accepts a change
// only when the member handling it has been connected to its peers for
// the last 5 seconds (etcdserver.HealthInterval), which is not yet the
// case just after a member started or restarted.
const reconfigSettle = 15 * time.Second

// transientReconfig reports whether err is etcd refusing a membership
// change for lack of recent connectivity between members.
func transientReconfig(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "etcdserver: unhealthy cluster") || strings.Contains(msg, "not enough started members")
}

// Reconfigure runs a membership change, retrying etcd's transient
// refusals for a while when the quorum gate found the change safe (retry).
// The error, if any, is explained.
func Reconfigure(ctx context.Context, s *Session, what string, retry bool, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(reconfigSettle)
	for {
		rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		err := f(rctx)
		cancel()
		if err == nil || !retry || !transientReconfig(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return Explain(err)
		}
		s.Progressf("etcd refuses to %s until its members have been connected for 5s (%s); retrying", what, ShortErr(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
