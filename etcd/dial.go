package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// DialMode says how the control machine may reach a member's client URL,
// from the variable etcd_dial (or etcd_direct=true, which is "direct").
type DialMode string

const (
	// DialAuto forwards the client port through the SSH connection of a
	// member host, as ssh -L does; when that host's sshd refuses port
	// forwarding (AllowTcpForwarding no), it relays the port through a
	// command in an SSH session there instead. The default.
	DialAuto DialMode = "auto"
	// DialSSH forwards through SSH only: a host that refuses forwarding is
	// a path that does not work.
	DialSSH DialMode = "ssh"
	// DialRelay relays through a command on the member host only.
	DialRelay DialMode = "relay"
	// DialDirect dials the client URL from the control machine.
	DialDirect DialMode = "direct"
)

// dialModes lists the modes for messages and validation.
var dialModes = []DialMode{DialAuto, DialSSH, DialRelay, DialDirect}

// ParseDialMode reads a value of etcd_dial.
func ParseDialMode(s string) (DialMode, error) {
	for _, m := range dialModes {
		if strings.EqualFold(strings.TrimSpace(s), string(m)) {
			return m, nil
		}
	}
	var names []string
	for _, m := range dialModes {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("%s=%q: want one of %s", VarDial, s, strings.Join(names, ", "))
}

// Unpack implements starlark.Unpacker: dial="ssh".
func (m *DialMode) Unpack(v starlark.Value) error {
	s, ok := starlark.AsString(v)
	if !ok {
		return fmt.Errorf("got %s, want one of auto, ssh, relay, direct", v.Type())
	}
	x, err := ParseDialMode(s)
	if err != nil {
		return fmt.Errorf("got %q, want one of auto, ssh, relay, direct", s)
	}
	*m = x
	return nil
}

// relayReady is what the relay command writes once it is connected.
var relayReady = []byte("etcdplay-relay\n")

// relayLine is the command that relays its standard input and output to
// addr from the host: bash's /dev/tcp, which a Debian or RHEL host has
// without extra packages. The reader is killed when the input ends, so no
// process outlives the session.
func relayLine(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("port %q of %s is not a number", port, addr)
	}
	if strings.ContainsAny(host, " '\"\\$`;&|<>()\n") {
		return "", fmt.Errorf("host %q of %s cannot be relayed", host, addr)
	}
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s || exit 7; printf 'etcdplay-relay\n'; cat <&3 & r=$!; cat >&3; kill $r 2>/dev/null; exit 0`, strings.Trim(host, "[]"), port)
	return "exec bash -c " + transport.QuoteWord(script), nil
}

// relayNoConnect is the relay's exit status when bash could not connect:
// the member's port is closed, which says the member is down, not that
// the path is broken.
const relayNoConnect = 7

// PathError says that no way etcdplay may use reaches a client URL
// through a host: the step that needed it cannot be shown safe. Its
// message names what would make a way work.
type PathError struct {
	Via   string   // the host the paths go through ("" for direct)
	Addr  string   // the host:port dialled
	Tried []string // what each way said
}

func (e *PathError) Error() string {
	via := "through " + e.Via
	if e.Via == "" {
		via = "from the control machine"
	}
	return fmt.Sprintf("no way to etcd at %s %s: %s", e.Addr, via, strings.Join(e.Tried, "; "))
}

// Fix says what would open a way.
func (e *PathError) Fix() string {
	return fmt.Sprintf("allow TCP forwarding in %s's sshd (AllowTcpForwarding yes), or set %s=direct (or %s=true) if the control machine reaches %s",
		orWord(e.Via, "the member host"), VarDial, VarDirect, e.Addr)
}

// AsPathError returns the path problem err is, or nil.
func AsPathError(err error) *PathError {
	var pe *PathError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// paths is what a run has learnt about the ways to etcd: the hosts whose
// sshd refuses forwarding, or where the relay cannot run, so each is
// tried once per run, and the way each host's dials took, for messages.
type paths struct {
	mu        sync.Mutex
	noForward map[string]string // host -> why not
	noRelay   map[string]string
	used      map[string]string // host -> the way its dials took last
}

var runPaths = engine.RunKey[*paths]{Name: "etcd dial paths"}

func newPaths() *paths {
	return &paths{noForward: map[string]string{}, noRelay: map[string]string{}, used: map[string]string{}}
}

// way describes how dials through via go, for results and messages:
// "through etcd-1's SSH connection (forwarded)".
func (p *paths) way(via string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used[via]
}

func (p *paths) note(m map[string]string, host, why string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, seen := m[host]
	m[host] = why
	return !seen
}

func (p *paths) known(m map[string]string, host string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	why, ok := m[host]
	return why, ok
}

func (p *paths) setUsed(host, way string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[host] = way
}

// route is one way a session dials a client URL: through the SSH
// connection of a host, or directly.
type route struct {
	via  *inventory.Host // nil: directly
	mode DialMode
	// conn returns the run's current connection to via (it may have been
	// dialled again since the route was made).
	conn func(ctx context.Context) (transport.Conn, error)
	warn func(format string, args ...any)
}

// key identifies the route among a run's clients.
func (r route) key() string {
	if r.via == nil || r.mode == DialDirect {
		return "direct"
	}
	return string(r.mode) + ":" + r.via.Name
}

// dial opens a TCP connection to addr by the route: the member's port
// forwarded over SSH, a relay command on the host when its sshd refuses
// that (DialAuto), or the control machine's own dial. An error that says
// the member's port is closed is the member being down; a *PathError says
// no way was open.
func (r route) dial(ctx context.Context, p *paths, addr string) (net.Conn, error) {
	if r.via == nil || r.mode == DialDirect {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			p.setUsed("", "directly from the control machine")
		}
		return c, err
	}
	host := r.via.Name
	conn, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	var tried []string
	if r.mode == DialAuto || r.mode == DialSSH {
		if why, refused := p.known(p.noForward, host); !refused {
			d, ok := conn.(transport.Dialer)
			if !ok {
				why = "the connection to " + host + " cannot forward ports"
			} else {
				c, err := d.DialContext(ctx, "tcp", addr)
				switch {
				case err == nil:
					p.setUsed(host, "through "+host+"'s SSH connection")
					return c, nil
				case !transport.IsForwardingRefused(err):
					return nil, err
				}
				why = host + "'s sshd refuses port forwarding (ssh: administratively prohibited)"
			}
			if p.note(p.noForward, host, why) && r.mode == DialAuto && r.warn != nil {
				r.warn("%s; reaching etcd through a relay command in an SSH session on %s instead (%s=ssh forbids that)", why, host, VarDial)
			}
			tried = append(tried, why)
		} else {
			tried = append(tried, why)
		}
		if r.mode == DialSSH {
			return nil, &PathError{Via: host, Addr: addr, Tried: append(tried, VarDial+"=ssh rules out a relay")}
		}
	}
	if why, broken := p.known(p.noRelay, host); broken {
		return nil, &PathError{Via: host, Addr: addr, Tried: append(tried, why)}
	}
	pc, ok := conn.(transport.Piper)
	if !ok {
		return nil, &PathError{Via: host, Addr: addr, Tried: append(tried, "the connection to "+host+" cannot run a relay")}
	}
	line, err := relayLine(addr)
	if err != nil {
		return nil, &PathError{Via: host, Addr: addr, Tried: append(tried, err.Error())}
	}
	c, err := pc.Pipe(ctx, line, relayReady)
	if err == nil {
		p.setUsed(host, "through a relay on "+host+" (its sshd refuses port forwarding)")
		return c, nil
	}
	var pe *transport.PipeError
	if errors.As(err, &pe) && pe.ExitStatus == relayNoConnect {
		// bash ran and could not connect: the port is closed there.
		return nil, fmt.Errorf("relay on %s: connect %s: %s", host, addr, relayCause(pe.Stderr))
	}
	if transport.IsUnreachable(err) || ctx.Err() != nil {
		return nil, err
	}
	why := "the relay command failed on " + host + " (" + err.Error() + "; it needs bash)"
	p.note(p.noRelay, host, why)
	return nil, &PathError{Via: host, Addr: addr, Tried: append(tried, why)}
}

// relayCause is bash's reason for a failed /dev/tcp connect, in the words
// the rest of etcdplay uses ("connection refused").
func relayCause(stderr string) string {
	s := strings.ToLower(stderr)
	for _, c := range []string{"connection refused", "no route to host", "connection timed out", "network is unreachable"} {
		if strings.Contains(s, c) {
			return c
		}
	}
	return stderr
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
