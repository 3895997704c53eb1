package transport_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/engine/transport/sshdtest"
)

func target(h sshdtest.Host) transport.Target {
	return transport.Target{Name: h.Name, Addr: h.Addr, Port: h.Port}
}

func newPool(t testing.TB, cfg transport.Config) *transport.Pool {
	t.Helper()
	if cfg.HomeDir == "" {
		cfg.HomeDir = t.TempDir() // no stray ~/.ssh of the machine
	}
	p, err := transport.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func connect(t testing.TB, p *transport.Pool, h sshdtest.Host) transport.Conn {
	t.Helper()
	c, err := p.Connect(context.Background(), target(h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c transport.Conn, line string) transport.Result {
	t.Helper()
	res, err := c.Run(context.Background(), transport.Command{Line: line})
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return res
}

func TestRunSeparatesStreamsAndStatus(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	res := run(t, c, "echo out; echo err >&2; exit 3")
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitStatus != 3 {
		t.Fatalf("got stdout %q stderr %q rc %d", res.Stdout, res.Stderr, res.ExitStatus)
	}
	res, err := c.Run(context.Background(), transport.Command{Line: "cat; whoami", Stdin: strings.NewReader("in\n")})
	if err != nil || string(res.Stdout) != "in\n"+sshdtest.User+"\n" {
		t.Fatalf("stdin: %q %v", res.Stdout, err)
	}
	// Words quoted by Quote reach the program unchanged.
	word := `it's "quoted" $HOME; rm -rf /`
	res = run(t, c, transport.Quote("printf", "%s", word))
	if string(res.Stdout) != word {
		t.Fatalf("quote: got %q", res.Stdout)
	}
}

// One connection per host, every command a session on it.
func TestOneConnectionPerHostManySessions(t *testing.T) {
	srv := sshdtest.Start(t, 3)
	p := newPool(t, srv.Config())
	var wg sync.WaitGroup
	conns := make([][]transport.Conn, len(srv.Hosts))
	for i, h := range srv.Hosts {
		conns[i] = make([]transport.Conn, 10)
		for j := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := p.Connect(context.Background(), target(h))
				if err != nil {
					t.Error(err)
					return
				}
				conns[i][j] = c
			}()
		}
	}
	wg.Wait()
	for i := range conns {
		for j := range conns[i] {
			if conns[i][j] != conns[i][0] {
				t.Fatalf("host %d: connection %d differs from the first: one connection per host expected", i, j)
			}
		}
	}
	// 30 concurrent sessions on one connection; each sees its own output.
	c := conns[0][0]
	errs := make(chan error, 30)
	for k := range 30 {
		go func() {
			res, err := c.Run(context.Background(), transport.Command{Line: fmt.Sprintf("echo %d", k)})
			if err == nil && strings.TrimSpace(string(res.Stdout)) != strconv.Itoa(k) {
				err = fmt.Errorf("session %d got %q", k, res.Stdout)
			}
			errs <- err
		}()
	}
	for range 30 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// All those sessions came over one TCP connection: sshd saw one client.
	res := run(t, c, "echo $SSH_CONNECTION")
	if len(strings.Fields(string(res.Stdout))) != 4 {
		t.Fatalf("SSH_CONNECTION: %q", res.Stdout)
	}
}

func TestAuthKeyFileFormats(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	dir := t.TempDir()
	// The server trusts srv.KeyFile; add ecdsa, rsa and an encrypted key.
	var auth bytes.Buffer
	pubOf := func(f string) {
		b, err := os.ReadFile(f + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		auth.Write(b)
	}
	pubOf(srv.KeyFile)
	for _, kt := range []string{"ecdsa", "rsa"} {
		f := filepath.Join(dir, "id_"+kt)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", kt, "-N", "", "-f", f).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		pubOf(f)
	}
	enc := filepath.Join(dir, "id_enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret", "-f", enc).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pubOf(enc)
	if err := os.WriteFile(filepath.Join(srv.Dir, "authorized_keys"), auth.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{srv.KeyFile, filepath.Join(dir, "id_ecdsa"), filepath.Join(dir, "id_rsa")} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := srv.Config()
			cfg.KeyFiles = []string{f}
			c := connect(t, newPool(t, cfg), srv.Hosts[0])
			run(t, c, "true")
		})
	}
	t.Run("encrypted", func(t *testing.T) {
		cfg := srv.Config()
		cfg.KeyFiles = []string{enc}
		asked := 0
		cfg.Passphrase = func(file string) ([]byte, error) { asked++; return []byte("s3cret"), nil }
		p := newPool(t, cfg)
		run(t, connect(t, p, srv.Hosts[0]), "true")
		if asked != 1 {
			t.Fatalf("passphrase asked %d times, want 1", asked)
		}
	})
	t.Run("encrypted without a terminal", func(t *testing.T) {
		cfg := srv.Config()
		cfg.KeyFiles = []string{enc}
		_, err := newPool(t, cfg).Connect(context.Background(), target(srv.Hosts[0]))
		var ae *transport.AuthError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "encrypted") || !transport.IsUnreachable(err) {
			t.Fatalf("want an unreachable AuthError naming the encrypted key, got %v", err)
		}
	})
}

