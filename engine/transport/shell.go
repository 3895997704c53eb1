package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// A module's scripts run in a shell that stays open on the connection
// (mitogen's idea, for a shell): a session per command costs sshd a fork,
// the login of the user (groups, limits, environment) and the start of
// the login shell, which on a lab host is 10–13 ms a command where the
// script itself may take 2. A replace runs some twenty of them on the
// hosts it changes.
//
// The shell is /bin/sh, reading scripts from the session's stdin; with
// become, one that sudo -n started as the become user. Each script is one
// word of shell (quoted, so it cannot end the command that carries it)
// that the shell evaluates in a subshell with stdin from /dev/null, in
// the background, and waits for (see shellSetup): an exit, a cd or a
// variable stays in the subshell, and a syntax error ends only that.
// After it the shell prints a marker line that no output can guess on
// stdout, with the exit status, and one on stderr.
//
// Only a module's own scripts run there (POSIX by the contract of Fact).
// An operator's command line (Command.Login) and a command with stdin
// (sudo's password among them) get a session of their own, run by the
// login shell as ssh(1) runs them.

// shellStart is the session's command; exec so that no login shell stays
// between sshd and the shell.
const shellStart = "exec /bin/sh"

// shellSetup is the shell's first line. A script runs in the background
// and the shell waits for it, so that SIGTERM (what Run sends when its
// context is done) reaches the shell at once; the shell then ends its
// whole process group, the script's processes with it. sshd made the
// shell the leader of a session of its own, so the group holds nothing
// else.
const shellSetup = "trap 'trap - TERM; kill -TERM 0' TERM\n"

// maxIdleShells is how many shells a connection keeps open between
// commands; more run at once when a run asks, each in its own session.
const maxIdleShells = 2

// remoteShell is one open shell.
type remoteShell struct {
	s      *ssh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	errs   *bufio.Reader
	marker string
	ended  chan struct{} // closed when the session has ended
	user   string        // the become user it runs as; "" for the login user
}

// errNoBecomeShell says sudo would not start a shell as the become user
// without a password (or at all): each command then runs through sudo in
// a session of its own, which reports what sudo says.
var errNoBecomeShell = errors.New("no shell as the become user")

// openShell starts a shell in a new session on c, as user through sudo
// when user is not "" (see runInShell).
func (c *sshConn) openShell(user string) (*remoteShell, error) {
	s, err := retrySessionLimit(c.client.NewSession) // closing a shell to open one would gain nothing
	if err != nil {
		return nil, err
	}
	sh := &remoteShell{s: s, marker: "etcdplay-shell-" + randSuffix() + randSuffix(), ended: make(chan struct{}), user: user}
	start := shellStart
	if user != "" {
		start = "exec " + sudoShell("-n", user)
	}
	in, err1 := s.StdinPipe()
	out, err2 := s.StdoutPipe()
	errs, err3 := s.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		s.Close()
		return nil, err
	}
	sh.in, sh.out, sh.errs = in, bufio.NewReader(out), bufio.NewReader(errs)
	if err := s.Start(start); err != nil {
		s.Close()
		return nil, err
	}
	go func() {
		s.Wait()
		close(sh.ended)
	}()
	if _, err := io.WriteString(in, shellSetup); err != nil {
		sh.close()
		return nil, err
	}
	if user != "" {
		// sudo may refuse (a password is required, the user may not): a
		// first script says whether the shell is there.
		ctx, cancel := context.WithTimeout(context.Background(), c.pool.cfg.ConnectTimeout)
		defer cancel()
		if res, err := sh.run(ctx, "id -u"); err != nil || res.ExitStatus != 0 {
			sh.close()
			return nil, errNoBecomeShell
		}
	}
	return sh, nil
}

