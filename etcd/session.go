package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// Client is the part of the etcd v3 client the modules use; *clientv3.Client
// satisfies it.
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
	Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error)
	Delete(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.DeleteResponse, error)
	SnapshotWithVersion(ctx context.Context) (*clientv3.SnapshotResponse, error)
	MoveLeader(ctx context.Context, transfereeID uint64) (*clientv3.MoveLeaderResponse, error)
	Defragment(ctx context.Context, endpoint string) (*clientv3.DefragmentResponse, error)
	Compact(ctx context.Context, rev int64, opts ...clientv3.CompactOption) (*clientv3.CompactResponse, error)
	AlarmDisarm(ctx context.Context, m *clientv3.AlarmMember) (*clientv3.AlarmResponse, error)
	HashKV(ctx context.Context, endpoint string, rev int64) (*clientv3.HashKVResponse, error)
	Downgrade(ctx context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error)
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

// Session is one module call's way to the cluster: the TLS configuration
// the call loaded, how it routes each client URL (through which host's
// SSH connection), and clients of the members' client URLs. The clients
// belong to the run (or, for a session made by NewSession, to its
// context): a later call that dials the same URL the same way reuses the
// connection, and all are closed when the run ends.
type Session struct {
	TLS *tls.Config
	// Files are the TLS files TLS was loaded from, for messages.
	Files TLSFiles
	// Warn tells the operator something and the run goes on; Progress
	// reports a long wait. Both may be nil.
	Warn     func(format string, args ...any)
	Progress func(format string, args ...any)

	// Creds are the credentials of etcd's authentication, if the cluster
	// asks for them.
	Creds Credentials
	// Observe and ObserveInfo record what the session reads of the
	// cluster for a plan (engine.HostCall.Observe); nil records nothing.
	Observe, ObserveInfo func(key, value string)
	// routeOf says how to dial a client URL; nil dials every URL from
	// the control machine.
	routeOf func(url string) route
	pool    *pool
	paths   *paths

	mu     sync.Mutex
	warned map[string]bool
}

// pool holds clients by client URL, route and TLS files, and when the
// server certificate each client URL showed last expires.
type pool struct {
	mu      sync.Mutex
	clients map[string]*clientv3.Client
	// expiry has a lock of its own: a client records what it saw while
	// mu is held to make it (clientv3.New authenticates at once).
	expiryMu sync.Mutex
	expiry   map[string]time.Time
	// suspect are the clients whose connection looks ready but whose
	// last request failed where a probe failed too (a host that died
	// without closing it): the next reach probes them again.
	suspect map[string]bool
}

func newPool() *pool {
	return &pool{clients: map[string]*clientv3.Client{}, expiry: map[string]time.Time{}, suspect: map[string]bool{}}
}

// sawCert records the server certificate the member at u showed.
func (p *pool) sawCert(u string, certs []*x509.Certificate) {
	if len(certs) == 0 {
		return
	}
	p.expiryMu.Lock()
	p.expiry[u] = certs[0].NotAfter
	p.expiryMu.Unlock()
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		c.Close()
		delete(p.clients, k)
	}
}

var runClients = engine.RunKey[*pool]{Name: "etcd clients"}

// NewSession is a session that dials every client URL from the control
// machine, its clients closed when ctx ends: for tools and tests that
// talk to a cluster without a run.
func NewSession(ctx context.Context, tlsCfg *tls.Config) *Session {
	s := &Session{TLS: tlsCfg, pool: newPool(), paths: newPaths()}
	context.AfterFunc(ctx, s.pool.close)
	return s
}