func TestAuthAgent(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Skipf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("ssh-agent socket never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	add := exec.Command("ssh-add", srv.KeyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	cfg := srv.Config()
	cfg.KeyFiles = nil
	cfg.NoAgent = false
	run(t, connect(t, newPool(t, cfg), srv.Hosts[0]), "true")

	// And without the agent nothing is offered: a clear error.
	cfg.NoAgent = true
	_, err := newPool(t, cfg).Connect(context.Background(), target(srv.Hosts[0]))
	if err == nil || !strings.Contains(err.Error(), "authentication refused") || !strings.Contains(err.Error(), "--private-key") {
		t.Fatalf("want an authentication error that says what to do, got %v", err)
	}
}

func TestKnownHosts(t *testing.T) {
	srv := sshdtest.Start(t, 2)
	h := srv.Hosts[0]

	t.Run("unknown key refused", func(t *testing.T) {
		cfg := srv.Config()
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
		_, err := newPool(t, cfg).Connect(context.Background(), target(h))
		var hk *transport.HostKeyError
		if !errors.As(err, &hk) {
			t.Fatalf("want HostKeyError, got %v", err)
		}
		msg := err.Error()
		for _, want := range []string{h.Name, ssh.FingerprintSHA256(srv.HostKey), "--accept-new-host-keys", "not known"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q: %s", want, msg)
			}
		}
		if _, err := os.Stat(cfg.KnownHostsFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("known_hosts was written without --accept-new-host-keys")
		}
	})

	t.Run("accept new records the key", func(t *testing.T) {
		cfg := srv.Config()
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), "sub", "known_hosts")
		cfg.AcceptNewHostKeys = true
		run(t, connect(t, newPool(t, cfg), h), "true")
		b, err := os.ReadFile(cfg.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		want := knownhosts.Line([]string{knownhosts.Normalize(h.HostPort())}, srv.HostKey)
		if strings.TrimSpace(string(b)) != want {
			t.Fatalf("recorded %q, want %q", b, want)
		}
		// A strict pool now trusts it.
		cfg.AcceptNewHostKeys = false
		run(t, connect(t, newPool(t, cfg), h), "true")
	})

	t.Run("changed key refused even with accept-new", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		otherPub, _ := ssh.NewPublicKey(other.Public())
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(h.HostPort())}, otherPub)+"\n"), 0o600)
		cfg := srv.Config()
		cfg.KnownHostsFile = kh
		cfg.AcceptNewHostKeys = true
		_, err := newPool(t, cfg).Connect(context.Background(), target(h))
		if err == nil || !strings.Contains(err.Error(), "HAS CHANGED") || !strings.Contains(err.Error(), "ssh-keygen -f "+kh+" -R") {
			t.Fatalf("want a loud changed-key refusal, got %v", err)
		}
		b, _ := os.ReadFile(kh)
		if strings.Count(string(b), "\n") != 1 {
			t.Fatalf("known_hosts was modified: %q", b)
		}
	})

	t.Run("per-host known_hosts file", func(t *testing.T) {
		cfg := srv.Config()
		cfg.KnownHostsFile = "" // the run's default (~/.ssh/known_hosts) is empty
		tg := target(h)
		tg.KnownHostsFiles = []string{srv.KnownHosts}
		c, err := newPool(t, cfg).Connect(context.Background(), tg)
		if err != nil {
			t.Fatal(err)
		}
		run(t, c, "true")
		_, err = newPool(t, cfg).Connect(context.Background(), target(h))
		var hk *transport.HostKeyError
		if !errors.As(err, &hk) {
			t.Fatalf("without the host's own file: want HostKeyError, got %v", err)
		}
	})

	t.Run("hashed entry", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		line := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(h.HostPort()))}, srv.HostKey)
		os.WriteFile(kh, []byte(line+"\n"), 0o600)
		cfg := srv.Config()
		cfg.KnownHostsFile = kh
		run(t, connect(t, newPool(t, cfg), h), "true")
	})

	t.Run("cert authority", func(t *testing.T) {
		_, caPriv, _ := ed25519.GenerateKey(rand.Reader)
		ca, _ := ssh.NewSignerFromKey(caPriv)
		csrv := sshdtest.StartWith(t, 1, sshdtest.Options{Offset: 40, CA: ca})
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte(fmt.Sprintf("@cert-authority [127.0.10.*]:%d %s", csrv.Hosts[0].Port, ssh.MarshalAuthorizedKey(ca.PublicKey()))), 0o600)
		cfg := csrv.Config()
		cfg.KnownHostsFile = kh
		run(t, connect(t, newPool(t, cfg), csrv.Hosts[0]), "true")
	})
}