// takeShell is an idle shell of c, or a new one. An idle shell that has
// ended (killed on the host while no script ran) is passed over: nothing
// was sent to it, so the script may go to another.
func (c *sshConn) takeShell(user string) (*remoteShell, error) {
	c.shellMu.Lock()
	for i := len(c.shells) - 1; i >= 0; i-- {
		sh := c.shells[i]
		if sh.user != user {
			continue
		}
		c.shells = append(c.shells[:i], c.shells[i+1:]...)
		if !sh.hasEnded() {
			c.shellMu.Unlock()
			return sh, nil
		}
		sh.close()
	}
	if c.noBecomeShell[user] {
		c.shellMu.Unlock()
		return nil, errNoBecomeShell
	}
	c.shellMu.Unlock()
	sh, err := c.openShell(user)
	if errors.Is(err, errNoBecomeShell) {
		c.shellMu.Lock()
		if c.noBecomeShell == nil {
			c.noBecomeShell = map[string]bool{}
		}
		c.noBecomeShell[user] = true
		c.shellMu.Unlock()
	}
	return sh, err
}

func (sh *remoteShell) hasEnded() bool { return isDone(sh.ended) }

// putShell keeps sh for the next command, or closes it when enough are
// kept or the connection is ending.
func (c *sshConn) putShell(sh *remoteShell) {
	c.shellMu.Lock()
	if len(c.shells) < maxIdleShells && !c.isClosed() {
		c.shells = append(c.shells, sh)
		sh = nil
	}
	c.shellMu.Unlock()
	if sh != nil {
		sh.close()
	}
}

// warmShell opens a shell and keeps it for the first script.
func (c *sshConn) warmShell() {
	if sh, err := c.openShell(""); err == nil {
		c.putShell(sh)
	}
}

// takeIdle takes every idle shell from c, for its caller to close.
func (c *sshConn) takeIdle() []*remoteShell {
	c.shellMu.Lock()
	defer c.shellMu.Unlock()
	shells := c.shells
	c.shells = nil
	return shells
}

// closeShells closes the idle shells, when the connection ends.
func (c *sshConn) closeShells() {
	for _, sh := range c.takeIdle() {
		sh.close()
	}
}

// freeSessions closes the idle shells and waits (a moment at most) for
// sshd to have ended their sessions, so that another may open; it says
// whether there were any.
func (c *sshConn) freeSessions() bool {
	shells := c.takeIdle()
	timeout := time.After(2 * time.Second)
	for _, sh := range shells {
		sh.close()
		select {
		case <-sh.ended:
		case <-timeout:
		}
	}
	return len(shells) > 0
}

// newSession opens a session of its own on c (see openYielding).
func (c *sshConn) newSession() (*ssh.Session, error) {
	return openYielding(c, c.client.NewSession)
}

// openYielding opens a session with open (a command's, SFTP's). A server
// that limits the sessions of a connection (MaxSessions, 2 in some
// hardening guides) refuses one more while the kept shells and SFTP hold
// its share: the idle shells are closed then and the session asked for
// again, so a hardened sshd serves what a session per command served
// before.
func openYielding[T any](c *sshConn, open func() (T, error)) (T, error) {
	v, err := retrySessionLimit(open)
	if isSessionLimit(err) && c.freeSessions() {
		v, err = retrySessionLimit(open)
	}
	return v, err
}

// retrySessionLimit opens with open; one refused is asked for again a
// few times over 100 ms: a session that just ended (its close on its way
// to sshd) may still count against MaxSessions.
func retrySessionLimit[T any](open func() (T, error)) (T, error) {
	v, err := open()
	for i := 0; i < 10 && isSessionLimit(err); i++ {
		time.Sleep(10 * time.Millisecond)
		v, err = open()
	}
	return v, err
}

// sessionFailed is the error of a session that could not be opened. A
// connection that cannot open one is dead, and the next Connect of the
// run dials again; one at sshd's limit of sessions is not.
func (c *sshConn) sessionFailed(err error) error {
	if isSessionLimit(err) {
		return c.unreachable(fmt.Errorf("open session: %w (refused by sshd: more sessions at once than its MaxSessions allows on one connection?)", err))
	}
	c.closing.Store(true)
	return c.unreachable(fmt.Errorf("open session: %w", err))
}

// isSessionLimit says err is sshd refusing a session: it answered, so
// the connection itself is fine. OpenSSH refuses one past MaxSessions
// as "connect failed: open failed".
func isSessionLimit(err error) bool {
	var oe *ssh.OpenChannelError
	return errors.As(err, &oe)
}

