package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
)

// Conn is one connection to one host. It is safe for concurrent use: Runs
// at the same time run in sessions of their own on the same underlying
// connection (a module's scripts, one after the other, in a shell it
// keeps open; see Command.Login).
//
// A non-nil error from any method means the host could not be used
// (unreachable, connection lost, SFTP failure); a command that ran and exited
// non-zero is not an error, its status is in Result.ExitStatus.
type Conn interface {
	// Run runs cmd on the host and waits for it to end or ctx to be done.
	// When ctx is done the remote session is closed and ctx.Err() returned.
	Run(ctx context.Context, cmd Command) (Result, error)
	// Put writes the content of r to path on the host atomically: a temporary
	// file in the same directory is written, synced and renamed over path, so
	// a reader sees the old or the new file, never a part.
	Put(ctx context.Context, path string, r io.Reader, opts PutOptions) error
	// Get copies the remote file at path into w.
	Get(ctx context.Context, path string, w io.Writer) error
	// Close ends the connection and every session on it.
	Close() error
}

// Command is what Run runs. Line is a POSIX shell command line; use Quote
// to build it from an argv.
type Command struct {
	Line  string
	Stdin io.Reader
	// Login says Line is the operator's (exec, command, shell): it is
	// given to the remote user's login shell in a session of its own, as
	// OpenSSH's ssh(1) does. Without it Line is a module's own script, and
	// may run in a /bin/sh the connection keeps open (see shell.go); a
	// command with Stdin always has a session of its own.
	Login bool
	// Become runs Line through sudo as BecomeUser (root when empty).
	Become     bool
	BecomeUser string
}

// Result is the outcome of a command that ran.
type Result struct {
	Stdout     []byte
	Stderr     []byte
	ExitStatus int
	// Signal is set when the remote command was killed by a signal.
	Signal string
}

// PutOptions says how Put writes a file. Zero values keep the defaults:
// mode 0644, owner and group of the connecting (or become) user.
type PutOptions struct {
	Mode       os.FileMode
	Owner      string
	Group      string
	Become     bool
	BecomeUser string
}

// UnreachableError reports that a host could not be reached or that the
// connection to it was lost. Callers report such hosts as unreachable, not
// failed: nothing is known about what the host did.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string { return e.Host + ": unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err says the host was not reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// Dialer is implemented by connections that can open TCP connections from
// the remote host, as ssh -L does. The etcd layer (package etcd) uses it
// to reach a member's client port on the member's own loopback when the
// control machine cannot reach port 2379.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Piper is implemented by connections that can run a command whose
// standard input and output are a byte stream to the caller, as OpenSSH's
// ProxyCommand uses nc: the etcd layer relays a member's client port this
// way when the host's sshd refuses port forwarding.
type Piper interface {
	// Pipe starts line on the host and returns its standard input and
	// output as one connection, once the command has written ready on its
	// output. A command that ends before that is an error with its exit
	// status and the first line of its standard error. Closing the
	// connection closes the command's input and the session.
	Pipe(ctx context.Context, line string, ready []byte) (net.Conn, error)
}

// IsForwardingRefused reports whether err is the host's sshd refusing to
// forward a TCP connection (AllowTcpForwarding no, or a PermitOpen list),
// as opposed to the connection itself failing on the host.
func IsForwardingRefused(err error) bool {
	var oc *ssh.OpenChannelError
	return errors.As(err, &oc) && oc.Reason == ssh.Prohibited
}