// forCall is a session of a module call: the run's clients and what the
// run knows of the ways to etcd.
func forCall(c *engine.HostCall, tlsCfg *tls.Config, files TLSFiles) (*Session, error) {
	creds, err := credentialsFor(c, c.Host)
	if err != nil {
		return nil, err
	}
	s := &Session{TLS: tlsCfg, Files: files, Creds: creds, Warn: c.Warn, Progress: c.Progress, Observe: c.Observe, ObserveInfo: c.ObserveInfo}
	s.pool = runClients.Get(c, func() *pool {
		p := newPool()
		c.AtRunEnd(p.close)
		return p
	})
	s.paths = runPaths.Get(c, newPaths)
	return s, nil
}

// viaHost is the route of client URLs dialled through host h's SSH
// connection, in the way h's variables (or the call's arguments) allow.
func viaHost(c *engine.HostCall, a *ConnArgs, h *inventory.Host, warn func(string, ...any)) route {
	mode, _ := a.DialModeOf(h) // checked by checkDial
	return route{
		via:  h,
		mode: mode,
		conn: func(ctx context.Context) (transport.Conn, error) { return c.ConnTo(ctx, h) },
		warn: warn,
	}
}

// checkDial is bad input when a host's etcd_dial is not a DialMode.
func checkDial(a *ConnArgs, hosts ...*inventory.Host) error {
	for _, h := range hosts {
		if _, err := a.DialModeOf(h); err != nil {
			return err
		}
	}
	return nil
}

// ClusterSession is the session of a cluster module's call: a member's
// client URL is dialled through the SSH connection of the target host
// whose client URL it is, and any other URL (a member not among the
// targets) through the host that answered. It returns the answering
// host's client URL too.
func ClusterSession(ctx context.Context, c *engine.ClusterCall, a *ConnArgs) (*Session, string, error) {
	tlsCfg, files, err := tlsFor(ctx, c.HostCall, a)
	if err != nil {
		return nil, "", err
	}
	if err := checkDial(a, append([]*inventory.Host{c.Host}, c.Targets...)...); err != nil {
		return nil, "", err
	}
	tlsOn := tlsCfg != nil
	s, err := forCall(c.HostCall, tlsCfg, files)
	if err != nil {
		return nil, "", err
	}
	byURL := map[string]*inventory.Host{}
	for _, h := range c.Targets {
		byURL[ClientURL(h, tlsOn)] = h
	}
	s.routeOf = func(u string) route {
		if h, ok := byURL[u]; ok {
			return viaHost(c.HostCall, a, h, s.Warnf)
		}
		return viaHost(c.HostCall, a, c.Host, s.Warnf)
	}
	return s, ClientURL(c.Host, tlsOn), nil
}

// HostSession is the session of a host module that reads the cluster (a
// quorum gate, a data dir's owner): the client URLs of the hosts in
// others are dialled through their own SSH connections, every other URL
// through the call's host. It says whether TLS is on.
func HostSession(ctx context.Context, c *engine.HostCall, a *ConnArgs, others []*inventory.Host) (*Session, bool, error) {
	tlsCfg, files, err := tlsFor(ctx, c, a)
	if err != nil {
		return nil, false, err
	}
	if err := checkDial(a, append([]*inventory.Host{c.Host}, others...)...); err != nil {
		return nil, false, err
	}
	tlsOn := tlsCfg != nil
	s, err := forCall(c, tlsCfg, files)
	if err != nil {
		return nil, false, err
	}
	byURL := map[string]*inventory.Host{}
	for _, h := range others {
		byURL[ClientURL(h, tlsOn)] = h
	}
	s.routeOf = func(u string) route {
		if h, ok := byURL[u]; ok {
			return viaHost(c, a, h, s.Warnf)
		}
		return viaHost(c, a, c.Host, s.Warnf)
	}
	return s, tlsOn, nil
}

// Warnf warns once per session: wait_healthy's rounds would repeat the
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

// Progressf reports what a long step is waiting for.
func (s *Session) Progressf(format string, args ...any) {
	if s.Progress != nil {
		s.Progress(format, args...)
	}
}

func (s *Session) route(u string) route {
	if s.routeOf == nil {
		return route{mode: DialDirect}
	}
	return s.routeOf(u)
}

