package transport

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Config holds what every connection of a run shares.
type Config struct {
	// User is the login user when neither the target nor ~/.ssh/config
	// names one (the -u flag); the local user when empty.
	User string
	// KeyFiles are private keys to offer before the defaults (--private-key).
	KeyFiles []string
	// ConnectTimeout bounds the TCP connect and the SSH handshake.
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests; 0 means 15s.
	KeepAlive time.Duration
	// KnownHostsFile overrides ~/.ssh/known_hosts and UserKnownHostsFile.
	KnownHostsFile string
	// AcceptNewHostKeys records keys of hosts not yet known, as OpenSSH's
	// StrictHostKeyChecking=accept-new does. A changed key is always refused.
	AcceptNewHostKeys bool
	// SSHConfigFile is the ssh client config to read; "" means
	// ~/.ssh/config when it exists, "none" reads none.
	SSHConfigFile string
	// NoAgent turns off ssh-agent authentication even if SSH_AUTH_SOCK is set.
	NoAgent bool
	// Passphrase is asked for the passphrase of an encrypted key file; when
	// nil such keys are skipped with a note in the error if nothing else works.
	Passphrase func(file string) ([]byte, error)
	// BecomePassword is given to sudo when a command runs with Become.
	BecomePassword string
	// HomeDir is the home of the local user (~ in paths); from $HOME when empty.
	HomeDir string
	// OpenShell opens the shell that modules' scripts run in (shell.go)
	// as soon as a host is dialled, while the run does something else:
	// for playbooks, whose first script on a host then does not wait for
	// it. Ad-hoc commands have sessions of their own and need none.
	OpenShell bool
}

// Target is one host to connect to, as the inventory describes it. Fields
// left empty are filled from ~/.ssh/config and then defaults.
type Target struct {
	// Name is the host's name in the inventory, and the Host alias looked up
	// in ~/.ssh/config.
	Name    string
	Addr    string
	Port    int
	User    string
	KeyFile string
	// ProxyJump is a comma list of [user@]host[:port] jump hosts, as ssh -J.
	ProxyJump string
	// KnownHostsFiles, when set, are the known_hosts files for this host
	// (UserKnownHostsFile given in the inventory), instead of the run's.
	// --known-hosts still wins.
	KnownHostsFiles []string
}

// Pool keeps one SSH connection per host for a whole run. Connections are
// dialled on first use; concurrent callers for one host share one dial.
type Pool struct {
	cfg   Config
	auth  *authenticator
	hosts *hostKeys
	sshc  *sshConfig

	khMu    sync.Mutex
	khFiles map[string]*hostKeys // per-target known_hosts, loaded once each

	mu    sync.Mutex
	conns map[string]*poolEntry
}

type poolEntry struct {
	done chan struct{}
	conn *sshConn
	err  error
	// gaveUp: the dialling caller's context ended first, so err proves
	// nothing of the host and the entry is no longer the pool's.
	gaveUp bool
}

// dialled says whether the entry's dial has ended: only then may its
// conn and err be read.
func (e *poolEntry) dialled() bool { return isDone(e.done) }

// isDone says whether ch has been closed, without waiting.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// NewPool returns a pool for cfg. It reads known_hosts and ~/.ssh/config
// once; errors in them are reported here, before any host is contacted.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.HomeDir == "" {
		cfg.HomeDir = homeDir()
	}
	sc, err := loadSSHConfig(cfg.SSHConfigFile, cfg.HomeDir)
	if err != nil {
		return nil, err
	}
	khFiles := []string{cfg.KnownHostsFile}
	if cfg.KnownHostsFile == "" {
		khFiles = sc.knownHostsFiles("*", cfg.HomeDir)
	}
	hk, err := loadHostKeys(khFiles, cfg.AcceptNewHostKeys)
	if err != nil {
		return nil, err
	}
	return &Pool{
		cfg:   cfg,
		auth:  newAuthenticator(cfg),
		hosts: hk,
		sshc:  sc,
		conns: map[string]*poolEntry{},
	}, nil
}

