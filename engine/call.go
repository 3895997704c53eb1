package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

// HostCall is what a module's Plan and its actions get for one host: the
// host, its connection, the run's modes, and where to put results.
type HostCall struct {
	Host *inventory.Host
	Conn transport.Conn
	// Check is set in check mode. Plan need not look at it: the engine does
	// not run actions in check mode. It is there for modules whose reading
	// differs (none of the generic ones).
	Check bool
	// Diff is set with --diff; modules may skip reading old content for
	// FileDiff when it is not.
	Diff bool
	// Become and BecomeUser say how commands and writes run: through sudo
	// as BecomeUser (root when empty). Run, Shell and Put apply them.
	Become     bool
	BecomeUser string
	// Vars are the run's extra vars (-e).
	Vars map[string]any

	r    *runner
	task *task
	res  *HostResult
	// applying is set while the plan's actions run; shared by the calls
	// ClusterCall.Connect makes, so they may write from an action too.
	applying *atomic.Bool
}

// Run runs argv on the host (no shell: every word reaches the program as
// it is), with become applied.
func (c *HostCall) Run(ctx context.Context, argv ...string) (transport.Result, error) {
	return c.Command(ctx, transport.Command{Line: transport.Quote(argv...)})
}

// Shell runs a POSIX shell command line on the host, with become applied.
func (c *HostCall) Shell(ctx context.Context, line string) (transport.Result, error) {
	return c.Command(ctx, transport.Command{Line: line})
}

// Command runs cmd with the call's become unless cmd sets its own.
func (c *HostCall) Command(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if !cmd.Become && c.Become {
		cmd.Become, cmd.BecomeUser = true, c.BecomeUser
	}
	return c.Conn.Run(ctx, cmd)
}

// Output runs argv and returns its stdout, or an error naming the command
// and its stderr when it exits non-zero: for reads that must succeed.
func (c *HostCall) Output(ctx context.Context, argv ...string) ([]byte, error) {
	res, err := c.Run(ctx, argv...)
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return res.Stdout, commandError(argv[0], res)
	}
	return res.Stdout, nil
}

// Put writes content to path atomically, with become applied. It may only
// be called from an action's Do: a write while planning is a module bug
// and is refused, which keeps check mode free of writes.
func (c *HostCall) Put(ctx context.Context, path string, content io.Reader, opts transport.PutOptions) error {
	if !c.applying.Load() {
		return fmt.Errorf("internal error: %s: write of %s while planning (a module writes only in an action's Do)", c.task.module, path)
	}
	if !opts.Become && c.Become {
		opts.Become, opts.BecomeUser = true, c.BecomeUser
	}
	return c.Conn.Put(ctx, path, content, opts)
}

// Get copies the remote file at path into w.
func (c *HostCall) Get(ctx context.Context, path string, w io.Writer) error {
	return c.Conn.Get(ctx, path, w)
}

