// Package sshdtest starts real OpenSSH sshd servers on loopback addresses
// (127.0.10.1 and up) for tests and benchmarks: one sshd process per 16
// addresses, a generated host key, a generated client key and a dedicated
// test user with a plain /bin/sh (root's own shell start-up is slow and not
// what is under test). Every process it starts is ended by PID when the test
// ends.
package sshdtest

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// User is the account the servers accept. It is created on first use, with
// password-less sudo; PasswordUser needs its password for sudo.
const (
	User         = "etcdplay-t"
	PasswordUser = "etcdplay-p"
	// Password is PasswordUser's password, for sudo -S tests.
	Password = "etcdplay-test-pw"
)

// sshdPath is Debian's openssh-server binary.
const sshdPath = "/usr/sbin/sshd"

// maxAddrsPerSSHD is sshd's limit on ListenAddress entries.
const maxAddrsPerSSHD = 16

// Host is one address a server listens on.
type Host struct {
	Name string // h1, h2, ...
	Addr string // 127.0.10.1, ...
	Port int
}

// HostPort is Addr:Port.
func (h Host) HostPort() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// Server is a set of sshd processes serving Hosts.
type Server struct {
	Hosts      []Host
	Dir        string // holds keys, configs and logs
	KeyFile    string // client private key (ed25519, unencrypted)
	KnownHosts string // known_hosts with every host's key
	HostKey    ssh.PublicKey
	pids       []int
	opts       Options
	certFile   string
}

// Options tune Start.
type Options struct {
	// Offset shifts the addresses so two servers in one test do not
	// collide: 0 starts at 127.0.10.1, 20 at 127.0.10.21.
	Offset int
	// HostKeyFile, when set, is used instead of a generated host key.
	HostKeyFile string
	// CA, when set, signs a host certificate for the host key that sshd
	// presents (for @cert-authority tests).
	CA ssh.Signer
	// LogLevel is sshd's LogLevel; ERROR when empty.
	LogLevel string
	// MaxSessions is sshd's MaxSessions (sessions at once on one
	// connection), as hardened servers set it; 1000 when 0.
	MaxSessions int
}

// Skip reports why real-sshd tests cannot run here, or "".
func Skip() string {
	if os.Geteuid() != 0 {
		return "needs root: starts sshd and creates the test users " + User + " and " + PasswordUser
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return "needs " + sshdPath + " (Debian package openssh-server; make test installs it)"
	}
	return ""
}

// Start starts sshd for n hosts and stops it when tb ends. It skips the test
// when Skip says so.
func Start(tb testing.TB, n int) *Server {
	return StartWith(tb, n, Options{})
}