// Connect returns the connection to t, dialling it the first time. Errors are
// *UnreachableError.
func (p *Pool) Connect(ctx context.Context, t Target) (Conn, error) {
	c, err := p.connectResolved(ctx, p.resolve(t), 0)
	if err != nil {
		if cerr := callerEnded(ctx); cerr != nil && errors.Is(err, cerr) {
			return nil, err
		}
		return nil, &UnreachableError{Host: t.Name, Err: err}
	}
	return c, nil
}

// Release closes the connection to t, if the pool has one; a later
// Connect dials again.
func (p *Pool) Release(t Target) {
	key := p.resolve(t).key()
	p.mu.Lock()
	e, ok := p.conns[key]
	if ok {
		delete(p.conns, key)
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	<-e.done
	if e.conn != nil {
		e.conn.Close()
	}
}

// Close closes every connection of the pool.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.conns {
		select {
		case <-e.done:
			if e.conn != nil {
				e.conn.Close()
			}
		default:
		}
		delete(p.conns, k)
	}
	return nil
}

// resolved is a target with every field decided.
type resolved struct {
	name, addr, user string
	port             int
	keyFiles         []string
	proxyJump        string
	strict           string   // StrictHostKeyChecking of ~/.ssh/config
	knownHosts       []string // this host's own known_hosts files, if any
}

func (r resolved) key() string {
	return r.user + "@" + net.JoinHostPort(r.addr, strconv.Itoa(r.port)) + " via " + r.proxyJump
}

// hostPort is the address as written in known_hosts and messages.
func (r resolved) hostPort() string { return net.JoinHostPort(r.addr, strconv.Itoa(r.port)) }

// resolve applies Ansible's order (inventory, then -u) and then
// ~/.ssh/config, then defaults, as ssh(1) would for the alias t.Name.
func (p *Pool) resolve(t Target) resolved {
	alias := t.Name
	if alias == "" {
		alias = t.Addr
	}
	r := resolved{name: alias, addr: t.Addr, user: t.User, port: t.Port, proxyJump: t.ProxyJump}
	if p.cfg.KnownHostsFile == "" {
		r.knownHosts = t.KnownHostsFiles
		if len(r.knownHosts) == 0 && p.sshc.get(alias, "UserKnownHostsFile") != "" {
			r.knownHosts = p.sshc.knownHostsFiles(alias, p.cfg.HomeDir)
		}
	}
	if r.addr == "" || r.addr == alias {
		if hn := p.sshc.get(alias, "HostName"); hn != "" {
			r.addr = strings.ReplaceAll(hn, "%h", alias)
		} else if r.addr == "" {
			r.addr = alias
		}
	}
	if r.user == "" {
		r.user = p.cfg.User
	}
	if r.user == "" {
		r.user = p.sshc.get(alias, "User")
	}
	if r.user == "" {
		r.user = localUser()
	}
	if r.port == 0 {
		r.port, _ = strconv.Atoi(p.sshc.get(alias, "Port"))
	}
	if r.port == 0 {
		r.port = 22
	}
	if r.proxyJump == "" {
		if pj := p.sshc.get(alias, "ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
			r.proxyJump = pj
		}
	}
	if t.KeyFile != "" {
		r.keyFiles = append(r.keyFiles, expandHome(t.KeyFile, p.cfg.HomeDir))
	}
	for _, f := range p.cfg.KeyFiles {
		r.keyFiles = append(r.keyFiles, expandHome(f, p.cfg.HomeDir))
	}
	for _, f := range p.sshc.getAll(alias, "IdentityFile") {
		r.keyFiles = append(r.keyFiles, expandHome(f, p.cfg.HomeDir))
	}
	r.strict = strings.ToLower(p.sshc.get(alias, "StrictHostKeyChecking"))
	return r
}