// ReadFile returns the content of the remote file at path: over SFTP as
// the connecting user, or with cat through sudo when the call becomes
// another user (SFTP cannot).
func (c *HostCall) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if c.Become {
		out, err := c.Output(ctx, "cat", "--", path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return out, nil
	}
	var b bytes.Buffer
	if err := c.Get(ctx, path, &b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b.Bytes(), nil
}

// Set records module data in the result, available to the playbook as an
// attribute (r.member_id) and in JSON output under "data". v must be a
// string, bool, number, nil, []string, []any or map[string]any of those.
// Modules should set their data in Plan too where they can, so playbooks
// using it work in check mode.
func (c *HostCall) Set(key string, v any) {
	c.r.resMu.Lock()
	defer c.r.resMu.Unlock()
	c.res.set(key, v)
}

// SetOutput records a command's exit status and output as the result's rc,
// stdout and stderr (without a trailing newline).
func (c *HostCall) SetOutput(res transport.Result) {
	c.r.resMu.Lock()
	defer c.r.resMu.Unlock()
	rc := res.ExitStatus
	c.res.RC = &rc
	c.setStreams(res)
}

// setStreams records a command's stdout and stderr (without a trailing
// newline) but no exit status: alone, for a command cut short by Ctrl-C,
// which did not end by itself. The caller holds resMu.
func (c *HostCall) setStreams(res transport.Result) {
	c.res.Stdout = strings.TrimSuffix(string(res.Stdout), "\n")
	c.res.Stderr = strings.TrimSuffix(string(res.Stderr), "\n")
}

// IfRunFails records what the operator should know if the run fails after
// this point, such as the command that restores the snapshot just saved.
// The recap shows it only when the run did not end well.
func (c *HostCall) IfRunFails(format string, args ...any) {
	c.r.addRecovery(fmt.Sprintf(format, args...))
}

// Progress tells the operator what a long step is waiting for; on a
// terminal it shows as a status line.
func (c *HostCall) Progress(format string, args ...any) {
	c.r.emit(Event{Type: EventProgress, Task: c.task.id, Module: c.task.module, Host: c.Host.Name, Msg: fmt.Sprintf(format, args...)})
}

// Warn reports something the operator should know; the run goes on.
func (c *HostCall) Warn(format string, args ...any) {
	c.r.emit(Event{Type: EventWarning, Task: c.task.id, Module: c.task.module, Pos: c.task.pos, Host: c.Host.Name, Msg: fmt.Sprintf(format, args...)})
}

// LocalPath resolves a path on the control machine: relative paths are
// relative to the directory of the playbook being run (the working
// directory for shipped playbooks and ad-hoc runs).
func (c *HostCall) LocalPath(p string) string {
	if filepath.IsAbs(p) || c.r.cfg.BaseDir == "" {
		return p
	}
	return filepath.Join(c.r.cfg.BaseDir, p)
}

// ConnTo returns the run's connection to host h, opening it on first use:
// the etcd layer dials a member's client port through the connection of
// the member's own host.
func (c *HostCall) ConnTo(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	return c.r.connect(ctx, h)
}

// Peers are the hosts this call runs on, this one included, in order: a
// quorum gate counts the members that one call stops together.
func (c *HostCall) Peers() []*inventory.Host { return c.task.hosts }

// RunCommand is the command line that started the run (Config.Command),
// for messages that say how to run it again.
func (c *HostCall) RunCommand() string { return c.r.cfg.Command }

// ExecCommand is the etcdplay exec command that runs module on the hosts
// of pattern with args, reaching them as this run does: for a module's
// message whose remedy is one module call. Without the CLI's help it is
// a template with INVENTORY for the inventory.
func (c *HostCall) ExecCommand(pattern, module string, args map[string]string) string {
	return c.r.execCommand(pattern, module, args)
}

// execCommand is HostCall.ExecCommand and ctx.exec_command.
func (r *runner) execCommand(pattern, module string, args map[string]string) string {
	if r.cfg.ExecCommandFor != nil {
		return r.cfg.ExecCommandFor(pattern, module, args)
	}
	words := []string{"etcdplay", "exec", "-i", "INVENTORY", pattern, "-m", module}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		words = append(words, "-a", k+"="+args[k])
	}
	return strings.Join(words, " ")
}

// CommandFor is the command line of this run with another playbook and
// these extra vars set (an empty value drops one), as ctx.command_for
// gives playbooks: for a module's message whose remedy is a playbook run.
// Without the CLI's help it is a template with INVENTORY.
func (c *HostCall) CommandFor(playbook string, vars map[string]string) string {
	if c.r.cfg.CommandFor != nil {
		return c.r.cfg.CommandFor(playbook, vars)
	}
	return strings.Join(withExtraVars([]string{"etcdplay", "run", playbook, "-i", "INVENTORY"}, vars), " ")
}

// withExtraVars is words with -e NAME=VALUE for each of vars that has a
// value, by name.
func withExtraVars(words []string, vars map[string]string) []string {
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if vars[k] != "" {
			words = append(words, "-e", k+"="+vars[k])
		}
	}
	return words
}

// BreakLock reports whether the run was asked to break a cluster lock that
// another run holds (Config.BreakLock).
func (c *HostCall) BreakLock() bool { return c.r.cfg.BreakLock }

// ClusterCall is what a cluster module's Plan gets: the call for the target
// that answered, and the other targets.
type ClusterCall struct {
	*HostCall
	// Targets are every target of the call, in order (the answering one
	// included).
	Targets []*inventory.Host
}

// Connect returns a call for another target of the same call, to read
// from it (a quorum gate asks every member for its status). Its Set and
// SetOutput write into the one result of the call.
func (c *ClusterCall) Connect(ctx context.Context, h *inventory.Host) (*HostCall, error) {
	conn, err := c.r.connect(ctx, h)
	if err != nil {
		return nil, err
	}
	hc := *c.HostCall
	hc.Host, hc.Conn = h, conn
	hc.Become, hc.BecomeUser = c.r.become(c.task.opts, h)
	return &hc, nil
}

// commandError describes a command that exited non-zero, with the first
// line of its stderr.
func commandError(name string, res transport.Result) error {
	msg := fmt.Sprintf("%s: exit status %d", name, res.ExitStatus)
	if res.Signal != "" {
		msg = fmt.Sprintf("%s: killed by signal %s", name, res.Signal)
	}
	if line, _, _ := bytes.Cut(bytes.TrimSpace(res.Stderr), []byte("\n")); len(line) > 0 {
		msg += ": " + string(line)
	}
	return errors.New(msg)
}

// CommandError describes a command that exited non-zero, with the first
// line of its stderr: "systemctl: exit status 1: Unit etcd.service not
// found."
func CommandError(name string, res transport.Result) error { return commandError(name, res) }