func TestProxyJump(t *testing.T) {
	srv := sshdtest.StartWith(t, 2, sshdtest.Options{Offset: 60, LogLevel: "DEBUG1"})
	jump, dest := srv.Hosts[0], srv.Hosts[1]
	cfgFile := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`Host bastion
  HostName %s
  Port %d
Host inner
  HostName %s
  Port %d
  ProxyJump bastion
`, jump.Addr, jump.Port, dest.Addr, dest.Port)), 0o600)
	cfg := srv.Config()
	cfg.SSHConfigFile = cfgFile
	p := newPool(t, cfg)
	c, err := p.Connect(context.Background(), transport.Target{Name: "inner"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c, "true")
	// The bastion's sshd forwarded a connection to the inner host.
	want := fmt.Sprintf("target %s port %d", dest.Addr, dest.Port)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(srv.LogFile())
		return bytes.Contains(b, []byte(want))
	}, "bastion log to show a forward to "+dest.HostPort())

	// And by target field, as an inventory would give it.
	p2 := newPool(t, srv.Config())
	c2, err := p2.Connect(context.Background(), transport.Target{Name: "x", Addr: dest.Addr, Port: dest.Port, ProxyJump: fmt.Sprintf("%s@%s", sshdtest.User, jump.HostPort())})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c2, "true")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestBecome(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	res, err := c.Run(context.Background(), transport.Command{Line: "id -un; echo $HOME", Become: true})
	if err != nil || string(res.Stdout) != "root\n/root\n" {
		t.Fatalf("become: %q %q %v", res.Stdout, res.Stderr, err)
	}
	res, err = c.Run(context.Background(), transport.Command{Line: "id -un", Become: true, BecomeUser: sshdtest.PasswordUser})
	if err != nil || string(res.Stdout) != sshdtest.PasswordUser+"\n" {
		t.Fatalf("become_user: %q %q %v", res.Stdout, res.Stderr, err)
	}

	cfg := srv.Config()
	cfg.User = sshdtest.PasswordUser
	t.Run("password needed", func(t *testing.T) {
		c := connect(t, newPool(t, cfg), srv.Hosts[0])
		res, err := c.Run(context.Background(), transport.Command{Line: "id -un", Become: true})
		if err != nil || res.ExitStatus == 0 || !strings.Contains(string(res.Stderr), "password is required") {
			t.Fatalf("want sudo to fail at once asking for a password, got rc %d %q %v", res.ExitStatus, res.Stderr, err)
		}
	})
	t.Run("password given", func(t *testing.T) {
		cfg := cfg
		cfg.BecomePassword = sshdtest.Password
		c := connect(t, newPool(t, cfg), srv.Hosts[0])
		res, err := c.Run(context.Background(), transport.Command{Line: "id -un; cat", Become: true, Stdin: strings.NewReader("after-password\n")})
		if err != nil || string(res.Stdout) != "root\nafter-password\n" || strings.Contains(string(res.Stderr), "etcdplay-sudo") {
			t.Fatalf("got %q %q rc %d %v", res.Stdout, res.Stderr, res.ExitStatus, err)
		}
	})
}