// dial connects to r, through its jump hosts if any. depth guards against
// ProxyJump loops in ~/.ssh/config.
func (p *Pool) dial(ctx context.Context, r resolved, depth int) (*sshConn, error) {
	defer Trace(ctx, time.Now(), r.name, "ssh dial")
	if depth > 8 {
		return nil, fmt.Errorf("ProxyJump: more than 8 jumps (a loop in ~/.ssh/config?)")
	}
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()

	var (
		raw net.Conn
		err error
	)
	if r.proxyJump != "" {
		jumps := strings.Split(r.proxyJump, ",")
		last := strings.TrimSpace(jumps[len(jumps)-1])
		jt := parseJump(last)
		jr := p.resolve(jt)
		if len(jumps) > 1 {
			jr.proxyJump = strings.Join(jumps[:len(jumps)-1], ",")
		} else if jr.proxyJump == r.proxyJump {
			jr.proxyJump = ""
		}
		// The jump host's dial is its own, bounded by its own timeout:
		// when it runs out, that says the jump host hangs, not that
		// this caller gave up.
		jc, err := p.connectResolved(caller, jr, depth+1)
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", last, err)
		}
		raw, err = dialThrough(ctx, jc.client, r.hostPort())
		if err != nil {
			return nil, fmt.Errorf("through jump host %s: %w", last, err)
		}
	} else {
		d := net.Dialer{Timeout: p.cfg.ConnectTimeout}
		raw, err = d.DialContext(ctx, "tcp", r.hostPort())
		if err != nil {
			if err := callerEnded(caller); err != nil {
				return nil, err
			}
			return nil, simplifyNetError(err)
		}
		raw = quickAck(raw)
	}

	hk, err := p.hostKeysFor(r)
	if err != nil {
		raw.Close()
		return nil, err
	}
	hostKeyCB, algos := hk.callback(r)
	cc := &ssh.ClientConfig{
		User:              r.user,
		Auth:              p.auth.methods(r),
		HostKeyCallback:   hostKeyCB,
		HostKeyAlgorithms: algos,
		Timeout:           p.cfg.ConnectTimeout,
		// Cheapest safe exchange first: curve25519 costs the server far
		// less CPU than the post-quantum hybrids and classic DH.
		Config: ssh.Config{KeyExchanges: []string{
			ssh.KeyExchangeCurve25519, ssh.KeyExchangeMLKEM768X25519,
			ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521,
			ssh.KeyExchangeDH14SHA256, ssh.KeyExchangeDH16SHA512,
		}},
	}
	// The handshake honours ctx through the deadline and a watcher, so a
	// host that accepts but never speaks cannot hang the run.
	dl, _ := ctx.Deadline()
	raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(raw, r.hostPort(), cc)
	stop()
	if err != nil {
		raw.Close()
		switch {
		case callerEnded(caller) != nil:
			return nil, callerEnded(caller)
		case errors.Is(ctx.Err(), context.Canceled):
			return nil, ctx.Err()
		case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
			return nil, fmt.Errorf("%s: no SSH handshake within %s (host hangs or is overloaded)", r.hostPort(), p.cfg.ConnectTimeout)
		}
		return nil, p.explainHandshake(r, err)
	}
	raw.SetDeadline(time.Time{})
	conn := &sshConn{name: r.name, client: ssh.NewClient(c, chans, reqs), pool: p, closed: make(chan struct{})}
	go func() {
		conn.client.Wait()
		close(conn.closed)
	}()
	go conn.keepAlive(p.cfg.KeepAlive)
	if p.cfg.OpenShell {
		go conn.warmShell()
	}
	return conn, nil
}

// hostKeysFor returns the known_hosts checker for r: the run's, or the one
// of the files r names, read once per run however many hosts share them.
func (p *Pool) hostKeysFor(r resolved) (*hostKeys, error) {
	if len(r.knownHosts) == 0 {
		return p.hosts, nil
	}
	key := strings.Join(r.knownHosts, "\x00")
	p.khMu.Lock()
	defer p.khMu.Unlock()
	if hk, ok := p.khFiles[key]; ok {
		return hk, nil
	}
	hk, err := loadHostKeys(r.knownHosts, p.cfg.AcceptNewHostKeys)
	if err != nil {
		return nil, err
	}
	if p.khFiles == nil {
		p.khFiles = map[string]*hostKeys{}
	}
	p.khFiles[key] = hk
	return hk, nil
}