// StartWith is Start with options.
func StartWith(tb testing.TB, n int, o Options) *Server {
	tb.Helper()
	if why := Skip(); why != "" {
		tb.Skip(why)
	}
	if err := ensureUsers(); err != nil {
		tb.Fatalf("sshdtest: test users: %v", err)
	}
	// sshd reads authorized_keys as the test user, so the directory must
	// be readable by it all the way down (t.TempDir's parent is private).
	dir, err := os.MkdirTemp("", "etcdplay-sshd-")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Dir: dir}
	hostKey := o.HostKeyFile
	if hostKey == "" {
		hostKey = filepath.Join(dir, "ssh_host_ed25519_key")
		if _, err := writeKey(hostKey); err != nil {
			tb.Fatal(err)
		}
	}
	hk, err := readPublic(hostKey)
	if err != nil {
		tb.Fatal(err)
	}
	s.HostKey = hk
	s.opts = o
	s.KeyFile = filepath.Join(dir, "id_ed25519")
	clientPub, err := writeKey(s.KeyFile)
	if err != nil {
		tb.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		tb.Fatal(err)
	}
	addrs := make([]string, n)
	for i := range n {
		k := o.Offset + i
		addrs[i] = fmt.Sprintf("127.0.%d.%d", 10+k/250, k%250+1)
	}
	port, err := freePort(addrs)
	if err != nil {
		tb.Fatal(err)
	}
	var kh strings.Builder
	for i, a := range addrs {
		h := Host{Name: fmt.Sprintf("h%d", i+1), Addr: a, Port: port}
		s.Hosts = append(s.Hosts, h)
		fmt.Fprintf(&kh, "[%s]:%d %s", a, port, ssh.MarshalAuthorizedKey(hk))
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(kh.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	if o.CA != nil {
		s.certFile = hostKey + "-cert.pub"
		if err := signHostCert(o.CA, hk, addrs, s.certFile); err != nil {
			tb.Fatal(err)
		}
	}
	os.MkdirAll("/run/sshd", 0o755)
	tb.Cleanup(s.stop)
	for start := 0; start < n; start += maxAddrsPerSSHD {
		end := min(start+maxAddrsPerSSHD, n)
		if err := s.startOne(start/maxAddrsPerSSHD, hostKey, auth, s.Hosts[start:end]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.waitReady(10 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *Server) startOne(i int, hostKey, auth string, hosts []Host) error {
	var cfg strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&cfg, "ListenAddress %s\n", h.HostPort())
	}
	if s.certFile != "" {
		fmt.Fprintf(&cfg, "HostCertificate %s\n", s.certFile)
	}
	level := s.opts.LogLevel
	if level == "" {
		level = "ERROR"
	}
	fmt.Fprintf(&cfg, "LogLevel %s\n", level)
	fmt.Fprintf(&cfg, "MaxSessions %d\n", cmp.Or(s.opts.MaxSessions, 1000))
	fmt.Fprintf(&cfg, `HostKey %s
AuthorizedKeysFile %s
PidFile none
StrictModes no
UsePAM no
UseDNS no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers %s %s
MaxStartups 1000
LoginGraceTime 30
AllowTcpForwarding yes
Subsystem sftp internal-sftp
`, hostKey, auth, User, PasswordUser)
	cfgFile := filepath.Join(s.Dir, fmt.Sprintf("sshd_config.%d", i))
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(s.Dir, fmt.Sprintf("sshd.%d.log", i)))
	if err != nil {
		return err
	}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary that dies (a panic, a timeout) runs no Cleanup: the
	// kernel ends sshd with it instead.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start sshd: %w", err)
	}
	s.pids = append(s.pids, cmd.Process.Pid)
	go func() { cmd.Wait(); logf.Close() }()
	return nil
}

// waitReady waits until every address answers with an SSH banner.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, h := range s.Hosts {
		for {
			c, err := net.DialTimeout("tcp", h.HostPort(), time.Second)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				line, rerr := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if rerr == nil && strings.HasPrefix(line, "SSH-") {
					break
				}
			}
			if time.Now().After(deadline) {
				logs, _ := filepath.Glob(filepath.Join(s.Dir, "sshd.*.log"))
				var out []byte
				for _, l := range logs {
					b, _ := os.ReadFile(l)
					out = append(out, b...)
				}
				return fmt.Errorf("sshd on %s not ready after %s: %v\n%s", h.HostPort(), limit, err, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// CPUTime is the CPU time sshd has used so far: its listener processes and
// the per-connection children they have reaped.
func (s *Server) CPUTime() (time.Duration, error) {
	var total time.Duration
	for _, pid := range s.pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// Fields after the command name, which may hold spaces: 14-17 are
		// utime, stime, cutime, cstime in clock ticks (100 Hz on Linux).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		for _, i := range []int{11, 12, 13, 14} {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			total += time.Duration(n) * 10 * time.Millisecond
		}
	}
	return total, nil
}

// Stop ends the servers' processes (by PID); connections they serve end too.
func (s *Server) Stop() { s.stop() }

func (s *Server) stop() {
	for _, pid := range s.pids {
		if p, err := os.FindProcess(pid); err == nil {
			p.Signal(os.Kill)
		}
	}
	s.pids = nil
}

// WriteInventory writes an INI inventory of the hosts in group "test" with
// the connection vars set, and returns its path.
func (s *Server) WriteInventory(tb testing.TB, dir string) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("[test]\n")
	for _, h := range s.Hosts {
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d\n", h.Name, h.Addr, h.Port)
	}
	fmt.Fprintf(&b, "\n[all:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n", User, s.KeyFile)
	p := filepath.Join(dir, "inventory.ini")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