// Way says how the client URL u is reached: "through etcd-1's SSH
// connection", "through a relay on etcd-1 (...)", or "" before any dial.
func (s *Session) Way(u string) string {
	r := s.route(u)
	if r.via == nil || r.mode == DialDirect {
		return s.paths.way("")
	}
	return s.paths.way(r.via.Name)
}

// Client returns the client of the member at url.
func (s *Session) Client(ctx context.Context, url string) (Client, error) {
	c, err := s.raw(ctx, url)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// clientKey is the pool's key of the client of u: one per route, TLS
// files and credentials.
func (s *Session) clientKey(u string) string {
	return u + "|" + s.route(u).key() + "|" + s.Files.key() + "|" + s.Creds.key()
}

// reach returns the client of the member at u, the way there probed
// first (Probe) unless the run holds a connection to u that is ready
// now, which shows the way, and TLS, work: a replace asks some fifty
// statuses, and each probe is an SSH channel, a connection to etcd and,
// with TLS, a handshake, on hosts that are busy with the change. probed
// says whether it probed; when it did not, whyFailed gives a failed
// request the reason a probe finds.
func (s *Session) reach(ctx context.Context, u string) (c Client, probed bool, err error) {
	key := s.clientKey(u)
	if s.ready(key) {
		c, err = s.Client(ctx, u)
		return c, false, err
	}
	// Made first, a client's connection comes up beside the probe, not
	// after it. Only without etcd's authentication: then clientv3.New
	// returns at once, where with it New logs in first, which would wait
	// out a member that is down before the probe could say so.
	var cli *clientv3.Client
	made := false
	if s.Creds.User == "" {
		cli, made, _ = s.rawMade(ctx, u) // a failure is raw's again below
	}
	if err := s.Probe(ctx, u); err != nil {
		if made {
			// Not kept: it would go on redialling a member that is down
			// for the rest of the run.
			s.forget(key, cli)
		}
		return nil, true, err
	}
	s.pool.mu.Lock()
	delete(s.pool.suspect, key)
	s.pool.mu.Unlock()
	if cli == nil {
		if cli, err = s.raw(ctx, u); err != nil {
			return nil, true, err
		}
	}
	return cli, true, nil
}

// whyFailed is err, the failure of a request to the member at u over a
// client reach gave without probing, or the reason a probe finds now (a
// member that went down, a way that closed), which says more than the
// client's "deadline exceeded".
func (s *Session) whyFailed(ctx context.Context, u string, probed bool, err error) error {
	if err == nil || probed || ctx.Err() != nil {
		return err
	}
	if perr := s.Probe(ctx, u); perr != nil {
		s.pool.mu.Lock()
		s.pool.suspect[s.clientKey(u)] = true
		s.pool.mu.Unlock()
		return perr
	}
	return err
}

// ready says whether the run's client of key (clientKey) has a
// connection that is ready now, and is not suspect.
func (s *Session) ready(key string) bool {
	s.pool.mu.Lock()
	c, suspect := s.pool.clients[key], s.pool.suspect[key]
	s.pool.mu.Unlock()
	if c == nil || suspect {
		return false
	}
	cc := c.ActiveConnection()
	return cc != nil && cc.GetState() == connectivity.Ready
}

// raw is Client's *clientv3.Client, which the lock's session needs.
func (s *Session) raw(ctx context.Context, u string) (*clientv3.Client, error) {
	c, _, err := s.rawMade(ctx, u)
	return c, err
}

// forget closes c, the pool's client of key, and takes it out.
func (s *Session) forget(key string, c *clientv3.Client) {
	s.pool.mu.Lock()
	if s.pool.clients[key] == c {
		delete(s.pool.clients, key)
	}
	s.pool.mu.Unlock()
	c.Close()
}

// rawMade is raw, and whether it made the client.
func (s *Session) rawMade(ctx context.Context, u string) (*clientv3.Client, bool, error) {
	r := s.route(u)
	key := s.clientKey(u)
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	if c, ok := s.pool.clients[key]; ok {
		// A member that restarted since the client last reached it waits
		// out gRPC's reconnect backoff, which grew while it was down:
		// try at once.
		if cc := c.ActiveConnection(); cc != nil {
			cc.ResetConnectBackoff()
		}
		return c, false, nil
	}
	paths, pool := s.paths, s.pool
	c, err := newEtcdClient(u, s.TLS, s.Creds, func(ctx context.Context, addr string) (net.Conn, error) {
		return r.dial(ctx, paths, addr)
	}, func(p *peer.Peer) {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			pool.sawCert(u, ti.State.PeerCertificates)
		}
	})
	if err != nil {
		return nil, false, err
	}
	s.pool.clients[key] = c
	return c, true, nil
}