// connectResolved returns the pool's connection to r, dialling it the first
// time; concurrent callers share one dial. Jump hosts come through here
// too, so one bastion connection serves every host behind it.
//
// A host that did not answer stays unreachable for the pool's life: a run
// waits out a dead host once, not at every step that names it. A dial
// whose caller gave up first (its context ended) proved nothing: it is
// forgotten, and the next Connect dials again.
func (p *Pool) connectResolved(ctx context.Context, r resolved, depth int) (*sshConn, error) {
	key := r.key()
	for {
		p.mu.Lock()
		e, ok := p.conns[key]
		if ok && e.dialled() && e.conn != nil && e.conn.isClosed() {
			// The host went away and came back (a reboot, sshd restarted):
			// later steps get a new connection, as a new ssh would.
			ok = false
		}
		if !ok {
			e = &poolEntry{done: make(chan struct{})}
			p.conns[key] = e
			p.mu.Unlock()
			e.conn, e.err = p.dial(ctx, r, depth)
			if e.err != nil && callerEnded(ctx) != nil {
				e.gaveUp = true
				p.mu.Lock()
				if p.conns[key] == e {
					delete(p.conns, key)
				}
				p.mu.Unlock()
			}
			close(e.done)
			return e.conn, e.err
		}
		p.mu.Unlock()
		earlier := false
		select {
		case <-e.done:
			earlier = true
		default:
			select {
			case <-e.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if e.gaveUp {
			continue // the dialling caller gave up; this one has not
		}
		if e.err != nil && earlier {
			return nil, fmt.Errorf("%w (earlier in this run; not dialled again)", e.err)
		}
		return e.conn, e.err
	}
}

// callerEnded is the error of a caller's context that ended, or whose
// deadline has passed: its timer may not have fired yet when an I/O
// deadline set from it already has. nil while it runs.
func callerEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func parseJump(s string) Target {
	var t Target
	if i := strings.LastIndex(s, "@"); i >= 0 {
		t.User, s = s[:i], s[i+1:]
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		t.Port, _ = strconv.Atoi(p)
		s = h
	}
	t.Name = s
	return t
}

func dialThrough(ctx context.Context, c *ssh.Client, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		conn, err := c.Dial("tcp", addr)
		ch <- res{conn, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// simplifyNetError drops the Go-internal wording of dial errors and keeps
// what an operator needs: the address and the cause.
func simplifyNetError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		cause := op.Err
		var se interface{ Unwrap() error }
		if errors.As(cause, &se) && se.Unwrap() != nil {
			cause = se.Unwrap()
		}
		if op.Timeout() {
			return fmt.Errorf("%s: connect timed out", op.Addr)
		}
		return fmt.Errorf("%s: %v", op.Addr, cause)
	}
	return err
}

// explainHandshake turns handshake failures into messages that say what to do.
func (p *Pool) explainHandshake(r resolved, err error) error {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return hk
	}
	msg := err.Error()
	if strings.Contains(msg, "unable to authenticate") {
		return &AuthError{User: r.user, Addr: r.hostPort(), Tried: p.auth.describe(r), Err: err}
	}
	return fmt.Errorf("%s: ssh handshake: %w", r.hostPort(), err)
}

// AuthError says the server refused every credential offered.
type AuthError struct {
	User, Addr string
	Tried      []string
	Err        error
}

func (e *AuthError) Error() string {
	tried := "nothing (no ssh-agent, no key file found)"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	return fmt.Sprintf("%s@%s: authentication refused; offered %s. Give a key with --private-key or ansible_ssh_private_key_file, or load it into ssh-agent", e.User, e.Addr, tried)
}
func (e *AuthError) Unwrap() error { return e.Err }

// sshConn is a Conn over one SSH client connection.
type sshConn struct {
	name   string
	client *ssh.Client
	pool   *Pool

	closed  chan struct{} // closed when the connection has ended
	closing atomic.Bool   // Close was called: the connection is ending

	sftpOnce   sync.Once
	sftp       *sftp.Client
	sftpErr    error
	sftpPacket int // the size of sftp's packets (sftp.go)

	shellState // the shells a module's scripts run in (shell.go)
}

func (c *sshConn) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				return
			}
			missed = 0
		case <-time.After(every):
			// ServerAliveCountMax 3, as OpenSSH.
			if missed++; missed >= 3 {
				c.client.Close()
				return
			}
		}
	}
}