var usersOnce sync.Once
var usersErr error

// ensureUsers creates the test users once per machine: User with
// password-less sudo, PasswordUser whose sudo asks for Password.
func ensureUsers() error {
	usersOnce.Do(func() {
		for _, u := range []string{User, PasswordUser} {
			if _, err := user.Lookup(u); err == nil {
				continue
			}
			out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", u).CombinedOutput()
			if err != nil {
				if _, lerr := user.Lookup(u); lerr == nil {
					continue // created by a parallel test process
				}
				usersErr = fmt.Errorf("useradd %s: %v: %s", u, err, out)
				return
			}
		}
		// sshd without PAM refuses accounts whose password is locked ("!"),
		// which is how useradd leaves them; "*" allows key logins only.
		if out, err := exec.Command("usermod", "-p", "*", User).CombinedOutput(); err != nil {
			usersErr = fmt.Errorf("usermod %s: %v: %s", User, err, out)
			return
		}
		sudoers := fmt.Sprintf("%s ALL=(ALL) NOPASSWD: ALL\n%s ALL=(ALL) ALL\nDefaults:%s !lecture\n", User, PasswordUser, PasswordUser)
		if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
			usersErr = err
			return
		}
		if err := os.WriteFile("/etc/sudoers.d/etcdplay-test", []byte(sudoers), 0o440); err != nil {
			usersErr = err
			return
		}
		cmd := exec.Command("chpasswd")
		cmd.Stdin = strings.NewReader(PasswordUser + ":" + Password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			usersErr = fmt.Errorf("chpasswd: %v: %s", err, out)
		}
	})
	return usersErr
}

// freePort finds a port free on every address.
func freePort(addrs []string) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{l}
		ok := true
		for _, a := range addrs[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l2)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free on all of %s..%s", addrs[0], addrs[len(addrs)-1])
}

// WriteKey writes a new unencrypted ed25519 private key in OpenSSH format to
// path (0600) and returns its public key.
func WriteKey(path string) (ssh.PublicKey, error) { return writeKey(path) }

func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "etcdplay-test")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return sp, os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sp), 0o644)
}

func readPublic(privPath string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(privPath)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, err
	}
	return s.PublicKey(), nil
}

// HangingListener accepts TCP connections on addr and never says anything,
// like a host whose sshd is wedged. It is closed when tb ends.
func HangingListener(tb testing.TB, addr string) string {
	tb.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// Connector connects to inventory hosts of this server with its client key
// and known_hosts, through one transport.Pool, closed when tb ends.
type Connector struct{ Pool *transport.Pool }

// Connector returns a connector for the hosts of s.
func (s *Server) Connector(tb testing.TB) *Connector {
	tb.Helper()
	pool, err := transport.NewPool(s.Config())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pool.Close() })
	return &Connector{Pool: pool}
}

// Config is a transport configuration that trusts exactly these servers.
func (s *Server) Config() transport.Config {
	return transport.Config{
		User:           User,
		KeyFiles:       []string{s.KeyFile},
		KnownHostsFile: s.KnownHosts,
		SSHConfigFile:  "none",
		NoAgent:        true,
		ConnectTimeout: 5 * time.Second,
	}
}

// Connect implements engine.Connector.
func (c *Connector) Connect(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	return c.Pool.Connect(ctx, transport.Target{Name: h.Name, Addr: h.Address(), Port: h.Port(), User: h.User()})
}

func signHostCert(ca ssh.Signer, hostKey ssh.PublicKey, principals []string, file string) error {
	cert := &ssh.Certificate{
		Key:             hostKey,
		CertType:        ssh.HostCert,
		KeyId:           "etcdplay-test-host",
		ValidPrincipals: principals,
		ValidAfter:      uint64(time.Now().Add(-time.Hour).Unix()),
		ValidBefore:     ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		return err
	}
	return os.WriteFile(file, ssh.MarshalAuthorizedKey(cert), 0o644)
}

// LogFile returns the log of the sshd serving the first 16 hosts.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "sshd.0.log") }