func TestPutAtomic(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	dir := "/tmp/etcdplay-put-" + strconv.Itoa(os.Getpid())
	run(t, c, "mkdir -p "+dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	dst := dir + "/f"
	a := bytes.Repeat([]byte("a"), 300_000)
	b := bytes.Repeat([]byte("b"), 700_000)

	if err := c.Put(context.Background(), dst, bytes.NewReader(a), transport.PutOptions{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	res := run(t, c, "stat -c %a "+dst)
	if strings.TrimSpace(string(res.Stdout)) != "640" {
		t.Fatalf("mode %q, want 640", res.Stdout)
	}

	// A reader never sees a part: every read is all of a or all of b.
	stop := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() {
		reads := 0
		for {
			select {
			case <-stop:
				if reads == 0 {
					readerErr <- errors.New("reader never read")
				} else {
					readerErr <- nil
				}
				return
			default:
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				readerErr <- err
				return
			}
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				readerErr <- fmt.Errorf("read %d bytes that are neither version", len(got))
				return
			}
			reads++
		}
	}()
	for i := range 20 {
		content := a
		if i%2 == 0 {
			content = b
		}
		if err := c.Put(context.Background(), dst, bytes.NewReader(content), transport.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, dir)

	var got bytes.Buffer
	if err := c.Get(context.Background(), dst, &got); err != nil || !bytes.Equal(got.Bytes(), a) {
		t.Fatalf("get: %d bytes, %v", got.Len(), err)
	}
	// OpenSSH's sftp-server says, in limits@openssh.com (8.7 and later),
	// that it takes packets of 255 KB, so the files above went in a few
	// large packets, not in packets of 32 KB.
	if n := transport.SFTPPacket(c); n != 255<<10 {
		t.Errorf("SFTP packets of %d bytes, want OpenSSH's limit of %d", n, 255<<10)
	}

	t.Run("cancelled upload leaves the old file", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := &slowReader{n: 50 << 20, after: 1 << 20, cancel: cancel}
		err := c.Put(ctx, dst, r, transport.PutOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
		cur, _ := os.ReadFile(dst)
		if !bytes.Equal(cur, a) {
			t.Fatalf("destination changed by a cancelled upload")
		}
		assertNoTemp(t, dir)
	})

	t.Run("become, cancelled as the file is moved into place", func(t *testing.T) {
		// Cancelled once sudo's install has made the temporary file next
		// to the destination (while it syncs 64 MB), the command's own
		// cleanup never runs; Put removes the file itself. A cancel that
		// comes too late (the Put done) is tried again.
		big := bytes.Repeat([]byte("c"), 64<<20)
		for try := 0; ; try++ {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for ctx.Err() == nil {
					if ms, _ := filepath.Glob(dir + "/.f.etcdplay-*"); len(ms) > 0 {
						cancel()
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			err := c.Put(ctx, dst, bytes.NewReader(big), transport.PutOptions{Become: true})
			cancel()
			if err == nil {
				if try == 4 {
					t.Fatal("five Puts ended before their temporary file was seen")
				}
				continue
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("want context.Canceled, got %v", err)
			}
			assertNoTemp(t, dir)
			break
		}
	})

	t.Run("become with owner", func(t *testing.T) {
		rootDir := "/root/etcdplay-put-" + strconv.Itoa(os.Getpid())
		os.MkdirAll(rootDir, 0o700)
		t.Cleanup(func() { os.RemoveAll(rootDir) })
		err := c.Put(context.Background(), rootDir+"/conf", strings.NewReader("x=1\n"), transport.PutOptions{Mode: 0o600, Owner: "root", Group: "root", Become: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(rootDir + "/conf")
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("stat: %v %v", st, err)
		}
		assertNoTemp(t, rootDir)
		// Without become the login user cannot write there: a failure, not
		// unreachable.
		err = c.Put(context.Background(), rootDir+"/other", strings.NewReader("x"), transport.PutOptions{})
		if err == nil || transport.IsUnreachable(err) {
			t.Fatalf("want a permission failure, got %v", err)
		}
	})
}

type slowReader struct {
	n, read, after int
	cancel         func()
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.read >= r.after && r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	n := min(len(p), r.n-r.read)
	for i := range n {
		p[i] = 'z'
	}
	r.read += n
	return n, nil
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".etcdplay-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
	tmps, _ := filepath.Glob("/tmp/.etcdplay-*")
	if len(tmps) > 0 {
		t.Fatalf("staging files left in /tmp: %v", tmps)
	}
}

func TestUnreachable(t *testing.T) {
	if why := sshdtest.Skip(); why != "" {
		t.Skip(why)
	}
	cfg := transport.Config{SSHConfigFile: "none", NoAgent: true, ConnectTimeout: 700 * time.Millisecond, KnownHostsFile: filepath.Join(t.TempDir(), "kh")}

	t.Run("refused", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.10.200:0")
		addr := l.Addr().(*net.TCPAddr)
		l.Close() // nothing listens there now
		start := time.Now()
		_, err := newPool(t, cfg).Connect(context.Background(), transport.Target{Name: "down", Addr: addr.IP.String(), Port: addr.Port})
		if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("want unreachable: connection refused, got %v", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("refused connection took %s to report", d)
		}
	})
	t.Run("hangs", func(t *testing.T) {
		addr := sshdtest.HangingListener(t, "127.0.10.201:0")
		host, port, _ := net.SplitHostPort(addr)
		pn, _ := strconv.Atoi(port)
		start := time.Now()
		_, err := newPool(t, cfg).Connect(context.Background(), transport.Target{Name: "wedged", Addr: host, Port: pn})
		if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "no SSH handshake within") {
			t.Fatalf("want unreachable: handshake timeout, got %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("hanging host held the run for %s with a 700ms timeout", d)
		}
	})
}

// TestUnreachableOncePerRun: a host that did not answer is not dialled
// again by the same pool (a run waits on a dead host once, not at every
// step that names it), unless the caller gave up before the dial could
// tell (its context ended): then the next step dials again.
func TestUnreachableOncePerRun(t *testing.T) {
	if why := sshdtest.Skip(); why != "" {
		t.Skip(why)
	}
	cfg := transport.Config{SSHConfigFile: "none", NoAgent: true, ConnectTimeout: 300 * time.Millisecond, KnownHostsFile: filepath.Join(t.TempDir(), "kh")}
	l, err := net.Listen("tcp", "127.0.10.202:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepts atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Cleanup(func() { l.Close() })
	addr := l.Addr().(*net.TCPAddr)
	target := transport.Target{Name: "dead", Addr: addr.IP.String(), Port: addr.Port}
	p := newPool(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = p.Connect(ctx, target)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connect given up by its caller: want the context's error, got %v", err)
	}
	for i := 1; i <= 3; i++ {
		_, err := p.Connect(context.Background(), target)
		if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "no SSH handshake within") {
			t.Fatalf("connect %d: want unreachable, got %v", i, err)
		}
		if again := strings.Contains(err.Error(), "not dialled again"); again != (i > 1) {
			t.Errorf("connect %d: %v; want it to say it was not dialled again from the second on", i, err)
		}
	}
	if n := accepts.Load(); n != 2 {
		t.Errorf("the host was dialled %d times; want 2 (the dial its caller gave up on, then one for the three steps)", n)
	}
}

// TestUnreachableJumpOncePerRun: a host behind a jump host that accepts
// and never speaks is as unreachable as a dead host: the second step that
// names it is told so at once, not left waiting on the first one's dial.
func TestUnreachableJumpOncePerRun(t *testing.T) {
	if why := sshdtest.Skip(); why != "" {
		t.Skip(why)
	}
	cfg := transport.Config{SSHConfigFile: "none", NoAgent: true, ConnectTimeout: 300 * time.Millisecond, KnownHostsFile: filepath.Join(t.TempDir(), "kh")}
	jump := sshdtest.HangingListener(t, "127.0.10.203:0")
	target := transport.Target{Name: "inner", Addr: "127.0.10.204", Port: 22, ProxyJump: "root@" + jump}
	p := newPool(t, cfg)
	for i := 1; i <= 2; i++ {
		done := make(chan error, 1)
		go func() {
			_, err := p.Connect(context.Background(), target)
			done <- err
		}()
		select {
		case err := <-done:
			if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "jump host") || !strings.Contains(err.Error(), "no SSH handshake within") {
				t.Fatalf("connect %d: want unreachable through the jump host, got %v", i, err)
			}
			if again := strings.Contains(err.Error(), "not dialled again"); again != (i > 1) {
				t.Errorf("connect %d: %v; want the second to say it was not dialled again", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("connect %d through a silent jump host did not return", i)
		}
	}
}

func TestRunCancelEndsRemoteCommand(t *testing.T) {
	srv := sshdtest.Start(t, 1)
	c := connect(t, newPool(t, srv.Config()), srv.Hosts[0])
	for _, cmd := range []transport.Command{
		{Line: "sleep %s", Login: true},              // a session of its own
		{Line: "sleep %s"},                           // the kept shell
		{Line: "sleep %s; echo never"},               // more than the first process
		{Line: "sleep %s; echo never", Become: true}, // the shell sudo started
	} {
		wantCancelEnds(t, c, cmd)
	}
}

// wantCancelEnds runs cmd, its %s a sleep's unique length, with a context
// that ends at once: Run returns the context's error promptly, the sleep
// ends on the host, and the connection still serves commands.
func wantCancelEnds(t *testing.T, c transport.Conn, cmd transport.Command) {
	t.Helper()
	marker := fmt.Sprintf("%d.%d", 40+os.Getpid()%50, time.Now().Nanosecond()%1000)
	cmd.Line = fmt.Sprintf(cmd.Line, marker)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, cmd)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%q: want the context's error, got %v", cmd.Line, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("%q: cancel took %s", cmd.Line, d)
	}
	waitFor(t, func() bool {
		out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output()
		return len(bytes.TrimSpace(out)) == 0
	}, "the remote sleep of "+cmd.Line+" to end")
	run(t, c, "true")
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, w := range []string{"", "plain", "a b", "it's", `"`, "$(id)", "`id`", "a\nb", "*", "-n", "é"} {
		out, err := exec.Command("sh", "-c", "printf %s "+transport.QuoteWord(w)).Output()
		if err != nil || string(out) != w {
			t.Errorf("QuoteWord(%q) → %q reached sh as %q (%v)", w, transport.QuoteWord(w), out, err)
		}
	}
}

// A host whose connection ended (sshd restarted, the host rebooted) is
// dialled again by the next Connect of the run.
func TestReconnectAfterConnectionLoss(t *testing.T) {
	srv := sshdtest.StartWith(t, 1, sshdtest.Options{Offset: 80})
	p := newPool(t, srv.Config())
	c1 := connect(t, p, srv.Hosts[0])
	run(t, c1, "true")
	c1.Close() // as if the server had gone away
	waitFor(t, func() bool {
		_, err := c1.Run(context.Background(), transport.Command{Line: "true"})
		return transport.IsUnreachable(err)
	}, "the closed connection to report unreachable")
	c2 := connect(t, p, srv.Hosts[0])
	if c2 == c1 {
		t.Fatal("Connect returned the dead connection")
	}
	run(t, c2, "true")
}

// TestTrace: with tracing on, the dial, each command, each file sent and
// fetched is a line naming the host and the label of its context, and no
// line holds the command or the content.
func TestTrace(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "trace"))
	if err != nil {
		t.Fatal(err)
	}
	defer transport.TraceTo(f)()
	srv := sshdtest.Start(t, 1)
	h := srv.Hosts[0]
	ctx := transport.WithTrace(context.Background(), "task 7 copy site.star:3:5")
	c, err := newPool(t, srv.Config()).Connect(ctx, target(h))
	if err != nil {
		t.Fatal(err)
	}
	dir := "/tmp/etcdplay-trace-" + strconv.Itoa(os.Getpid())
	if _, err := c.Run(ctx, transport.Command{Line: "mkdir -p " + dir + "; echo the-secret-word"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dst := dir + "/f"
	if err := c.Put(ctx, dst, strings.NewReader("secret content"), transport.PutOptions{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, dst, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var kinds []string
	for _, l := range lines {
		fs := strings.Fields(l)
		if len(fs) < 4 || fs[2] != h.Name || !strings.HasSuffix(l, "task 7 copy site.star:3:5") {
			t.Errorf("trace line %q: want time, duration, host %s, what, label", l, h.Name)
			continue
		}
		kinds = append(kinds, fs[3])
	}
	if strings.Join(kinds, " ") != "ssh command put get" {
		t.Errorf("traced %q, want the dial, the command, the put and the get", kinds)
	}
	if strings.Contains(string(b), "secret") {
		t.Errorf("the trace holds a command or content:\n%s", b)
	}
}