func (c *sshConn) isClosed() bool {
	if c.closing.Load() {
		return true
	}
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *sshConn) unreachable(err error) error {
	return &UnreachableError{Host: c.name, Err: err}
}

// Run implements Conn.
func (c *sshConn) Run(ctx context.Context, cmd Command) (Result, error) {
	defer Trace(ctx, time.Now(), c.name, "command")
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if !cmd.Login && cmd.Stdin == nil && (!cmd.Become || c.pool.cfg.BecomePassword == "") {
		user := ""
		if cmd.Become {
			user = becomeUser(cmd)
		}
		if res, err := c.runInShell(ctx, user, cmd.Line); !errors.Is(err, errNoBecomeShell) {
			return res, err
		}
	}
	s, err := c.newSession()
	if err != nil {
		return Result{}, c.sessionFailed(err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	line := cmd.Line
	stdin := cmd.Stdin
	if cmd.Become {
		line, stdin = c.becomeLine(cmd, stdin)
	}
	if stdin != nil {
		s.Stdin = stdin
	}
	if err := s.Start(line); err != nil {
		return Result{}, c.unreachable(fmt.Errorf("start command: %w", err))
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		// Ask the remote side to end the command, then close the session:
		// sshd hangs up the command's pipes so nothing keeps running
		// attached to this run.
		s.Signal(ssh.SIGTERM)
		s.Close()
		<-waited
		return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitStatus: -1}, ctx.Err()
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if cmd.Become {
		res.Stderr = stripSudoPrompt(res.Stderr)
	}
	if err != nil {
		var ee *ssh.ExitError
		var em *ssh.ExitMissingError
		switch {
		case errors.As(err, &ee):
			res.ExitStatus = ee.ExitStatus()
			res.Signal = ee.Signal()
		case errors.As(err, &em):
			return res, c.unreachable(errors.New("connection lost while the command ran (no exit status)"))
		default:
			return res, c.unreachable(err)
		}
	}
	return res, nil
}

// sudoPrompt is a prompt no real output contains, so it can be cut from
// stderr after sudo has read the password.
const sudoPrompt = "[etcdplay-sudo-password]"

// becomeLine wraps cmd in sudo. Without a password sudo runs
// non-interactively (-n), so a host that wants one fails at once with sudo's
// own message instead of hanging on a prompt nobody sees.
func (c *sshConn) becomeLine(cmd Command, stdin io.Reader) (string, io.Reader) {
	pw := c.pool.cfg.BecomePassword
	mode := "-n"
	if pw != "" {
		mode = "-S -p " + QuoteWord(sudoPrompt)
		pwr := strings.NewReader(pw + "\n")
		if stdin != nil {
			stdin = io.MultiReader(pwr, stdin)
		} else {
			stdin = pwr
		}
	}
	return sudoShell(mode, becomeUser(cmd)) + " -c " + QuoteWord(cmd.Line), stdin
}

// sudoShell is the sudo command line of a /bin/sh as user, with sudo's
// options mode (-n, or -S and the prompt).
func sudoShell(mode, user string) string {
	return fmt.Sprintf("sudo %s -H -u %s -- /bin/sh", mode, QuoteWord(user))
}

// becomeUser is who cmd runs as with Become: BecomeUser, root when empty.
func becomeUser(cmd Command) string { return cmp.Or(cmd.BecomeUser, "root") }

func stripSudoPrompt(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(sudoPrompt), nil)
}

func (c *sshConn) sftpClient() (*sftp.Client, error) {
	c.sftpOnce.Do(func() {
		c.sftp, c.sftpErr = openYielding(c, func() (*sftp.Client, error) {
			sc, packet, err := openSFTP(c.client, sftp.UseConcurrentWrites(true))
			c.sftpPacket = packet
			return sc, err
		})
		if c.sftpErr != nil {
			c.sftpErr = fmt.Errorf("sftp: %w (is the sftp subsystem enabled in sshd_config?)", c.sftpErr)
		}
	})
	return c.sftp, c.sftpErr
}

// Put implements Conn. Without become the file is written over SFTP next to
// path and renamed over it (posix-rename, atomic). With become it is
// uploaded to a private temporary file and moved into place with sudo
// install and mv, which is atomic as well because mv renames within the
// target directory.
func (c *sshConn) Put(ctx context.Context, dst string, r io.Reader, opts PutOptions) error {
	defer Trace(ctx, time.Now(), c.name, "put")
	if opts.Mode == 0 {
		opts.Mode = 0o644
	}
	sc, err := c.sftpClient()
	if err != nil {
		return c.unreachable(err)
	}
	if opts.Become {
		return c.putBecome(ctx, sc, dst, r, opts)
	}
	tmp := path.Join(path.Dir(dst), "."+path.Base(dst)+".etcdplay-"+randSuffix())
	if err := c.writeTemp(ctx, sc, tmp, r, opts.Mode); err != nil {
		return err
	}
	if opts.Owner != "" || opts.Group != "" {
		if err := c.chown(ctx, tmp, opts, false); err != nil {
			sc.Remove(tmp)
			return err
		}
	}
	if err := sc.PosixRename(tmp, dst); err != nil {
		sc.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", dst, err)
	}
	return nil
}

func (c *sshConn) writeTemp(ctx context.Context, sc *sftp.Client, tmp string, r io.Reader, mode os.FileMode) error {
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			sc.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode.Perm()); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	// fsync@openssh.com; servers without it still get the rename, which is
	// what makes the replace atomic, and the kernel writes back later.
	if err := f.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	ok = true
	return nil
}

