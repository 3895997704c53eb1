// Package enginetest has stand-ins for hosts in engine and module tests: a
// transport.Conn that runs commands with the local /bin/sh inside a
// directory, and a Connector over such connections.
package enginetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// Conn is a local "host" rooted in Dir: commands run with /bin/sh -c in
// Dir, and relative paths given to Put and Get are relative to Dir. Become
// is recorded, not applied.
type Conn struct {
	Dir string

	mu   sync.Mutex
	runs []transport.Command
	puts []string
}

var _ transport.Conn = (*Conn)(nil)

// Runs returns the command lines run so far.
func (c *Conn) Runs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.runs {
		out = append(out, r.Line)
	}
	return out
}

// Commands returns the commands run so far.
func (c *Conn) Commands() []transport.Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]transport.Command{}, c.runs...)
}

// Puts returns the paths written with Put so far.
func (c *Conn) Puts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.puts...)
}

func (c *Conn) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Run implements transport.Conn.
func (c *Conn) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	c.mu.Lock()
	c.runs = append(c.runs, cmd)
	c.mu.Unlock()
	x := exec.CommandContext(ctx, "/bin/sh", "-c", cmd.Line)
	x.Dir = c.Dir
	x.Env = append(os.Environ(), "HOME="+c.Dir, "LC_ALL=C")
	x.Stdin = cmd.Stdin
	var out, errb bytes.Buffer
	x.Stdout, x.Stderr = &out, &errb
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	x.Cancel = func() error { return syscall.Kill(-x.Process.Pid, syscall.SIGKILL) }
	err := x.Run()
	if ctx.Err() != nil {
		return transport.Result{}, ctx.Err()
	}
	res := transport.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitStatus = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	default:
		return res, err
	}
	return res, nil
}

// Put implements transport.Conn: an atomic write through a temporary file.
func (c *Conn) Put(ctx context.Context, p string, r io.Reader, opts transport.PutOptions) error {
	c.mu.Lock()
	c.puts = append(c.puts, p)
	c.mu.Unlock()
	dst := c.path(p)
	f, err := os.CreateTemp(filepath.Dir(dst), ".etcdplay-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	mode := opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := os.Chmod(f.Name(), mode); err != nil {
		return err
	}
	if opts.Owner != "" || opts.Group != "" {
		uid, gid := -1, -1
		if opts.Owner != "" {
			u, err := user.Lookup(opts.Owner)
			if err != nil {
				return err
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
		if opts.Group != "" {
			g, err := user.LookupGroup(opts.Group)
			if err != nil {
				return err
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
		if err := os.Chown(f.Name(), uid, gid); err != nil {
			return err
		}
	}
	return os.Rename(f.Name(), dst)
}

// Get implements transport.Conn.
func (c *Conn) Get(ctx context.Context, p string, w io.Writer) error {
	f, err := os.Open(c.path(p))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// Close implements transport.Conn.
func (c *Conn) Close() error { return nil }

// Connector connects inventory hosts to local Conns by name; a host without
// one is unreachable.
type Connector struct {
	Conns map[string]*Conn
	// Down marks hosts as unreachable.
	Down   map[string]bool
	mu     sync.Mutex
	dialed map[string]int // host -> Connect calls
}

// Connect implements engine.Connector.
func (c *Connector) Connect(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialed == nil {
		c.dialed = map[string]int{}
	}
	c.dialed[h.Name]++
	conn, ok := c.Conns[h.Name]
	if !ok || c.Down[h.Name] {
		return nil, &transport.UnreachableError{Host: h.Name, Err: errors.New("connection refused")}
	}
	return conn, nil
}

// SetDown marks a host as unreachable, or back up.
func (c *Connector) SetDown(host string, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Down == nil {
		c.Down = map[string]bool{}
	}
	c.Down[host] = down
}

// Dials counts Connect calls.
func (c *Connector) Dials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, d := range c.dialed {
		n += d
	}
	return n
}

// DialsOf counts Connect calls for host.
func (c *Connector) DialsOf(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialed[host]
}

// Hosts makes local hosts named names, each with its own directory, an
// inventory listing them in group "test" (plus extra INI lines), and a
// connector to them.
func Hosts(tb testing.TB, extra string, names ...string) (*inventory.Inventory, *Connector) {
	tb.Helper()
	root := tb.TempDir()
	conn := &Connector{Conns: map[string]*Conn{}}
	var ini strings.Builder
	ini.WriteString("[test]\n")
	for _, n := range names {
		dir := filepath.Join(root, n)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		conn.Conns[n] = &Conn{Dir: dir}
		fmt.Fprintf(&ini, "%s ansible_host=127.0.0.1\n", n)
	}
	ini.WriteString(extra)
	inv, err := inventory.Parse("test.ini", []byte(ini.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return inv, conn
}

// Snapshot records every file under dir (path, mode, owner and content
// hash) so a test can assert that nothing changed.
func Snapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:])
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			t, _ := os.Readlink(p)
			desc += " -> " + t
		}
		rel, _ := filepath.Rel(dir, p)
		snap[rel] = desc
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// SameSnapshot reports the differences between two snapshots, or "".
func SameSnapshot(a, b map[string]string) string {
	var diffs []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if v != w {
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	return strings.Join(diffs, "\n")
}
