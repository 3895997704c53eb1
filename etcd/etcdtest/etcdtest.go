// Package etcdtest starts in-process etcd clusters (go.etcd.io/etcd/server/v3
// embed) on loopback addresses for tests of the etcd modules: three members
// start in well under a second, each on its own address in 127.0.20.0/24 and
// up, with data dirs under the test's temporary directory, all stopped when
// the test ends. A TLS variant generates a CA and certificates in the test.
package etcdtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options tune Start.
type Options struct {
	// TLS serves the client port over https with client certificate
	// authentication; the CA, a client certificate and key are in
	// Cluster.TLS.
	TLS bool
	// Token is the initial cluster token; a unique one when empty.
	Token string
}

// Cluster is a running in-process etcd cluster.
type Cluster struct {
	Members []*Member
	// TLS holds the certificate files when Options.TLS is set.
	TLS   *TLSFiles
	Token string

	tb  testing.TB
	dir string
	mu  sync.Mutex
}

// Member is one etcd member of a Cluster.
type Member struct {
	Name      string
	Addr      string // loopback IP the member listens on
	PeerURL   string
	ClientURL string
	// Dir is the member's data dir.
	Dir string

	mu      sync.Mutex
	etcd    *embed.Etcd
	cluster *Cluster
	initial string // the initial cluster it was started with
	state   string // new or existing
}

// addrs hands out loopback addresses. The third octet differs between test
// processes (go test runs packages in parallel) and the fourth counts up
// within one; ports are picked free on each address as well.
var addrCounter atomic.Int32

func nextAddr() string {
	k := int(addrCounter.Add(1)) - 1
	third := 20 + (os.Getpid()%10)*4 + (k/250)%4
	return fmt.Sprintf("127.0.%d.%d", third, k%250+1)
}

// freePorts returns two distinct free ports on addr, for a member's peer
// and client URLs: both listeners are held until both are picked, so the
// kernel cannot hand out the same port twice.
func freePorts(addr string) (int, int, error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return 0, 0, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

// Start starts an n-member cluster and waits until it has a leader. It is
// stopped when tb ends.
func Start(tb testing.TB, n int, o Options) *Cluster {
	tb.Helper()
	// Not tb.TempDir: its parent is private, and tests read the TLS files
	// and data dirs over SSH as the sshdtest user too.
	dir, err := os.MkdirTemp("", "etcdtest-")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	c := &Cluster{tb: tb, dir: dir, Token: o.Token}
	if c.Token == "" {
		c.Token = fmt.Sprintf("etcdtest-%d-%d", os.Getpid(), addrCounter.Load())
	}
	if o.TLS {
		c.TLS = newTLSFiles(tb, filepath.Join(c.dir, "pki"))
	}
	for i := range n {
		c.Members = append(c.Members, c.NewMember(fmt.Sprintf("etcd-%d", i+1)))
	}
	var initial []string
	for _, m := range c.Members {
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	tb.Cleanup(c.Close)
	for _, m := range c.Members {
		m.initial, m.state = strings.Join(initial, ","), embed.ClusterStateFlagNew
		if err := m.start(); err != nil {
			tb.Fatalf("etcdtest: start %s: %v", m.Name, err)
		}
	}
	for _, m := range c.Members {
		if err := m.waitReady(30 * time.Second); err != nil {
			tb.Fatalf("etcdtest: %s: %v", m.Name, err)
		}
	}
	return c
}

// NewMember allocates an address, ports and a data dir for a member that is
// not started yet: a test adds it with the module under test, then starts
// it with StartJoining.
func (c *Cluster) NewMember(name string) *Member {
	c.tb.Helper()
	addr := nextAddr()
	pp, cp, err := freePorts(addr)
	if err != nil {
		c.tb.Fatalf("etcdtest: %v", err)
	}
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	m := &Member{
		Name:      name,
		Addr:      addr,
		PeerURL:   fmt.Sprintf("http://%s", net.JoinHostPort(addr, strconv.Itoa(pp))),
		ClientURL: fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(addr, strconv.Itoa(cp))),
		Dir:       filepath.Join(c.dir, name+".etcd"),
		cluster:   c,
	}
	if c.TLS != nil {
		c.TLS.addServer(c.tb, m)
	}
	return m
}

// StartJoining starts m as a new member of the running cluster with the
// initial cluster string that member add returned, and waits until it is
// ready (a learner is ready once it has caught up enough to serve).
func (c *Cluster) StartJoining(m *Member, initialCluster string) {
	c.tb.Helper()
	c.mu.Lock()
	c.Members = append(c.Members, m)
	c.mu.Unlock()
	m.initial, m.state = initialCluster, embed.ClusterStateFlagExisting
	if err := m.start(); err != nil {
		c.tb.Fatalf("etcdtest: start %s: %v", m.Name, err)
	}
	if err := m.waitReady(30 * time.Second); err != nil {
		c.tb.Fatalf("etcdtest: %s: %v", m.Name, err)
	}
}

// Member returns the member with the given name.
func (c *Cluster) Member(name string) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	c.tb.Fatalf("etcdtest: no member %s", name)
	return nil
}