func (c *sshConn) putBecome(ctx context.Context, sc *sftp.Client, dst string, r io.Reader, opts PutOptions) error {
	staging := path.Join("/tmp", ".etcdplay-"+randSuffix())
	if err := c.writeTemp(ctx, sc, staging, r, 0o600); err != nil {
		return err
	}
	defer sc.Remove(staging)
	tmp := path.Join(path.Dir(dst), "."+path.Base(dst)+".etcdplay-"+randSuffix())
	args := []string{"install", "-m", fmt.Sprintf("%04o", opts.Mode.Perm())}
	if opts.Owner != "" {
		args = append(args, "-o", opts.Owner)
	}
	if opts.Group != "" {
		args = append(args, "-g", opts.Group)
	}
	args = append(args, staging, tmp)
	line := Quote(args...) + " && sync " + QuoteWord(tmp) + " && mv -f " + QuoteWord(tmp) + " " + QuoteWord(dst) +
		" || { rc=$?; rm -f " + QuoteWord(tmp) + "; exit $rc; }"
	res, err := c.Run(ctx, Command{Line: line, Become: true, BecomeUser: opts.BecomeUser})
	if err != nil {
		// Cancelled mid-command, the line's own cleanup did not run: the
		// temporary file that install made goes now.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		c.Run(cctx, Command{Line: "rm -f -- " + QuoteWord(tmp), Become: true, BecomeUser: opts.BecomeUser})
		cancel()
		return err
	}
	if res.ExitStatus != 0 {
		return fmt.Errorf("install %s: %s", dst, firstLine(res.Stderr, res.ExitStatus))
	}
	return nil
}