// newEtcdClient returns a client of the one member at endpoint, its
// connections opened by dial; onPeer is told who answered each request.
func newEtcdClient(endpoint string, tlsCfg *tls.Config, creds Credentials, dial func(ctx context.Context, addr string) (net.Conn, error), onPeer func(*peer.Peer)) (*clientv3.Client, error) {
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
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial), grpc.WithChainUnaryInterceptor(traceRequest(u.Host), peerOf(onPeer)),
			// A member that restarts is tried again within a second of
			// coming back, not after gRPC's default backoff of up to 2 min.
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: dialTimeout})},
		Username: creds.User,
		Password: creds.Password,
	}
	if u.Scheme == "https" || u.Scheme == "unixs" {
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg.TLS = tlsCfg.Clone()
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, err
	}
	// clientv3's Status, HashKV and Defragment open a connection of their
	// own to the endpoint they are given, and close it after: for etcdplay
	// an SSH channel, a connection to etcd and, with TLS, a handshake,
	// some fifty times a replace. The client has one endpoint, the one
	// those calls are given, so they use its connection.
	cli.Maintenance = clientv3.NewMaintenanceFromMaintenanceClient(clientv3.RetryMaintenanceClient(cli, cli.ActiveConnection()), cli)
	return cli, nil
}

// peerOf tells onPeer who answered each request: the certificate the
// member's connection showed in its handshake.
func peerOf(onPeer func(*peer.Peer)) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var p peer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
		if p.AuthInfo != nil {
			onPeer(&p)
		}
		return err
	}
}

// traceRequest records each etcd request to the member at host when
// tracing is on (transport.Trace).
func traceRequest(host string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		defer transport.Trace(ctx, time.Now(), host, path.Base(method))
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// Probe opens and closes a connection to the client URL by the route the
// session dials it, so that a member that is down, or a way that is
// closed, is known at once: the etcd client waits for a connection until
// its request's deadline and then reports only that the deadline passed.
func (s *Session) Probe(ctx context.Context, u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || pu.Scheme == "unix" || pu.Scheme == "unixs" {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	c, err := s.route(u).dial(pctx, s.paths, pu.Host)
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
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(pctx); err != nil && !strings.Contains(err.Error(), "protocol version") {
		if te := tlsProblem(err, pu.Host, s.Files); te != nil {
			return te
		}
		return fmt.Errorf("TLS handshake with %s: %w", pu.Host, err)
	}
	s.pool.sawCert(u, tc.ConnectionState().PeerCertificates)
	return nil
}

// CertExpiry is when the server certificate the member at u showed in
// the run's last handshake with it expires (zero when unknown: not
// https, or not reached).
func (s *Session) CertExpiry(u string) time.Time {
	s.pool.expiryMu.Lock()
	defer s.pool.expiryMu.Unlock()
	return s.pool.expiry[u]
}

// readLocal reads a file on the control machine.
func readLocal(path string) ([]byte, error) { return os.ReadFile(path) }
