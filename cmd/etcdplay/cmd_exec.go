package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/inventory"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command (or a module with -m) on every host matching PATTERN",
		ArgsUsage: "PATTERN [-- CMD [ARG...]]",
		Description: `Runs CMD on every host PATTERN matches, in parallel (at most --forks at a
time), over one SSH connection per host. CMD is given to the remote user's
shell as ssh(1) does, so pipes and variables work; quote it to keep it from
the local shell. Each host's output is printed as a block headed by its name
and status as it finishes, then a recap.

With -m MODULE the module runs instead, with arguments from -a key=value.

Examples:
   etcdplay exec -i inv.ini etcd -- systemctl is-active etcd
   etcdplay exec -i inv.ini 'etcd:!etcd-3' -b -- 'journalctl -u etcd -n 20 --no-pager'
   etcdplay exec -i inv.ini all -o json -- uptime
   etcdplay exec -i inv.ini etcd -m systemd -a unit=etcd -a state=restarted`,
		Flags: flags(inventoryFlags(), connectionFlags(), outputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "module", Aliases: []string{"m"}, Usage: "run `MODULE` instead of a command (see etcdplay doc)"},
			listFlag("args", "a", "module argument `KEY=VALUE`; repeat for more"),
			extraVarsFlag("set every host's variables, as run -e does: `KEY=VALUE`, @FILE or {...}; repeat for more"),
			&cli.BoolFlag{DisableDefaultText: true, Name: "check", Aliases: []string{"C"}, Usage: "with -m: report what would change, change nothing"},
			&cli.BoolFlag{DisableDefaultText: true, Name: "diff", Aliases: []string{"D"}, Usage: "with -m: show file content changes as diffs"},
			breakLockFlag(),
		}),
		Before: applyAnsibleCfg,
		Action: execAction,
	}
}

func execAction(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		return badInput("exec: missing PATTERN (e.g. 'etcd' or 'all'); see etcdplay exec --help")
	}
	pattern, cmdArgs := args[0], args[1:]
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	inv, _, err := loadInventoryVars(c)
	if err != nil {
		return err
	}
	if m := c.String("module"); m != "" {
		if len(cmdArgs) > 0 {
			return badInput("exec: give either -m MODULE with -a KEY=VALUE or a command after --, not both")
		}
		return runAdhocModule(c, inv, pattern, m, listValues(c, "args"))
	}
	if len(cmdArgs) == 0 {
		return badInput("exec: missing command: etcdplay exec -i INV %s -- CMD [ARG...]", pattern)
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	hosts, err := inv.Select(pattern)
	if err != nil {
		return badInput("pattern %q: %v", pattern, err)
	}
	if len(hosts) == 0 {
		return badInput("pattern %q matches no host (within --limit)", pattern)
	}
	pool, err := newPool(c)
	if err != nil {
		return err
	}
	defer pool.Close()

	x := &adhocExec{
		pool:       pool,
		line:       strings.Join(cmdArgs, " "),
		forks:      c.Int("forks"),
		become:     c.Bool("become"),
		becomeUser: c.String("become-user"),
	}
	var p execPrinter
	if format == "json" {
		p = &jsonExecPrinter{out: engine.NewJSON(c.App.Writer)}
	} else {
		p = &textExecPrinter{w: c.App.Writer, color: useColor(os.Stdout) && c.App.Writer == os.Stdout, verbose: c.Count("verbose") > 0}
	}
	start := time.Now()
	results := x.run(c.Context, hosts, p.host)
	return p.recap(results, time.Since(start), c.Context.Err())
}

// adhocExec runs one command line across hosts.
type adhocExec struct {
	pool       *transport.Pool
	line       string
	forks      int
	become     bool
	becomeUser string
}

// hostStatus is how a host ended.
type hostStatus string

const (
	statusOK          hostStatus = "ok"
	statusFailed      hostStatus = "failed"
	statusUnreachable hostStatus = "unreachable"
	statusInterrupted hostStatus = "interrupted" // running when the run was cancelled
	statusNotStarted  hostStatus = "not started" // cancelled before it began
)

type execResult struct {
	Host     string        `json:"host"`
	Status   hostStatus    `json:"status"`
	RC       int           `json:"rc"`
	Stdout   string        `json:"stdout"`
	Stderr   string        `json:"stderr"`
	Msg      string        `json:"msg,omitempty"`
	Duration time.Duration `json:"-"`
	order    int
}