func (sh *remoteShell) close() {
	sh.in.Close()
	sh.s.Close()
}

// errShellEnded says the shell's session ended before the script's
// marker: the connection was lost or the shell was killed, and what the
// script did is not known.
var errShellEnded = errors.New("connection lost while the command ran (its shell ended without an exit status)")

// run runs line and returns what it printed and its exit status. An
// error means the shell cannot be used again: the caller closes it.
// When ctx is done the shell is sent SIGTERM and its session closed, as
// a session of its own would be.
func (sh *remoteShell) run(ctx context.Context, line string) (Result, error) {
	script := "c=" + QuoteWord(line) + "\n( eval \"$c\" ) </dev/null & wait $!; printf '\\n%s %d\\n' " + sh.marker + " $?; printf '\\n%s\\n' " + sh.marker + " >&2\n"
	type read struct {
		b      []byte
		status int
		err    error
	}
	outc, errc := make(chan read, 1), make(chan read, 1)
	go func() {
		b, st, err := readUntilMarker(sh.out, sh.marker, true)
		outc <- read{b, st, err}
	}()
	go func() {
		b, _, err := readUntilMarker(sh.errs, sh.marker, false)
		errc <- read{b, 0, err}
	}()
	var out, stderr read
	gotOut, gotErr := false, false
	drain := func() {
		sh.close()
		if !gotOut {
			out, gotOut = <-outc, true
		}
		if !gotErr {
			stderr, gotErr = <-errc, true
		}
	}
	if _, err := io.WriteString(sh.in, script); err != nil {
		drain()
		return Result{}, err
	}
	for !gotOut || !gotErr {
		select {
		case out = <-outc:
			gotOut = true
		case stderr = <-errc:
			gotErr = true
		case <-ctx.Done():
			sh.s.Signal(ssh.SIGTERM)
			drain()
			return Result{ExitStatus: -1}, ctx.Err()
		}
		if out.err != nil || stderr.err != nil {
			drain()
			return Result{}, errShellEnded
		}
	}
	return Result{Stdout: out.b, Stderr: stderr.b, ExitStatus: out.status}, nil
}

// readUntilMarker reads r up to the marker line the script prints after
// the command: "\nMARKER STATUS\n" on stdout (withStatus), "\nMARKER\n"
// on stderr. The newline before the marker is the script's, not the
// command's, and is cut.
func readUntilMarker(r *bufio.Reader, marker string, withStatus bool) ([]byte, int, error) {
	var b bytes.Buffer
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			b.Write(line)
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if st, ok := markerLine(line, marker, withStatus); ok {
			return bytes.TrimSuffix(b.Bytes(), []byte("\n")), st, nil
		}
		b.Write(line)
	}
}

func markerLine(line []byte, marker string, withStatus bool) (int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(marker))
	if !ok {
		return 0, false
	}
	rest = bytes.TrimSuffix(rest, []byte("\n"))
	if !withStatus {
		return 0, len(rest) == 0
	}
	digits, ok := bytes.CutPrefix(rest, []byte(" "))
	if !ok {
		return 0, false
	}
	st, err := strconv.Atoi(string(digits))
	return st, err == nil
}

// runInShell runs line in one of c's shells as user ("" the login user;
// else a shell started with sudo -n as that user, so that sudo, 7 ms a
// command on a lab host, runs once). errNoBecomeShell says no shell as
// user can be had without a password: nothing ran, and the caller runs
// line another way.
func (c *sshConn) runInShell(ctx context.Context, user, line string) (Result, error) {
	sh, err := c.takeShell(user)
	if errors.Is(err, errNoBecomeShell) {
		return Result{}, err
	}
	if err != nil {
		return Result{}, c.sessionFailed(err)
	}
	res, err := sh.run(ctx, line)
	switch {
	case err == nil:
		c.putShell(sh)
		return res, nil
	case ctx.Err() != nil:
		return res, ctx.Err()
	default:
		return res, c.unreachable(err)
	}
}

// shellState is what sshConn holds of its shells.
type shellState struct {
	shellMu sync.Mutex
	shells  []*remoteShell
	// noBecomeShell: become users sudo would not start a shell as.
	noBecomeShell map[string]bool
}