// Endpoints are the client URLs of the members.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// ClientTLS is the TLS configuration of a client of the cluster, nil
// without TLS.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.TLS == nil {
		return nil
	}
	return c.TLS.clientConfig(c.tb)
}

// Client returns a client of the given endpoints (every member when none
// are given), closed when the test ends.
func (c *Cluster) Client(endpoints ...string) *clientv3.Client {
	c.tb.Helper()
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         c.ClientTLS(),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		c.tb.Fatalf("etcdtest: client: %v", err)
	}
	c.tb.Cleanup(func() { cli.Close() })
	return cli
}

// Close stops every member.
func (c *Cluster) Close() {
	c.mu.Lock()
	ms := append([]*Member(nil), c.Members...)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); m.Kill() }()
	}
	wg.Wait()
}

func (m *Member) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.Dir
	pu, _ := url.Parse(m.PeerURL)
	cu, _ := url.Parse(m.ClientURL)
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.InitialCluster = m.initial
	cfg.InitialClusterToken = m.cluster.Token
	cfg.ClusterState = m.state
	// Short ticks make elections and catch-up quick; not so short that a
	// loaded test machine with two CPUs sees spurious elections.
	cfg.TickMs = 25
	cfg.ElectionMs = 500
	cfg.UnsafeNoFsync = true
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	if m.cluster.TLS != nil {
		cfg.ClientTLSInfo = m.cluster.TLS.serverInfo(m)
	}
	return cfg
}

func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		return fmt.Errorf("already running")
	}
	e, err := embed.StartEtcd(m.config())
	if err != nil {
		return err
	}
	m.etcd = e
	return nil
}

func (m *Member) waitReady(limit time.Duration) error {
	m.mu.Lock()
	e := m.etcd
	m.mu.Unlock()
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return err
	case <-time.After(limit):
		return fmt.Errorf("not ready after %s", limit)
	}
}

// Running reports whether the member is started.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil
}

// ID is the member's ID, 0 when it is not running.
func (m *Member) ID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd == nil {
		return 0
	}
	return uint64(m.etcd.Server.MemberID())
}

// Stop stops the member, keeping its data dir.
func (m *Member) Stop() {
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Kill stops the member at once, as a crash or power loss would: no
// leadership transfer, no goodbye to its peers. The data dir is kept.
func (m *Member) Kill() {
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e != nil {
		e.Server.HardStop()
		e.Close()
	}
}

// Restart starts a stopped member again on its data dir and waits until it
// is ready.
func (m *Member) Restart() {
	m.cluster.tb.Helper()
	if err := m.start(); err != nil {
		m.cluster.tb.Fatalf("etcdtest: restart %s: %v", m.Name, err)
	}
	if err := m.waitReady(30 * time.Second); err != nil {
		m.cluster.tb.Fatalf("etcdtest: %s: %v", m.Name, err)
	}
}

// Put writes key=value through the cluster, for tests that check data
// survives a change.
func (c *Cluster) Put(ctx context.Context, key, value string) error {
	var eps []string
	for _, m := range c.Members {
		if m.Running() {
			eps = append(eps, m.ClientURL)
		}
	}
	_, err := c.Client(eps...).Put(ctx, key, value)
	return err
}

// RaiseAlarm raises a NOSPACE alarm for member m, as etcd does when its
// backend reaches its quota.
func (c *Cluster) RaiseAlarm(ctx context.Context, m *Member) error {
	cli := c.Client()
	_, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, &pb.AlarmRequest{
		Action: pb.AlarmRequest_ACTIVATE, MemberID: m.ID(), Alarm: pb.AlarmType_NOSPACE,
	})
	return err
}