// run runs x.line on hosts, at most x.forks at once, and calls done as each
// host finishes (from one goroutine at a time). It returns every host's
// result in inventory order.
func (x *adhocExec) run(ctx context.Context, hosts []*inventory.Host, done func(execResult)) []execResult {
	results := make([]execResult, len(hosts))
	sem := make(chan struct{}, x.forks)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			for j := i; j < len(hosts); j++ {
				results[j] = execResult{Host: hosts[j].Name, Status: statusNotStarted, RC: -1, order: j}
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := x.runHost(ctx, h)
			r.order = i
			results[i] = r
			mu.Lock()
			done(r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

func (x *adhocExec) runHost(ctx context.Context, h *inventory.Host) execResult {
	start := time.Now()
	r := execResult{Host: h.Name, RC: -1}
	defer func() { r.Duration = time.Since(start) }()
	if err := h.ConnectionError(); err != nil {
		// Never connect to an address that is not the one meant.
		r.Status, r.Msg = statusFailed, err.Error()
		return r
	}
	conn, err := x.pool.Connect(ctx, engine.TargetOf(h))
	if err != nil {
		return x.errResult(ctx, r, err, start)
	}
	become, becomeUser := x.become, x.becomeUser
	if b, set := h.Become(); set && !x.become {
		become = b
	}
	if becomeUser == "" {
		becomeUser = h.BecomeUser()
	}
	res, err := conn.Run(ctx, transport.Command{Line: x.line, Become: become, BecomeUser: becomeUser})
	r.Stdout, r.Stderr, r.RC = string(res.Stdout), string(res.Stderr), res.ExitStatus
	if err != nil {
		return x.errResult(ctx, r, err, start)
	}
	r.Status = statusOK
	if res.ExitStatus != 0 || res.Signal != "" {
		r.Status = statusFailed
		if res.Signal != "" {
			r.Msg = "killed by signal " + res.Signal
		}
	}
	r.Duration = time.Since(start)
	return r
}

func (x *adhocExec) errResult(ctx context.Context, r execResult, err error, start time.Time) execResult {
	r.Duration = time.Since(start)
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.Status, r.Msg = statusInterrupted, "interrupted; the remote session was closed"
	case transport.IsUnreachable(err):
		r.Status, r.Msg = statusUnreachable, unwrapUnreachable(err)
	default:
		r.Status, r.Msg = statusFailed, err.Error()
	}
	return r
}

// unwrapUnreachable drops the "host: unreachable:" prefix the printer
// already shows.
func unwrapUnreachable(err error) string {
	var u *transport.UnreachableError
	if errors.As(err, &u) {
		return u.Err.Error()
	}
	return err.Error()
}

// execPrinter shows exec's results.
type execPrinter interface {
	host(execResult)
	recap(results []execResult, elapsed time.Duration, ctxErr error) error
}

type textExecPrinter struct {
	w       io.Writer
	color   bool
	verbose bool
}

const (
	ansiReset   = "\x1b[0m"
	ansiGreen   = "\x1b[32m"
	ansiRed     = "\x1b[31m"
	ansiMagenta = "\x1b[35m"
	ansiYellow  = "\x1b[33m"
	ansiBold    = "\x1b[1m"
)

func (p *textExecPrinter) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

func (p *textExecPrinter) statusWord(s hostStatus) string {
	switch s {
	case statusOK:
		return p.paint(ansiGreen, "ok")
	case statusFailed:
		return p.paint(ansiRed, "FAILED")
	case statusUnreachable:
		return p.paint(ansiMagenta, "UNREACHABLE")
	}
	return p.paint(ansiYellow, strings.ToUpper(string(s)))
}

func (p *textExecPrinter) host(r execResult) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s | %s", p.paint(ansiBold, "==>"), p.paint(ansiBold, r.Host), p.statusWord(r.Status))
	if r.Status == statusOK || r.Status == statusFailed {
		if r.RC >= 0 {
			fmt.Fprintf(&b, " | rc=%d", r.RC)
		}
	}
	if p.verbose {
		fmt.Fprintf(&b, " | %s", r.Duration.Round(time.Millisecond))
	}
	b.WriteByte('\n')
	b.WriteString(r.Stdout)
	if r.Stdout != "" && !strings.HasSuffix(r.Stdout, "\n") {
		b.WriteByte('\n')
	}
	if r.Stderr != "" {
		for _, l := range strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n") {
			b.WriteString(p.paint(ansiRed, "stderr: ") + l + "\n")
		}
	}
	if r.Msg != "" {
		for _, l := range strings.Split(r.Msg, "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	io.WriteString(p.w, b.String())
}

func (p *textExecPrinter) recap(results []execResult, elapsed time.Duration, ctxErr error) error {
	counts := map[hostStatus][]string{}
	var failedRC []string
	for _, r := range results {
		counts[r.Status] = append(counts[r.Status], r.Host)
		if r.Status == statusFailed {
			failedRC = append(failedRC, fmt.Sprintf("%s rc=%d", r.Host, r.RC))
		}
	}
	parts := []string{p.paint(ansiGreen, fmt.Sprintf("%d ok", len(counts[statusOK])))}
	if n := len(counts[statusFailed]); n > 0 {
		parts = append(parts, p.paint(ansiRed, fmt.Sprintf("%d failed", n))+" ("+listSome(failedRC)+")")
	} else {
		parts = append(parts, "0 failed")
	}
	if n := len(counts[statusUnreachable]); n > 0 {
		parts = append(parts, p.paint(ansiMagenta, fmt.Sprintf("%d unreachable", n))+" ("+listSome(counts[statusUnreachable])+")")
	} else {
		parts = append(parts, "0 unreachable")
	}
	for _, s := range []hostStatus{statusInterrupted, statusNotStarted} {
		if n := len(counts[s]); n > 0 {
			parts = append(parts, p.paint(ansiYellow, fmt.Sprintf("%d %s", n, s)))
		}
	}
	fmt.Fprintf(p.w, "\n%s %d host(s): %s in %s\n", p.paint(ansiBold, "RECAP"), len(results), strings.Join(parts, ", "), elapsed.Round(time.Millisecond))
	return execOutcome(counts, ctxErr)
}

// listSome lists up to 5 names, so a recap of 500 failed hosts stays a line.
func listSome(names []string) string {
	sort.Strings(names)
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(", and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

func execOutcome(counts map[hostStatus][]string, ctxErr error) error {
	if ctxErr != nil {
		return fmt.Errorf("interrupted: %d host(s) finished, %d had their running command's session closed, %d not started: %w",
			len(counts[statusOK])+len(counts[statusFailed])+len(counts[statusUnreachable]),
			len(counts[statusInterrupted]), len(counts[statusNotStarted]), ctxErr)
	}
	if f, u := len(counts[statusFailed]), len(counts[statusUnreachable]); f+u > 0 {
		return &hostsError{failed: f, unreachable: u}
	}
	return nil
}

// jsonExecPrinter writes exec's results in the engine's JSON event format
// (etcdplay doc output), so one consumer reads exec, exec -m and run alike:
// a host_result event per host as it finishes, then a recap event.
type jsonExecPrinter struct {
	out *engine.JSON
}

var execStatus = map[hostStatus]engine.Status{
	statusOK:          engine.StatusOK,
	statusFailed:      engine.StatusFailed,
	statusUnreachable: engine.StatusUnreachable,
	statusInterrupted: engine.StatusInterrupted,
	statusNotStarted:  engine.StatusSkipped,
}

func (p *jsonExecPrinter) host(r execResult) {
	e := engine.Event{
		Type: engine.EventHostResult, Time: time.Now(), Module: "exec", Task: 1,
		Host: r.Host, Status: execStatus[r.Status], Msg: r.Msg,
		Stdout: r.Stdout, Stderr: r.Stderr, Duration: engine.Millis(r.Duration),
	}
	if r.Status == statusOK || r.Status == statusFailed {
		rc := r.RC
		e.RC = &rc
	}
	if r.Status == statusNotStarted {
		e.Msg = "not started: interrupted"
	}
	p.out.Emit(e)
}

func (p *jsonExecPrinter) recap(results []execResult, elapsed time.Duration, ctxErr error) error {
	counts := map[hostStatus][]string{}
	rec := &engine.Recap{Duration: engine.Millis(elapsed)}
	for _, r := range results {
		counts[r.Status] = append(counts[r.Status], r.Host)
		hr := engine.HostRecap{Host: r.Host}
		switch r.Status {
		case statusOK:
			hr.OK = 1
		case statusFailed:
			hr.Failed, hr.Dropped = 1, fmt.Sprintf("failed (rc=%d)", r.RC)
		case statusUnreachable:
			hr.Unreachable, hr.Dropped = 1, "unreachable"
		case statusNotStarted:
			hr.Skipped = 1
			// Hosts that never started have no host_result yet: every host
			// appears exactly once.
			p.host(r)
		}
		rec.Hosts = append(rec.Hosts, hr)
	}
	rec.Failed, rec.Unreachable = len(counts[statusFailed]), len(counts[statusUnreachable])
	if ctxErr != nil {
		rec.Interrupted = &engine.Interruption{
			Task: 1, Module: "exec",
			Done:       append(append(append([]string{}, counts[statusOK]...), counts[statusFailed]...), counts[statusUnreachable]...),
			InFlight:   append([]string{}, counts[statusInterrupted]...),
			NotStarted: append([]string{}, counts[statusNotStarted]...),
		}
	}
	p.out.Emit(engine.Event{Type: engine.EventRecap, Time: time.Now(), Recap: rec})
	return execOutcome(counts, ctxErr)
}