func (c *sshConn) chown(ctx context.Context, p string, opts PutOptions, become bool) error {
	owner := opts.Owner
	if opts.Group != "" {
		owner += ":" + opts.Group
	}
	res, err := c.Run(ctx, Command{Line: Quote("chown", owner, p), Become: become, BecomeUser: opts.BecomeUser})
	if err != nil {
		return err
	}
	if res.ExitStatus != 0 {
		return fmt.Errorf("chown %s %s: %s", owner, p, firstLine(res.Stderr, res.ExitStatus))
	}
	return nil
}

// Get implements Conn.
func (c *sshConn) Get(ctx context.Context, src string, w io.Writer) error {
	defer Trace(ctx, time.Now(), c.name, "get")
	sc, err := c.sftpClient()
	if err != nil {
		return c.unreachable(err)
	}
	f, err := sc.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer f.Close()
	if _, err := f.WriteTo(ctxWriter{ctx, w}); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	return nil
}

// Close implements Conn.
func (c *sshConn) Close() error {
	c.closing.Store(true)
	c.closeShells()
	if c.sftp != nil {
		c.sftp.Close()
	}
	return c.client.Close()
}

func firstLine(stderr []byte, rc int) string {
	s := strings.TrimSpace(string(stderr))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return fmt.Sprintf("exit status %d", rc)
	}
	return s
}

// DialContext implements Dialer: a direct-tcpip channel on the connection.
func (c *sshConn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	defer Trace(ctx, time.Now(), c.name, "forward "+addr)
	conn, err := dialThrough(ctx, c.client, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: forward to %s: %w", c.name, addr, err)
	}
	return conn, nil
}

var _ Dialer = (*sshConn)(nil)

// Pipe implements Piper: a session whose stdin and stdout are the
// connection.
func (c *sshConn) Pipe(ctx context.Context, line string, ready []byte) (net.Conn, error) {
	s, err := c.client.NewSession()
	if err != nil {
		c.closing.Store(true)
		return nil, c.unreachable(fmt.Errorf("open session: %w", err))
	}
	in, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	var stderr bytes.Buffer
	s.Stderr = &stderr
	if err := s.Start(line); err != nil {
		s.Close()
		return nil, c.unreachable(fmt.Errorf("start command: %w", err))
	}
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, len(ready))
		_, err := io.ReadFull(out, buf)
		if err == nil && !bytes.Equal(buf, ready) {
			err = fmt.Errorf("unexpected output %q", buf)
		}
		got <- err
	}()
	select {
	case err = <-got:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		werr := s.Wait()
		s.Close()
		var ee *ssh.ExitError
		if errors.As(werr, &ee) {
			return nil, &PipeError{ExitStatus: ee.ExitStatus(), Stderr: firstLine(stderr.Bytes(), ee.ExitStatus())}
		}
		return nil, fmt.Errorf("command ended before it was ready: %v", err)
	}
	return &pipeConn{s: s, in: in, out: out, name: c.name}, nil
}

var _ Piper = (*sshConn)(nil)

// PipeError is a Pipe command that ended before it was ready.
type PipeError struct {
	ExitStatus int
	Stderr     string // its first line
}

func (e *PipeError) Error() string { return fmt.Sprintf("%s (exit status %d)", e.Stderr, e.ExitStatus) }

// pipeConn is a session's stdin and stdout as a net.Conn. Deadlines are
// not supported, as on SSH's own forwarded channels.
type pipeConn struct {
	s    *ssh.Session
	in   io.WriteCloser
	out  io.Reader
	name string
	once sync.Once
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.out.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.in.Write(b) }

// Close ends the command's input (it ends its relay) and the session.
func (p *pipeConn) Close() error {
	p.once.Do(func() {
		p.in.Close()
		p.s.Close()
	})
	return nil
}

func (p *pipeConn) LocalAddr() net.Addr                { return pipeAddr("etcdplay") }
func (p *pipeConn) RemoteAddr() net.Addr               { return pipeAddr(p.name) }
func (p *pipeConn) SetDeadline(t time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(t time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(t time.Time) error { return nil }

// pipeAddr names the end of a pipe: the host it runs on.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
