package engine

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// TextOptions tune the text printer.
type TextOptions struct {
	// Color uses ANSI colours (decide with the terminal and NO_COLOR).
	Color bool
	// Progress shows a status line while a task waits (a terminal only).
	Progress bool
	// Verbose adds timings and backtraces (1), and every result's output (2).
	Verbose int
	// ShowOutput prints each host's stdout, as ad-hoc module calls want.
	ShowOutput bool
	// Blocks prints each host's result as a block, "==> HOST | STATUS |
	// rc=N" over its whole stdout and stderr, with no task headers, and
	// the recap as one line of counts: etcdplay exec -- CMD, whose
	// output is what the operator came for.
	Blocks bool
}

// Text prints events for people: a header per task, one line per host, the
// output of failures, and a recap; or, with TextOptions.Blocks, a block per
// host and a recap line.
type Text struct {
	out, errw io.Writer
	o         TextOptions

	mu       sync.Mutex
	status   string // the status line on screen, if any
	width    int    // host column width, the longest host name seen
	task     *textTask
	lastProg string
	stop     chan struct{}
	stopped  bool
	adhoc    bool // the run is one ad-hoc call (etcdplay exec), not a playbook
	// blocks is what block mode's recap line counts: each host's last
	// status, and the exit status of those that failed with one.
	blocks map[string]Status
	rcs    map[string]int
}

type textTask struct {
	start   time.Time
	module  string
	pending map[string]bool
}

// NewText returns a text printer writing results to out and errors to
// errw. Call Close when the run ends.
func NewText(out, errw io.Writer, o TextOptions) *Text {
	p := &Text{out: out, errw: errw, o: o, blocks: map[string]Status{}, rcs: map[string]int{}}
	if o.Progress {
		p.stop = make(chan struct{})
		go p.tick()
	}
	return p
}

// Close stops the progress line.
func (p *Text) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil && !p.stopped {
		close(p.stop)
		p.stopped = true
	}
	p.clearStatus()
}

const (
	cBold    = "1"
	cDim     = "2"
	cRed     = "31"
	cGreen   = "32"
	cYellow  = "33"
	cCyan    = "36"
	cMagenta = "35"
)

func (p *Text) c(code, s string) string {
	if !p.o.Color || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func statusColor(s Status) string {
	switch s {
	case StatusOK:
		return cGreen
	case StatusChanged:
		return cYellow
	case StatusFailed, StatusInterrupted:
		return cRed
	case StatusUnreachable:
		return cMagenta
	}
	return cCyan
}

// Emit implements Output.
func (p *Text) Emit(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearStatus()
	switch e.Type {
	case EventStart:
		p.adhoc = e.AdHoc
		if e.AdHoc {
			if e.Check {
				fmt.Fprintln(p.out, p.c(cDim, "check mode: nothing will be changed"))
			}
			return
		}
		mode := ""
		if e.Check {
			mode = "  " + p.c(cYellow, "(check mode: nothing will be changed)")
		}
		fmt.Fprintf(p.out, "%s %s%s\n", p.c(cBold, "PLAYBOOK"), e.Playbook, mode)
	case EventTaskStart:
		// The host column widens as longer names appear and never narrows,
		// so most tasks line up.
		for _, h := range e.Hosts {
			p.width = max(p.width, len(h))
		}
		p.task = &textTask{start: e.Time, module: e.Module, pending: map[string]bool{}}
		for _, h := range e.Hosts {
			p.task.pending[h] = true
		}
		if p.o.Blocks {
			return
		}
		var extra []string
		if e.Pos != "" {
			extra = append(extra, p.c(cDim, e.Pos))
		}
		if e.Cluster {
			extra = append(extra, p.c(cDim, "(cluster, through "+strings.Join(e.Hosts, ", ")+")"))
		} else if e.Serial > 0 {
			extra = append(extra, p.c(cDim, fmt.Sprintf("(%d at a time)", e.Serial)))
		}
		fmt.Fprintf(p.out, "\n%s %s\n", p.c(cBold, "TASK ["+e.Module+"]"), strings.Join(extra, " "))
	case EventHostResult:
		if p.o.Blocks {
			p.hostBlock(e)
		} else {
			p.hostResult(e)
		}
	case EventProgress:
		msg := e.Host + ": " + e.Msg
		if p.o.Progress {
			p.lastProg = msg
			p.showStatus()
			return
		}
		// Without a status line, a wait that says the same thing at every
		// retry is shown once, not once per second.
		if msg == p.lastProg {
			return
		}
		p.lastProg = msg
		fmt.Fprintf(p.out, "%s %s\n", p.c(cDim, "...        "), msg)
	case EventWarning:
		where := ""
		if e.Host != "" {
			where = e.Host + ": "
		}
		if e.Pos != "" && e.Task == 0 {
			where = e.Pos + ": " + where
		}
		fmt.Fprintf(p.out, "%s %s%s\n", p.c(cYellow, "warning:"), where, e.Msg)
	case EventTaskEnd:
		if p.o.Verbose > 0 && !p.o.Blocks {
			fmt.Fprintf(p.out, "%s\n", p.c(cDim, fmt.Sprintf("  (%s)", seconds2(time.Duration(e.Duration)))))
		}
		p.task = nil
		p.lastProg = ""
	case EventPrint:
		fmt.Fprintln(p.out, e.Msg)
	case EventError:
		fmt.Fprintf(p.errw, "etcdplay: %s\n", e.Msg)
		if p.o.Verbose > 0 && e.Backtrace != "" {
			fmt.Fprintf(p.errw, "%s\n", e.Backtrace)
		}
	case EventRecap:
		p.recap(e.Recap)
	}
}

func seconds2(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func (p *Text) hostResult(e Event) {
	if p.task != nil {
		delete(p.task.pending, e.Host)
	}
	status := string(e.Status)
	msg := e.Msg
	if e.Ignored {
		msg += " (ignored)"
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if p.o.Verbose > 0 && e.Status != StatusSkipped {
		msg += " " + p.c(cDim, "["+seconds2(time.Duration(e.Duration))+"]")
	}
	w := max(p.width, len(e.Host))
	fmt.Fprintf(p.out, "%s %-*s  %s\n", p.c(statusColor(e.Status), fmt.Sprintf("%-11s", status)), w, e.Host, strings.TrimRight(msg, " "))
	indent := strings.Repeat(" ", 12)
	bad := e.Status == StatusFailed || e.Status == StatusInterrupted
	if bad && e.RC != nil {
		fmt.Fprintf(p.out, "%src: %d\n", indent, *e.RC)
	}
	showOut := p.o.ShowOutput || p.o.Verbose > 1
	if e.Stdout != "" && (showOut || bad && e.Stderr == "") {
		p.block(indent, "stdout", e.Stdout, !showOut)
	}
	if e.Stderr != "" && (bad || showOut) {
		p.block(indent, "stderr", e.Stderr, !showOut)
	}
	if e.Diffs != "" {
		for _, line := range strings.SplitAfter(strings.TrimSuffix(e.Diffs, "\n"), "\n") {
			line = strings.TrimSuffix(line, "\n")
			switch {
			case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
				line = p.c(cBold, line)
			case strings.HasPrefix(line, "+"):
				line = p.c(cGreen, line)
			case strings.HasPrefix(line, "-"):
				line = p.c(cRed, line)
			case strings.HasPrefix(line, "@@"):
				line = p.c(cCyan, line)
			}
			fmt.Fprintf(p.out, "%s%s\n", indent, line)
		}
	}
}

// hostBlock prints a result in block mode: a header with the host, its
// status (in capitals unless ok, so what went wrong stands out in a long
// scroll of output) and the command's exit status, then the whole stdout,
// stderr line by line, and the message unless the header says it already.
func (p *Text) hostBlock(e Event) {
	if p.task != nil {
		delete(p.task.pending, e.Host)
	}
	p.blocks[e.Host] = e.Status
	if e.Status == StatusFailed && e.RC != nil {
		p.rcs[e.Host] = *e.RC
	}
	status := string(e.Status)
	if e.Status != StatusOK {
		status = strings.ToUpper(status)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s | %s", p.c(cBold, "==>"), p.c(cBold, e.Host), p.c(statusColor(e.Status), status))
	if e.RC != nil {
		fmt.Fprintf(&b, " | rc=%d", *e.RC)
	}
	if p.o.Verbose > 0 && e.Status != StatusSkipped {
		fmt.Fprintf(&b, " | %s", seconds2(time.Duration(e.Duration)))
	}
	b.WriteByte('\n')
	if e.Stdout != "" {
		b.WriteString(e.Stdout + "\n")
	}
	if e.Stderr != "" {
		for _, l := range strings.Split(e.Stderr, "\n") {
			b.WriteString(p.c(cRed, "stderr: ") + l + "\n")
		}
	}
	if e.Msg != "" && !strings.EqualFold(e.Msg, string(e.Status)) {
		for _, l := range strings.Split(e.Msg, "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	io.WriteString(p.out, b.String())
}

// maxOutputLines is how much of a failure's output is shown without -vv.
const maxOutputLines = 20

func (p *Text) block(indent, label, text string, limit bool) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if limit && len(lines) > maxOutputLines && p.o.Verbose < 2 {
		cut := len(lines) - maxOutputLines
		lines = append([]string{fmt.Sprintf("(%d earlier lines not shown; -vv shows all)", cut)}, lines[cut:]...)
	}
	if len(lines) == 1 {
		fmt.Fprintf(p.out, "%s%s: %s\n", indent, label, lines[0])
		return
	}
	fmt.Fprintf(p.out, "%s%s:\n", indent, label)
	for _, l := range lines {
		fmt.Fprintf(p.out, "%s  %s\n", indent, l)
	}
}

func (p *Text) recap(r *Recap) {
	if r == nil {
		return
	}
	if in := r.Interrupted; in != nil {
		where := in.Module
		if in.Pos != "" {
			where += " at " + in.Pos
		}
		fmt.Fprintf(p.out, "\n%s during %s\n", p.c(cRed+";"+cBold, "INTERRUPTED"), where)
		row := func(label string, hosts []string, note string) {
			if len(hosts) > 0 {
				fmt.Fprintf(p.out, "  %-12s %s%s\n", label, strings.Join(hosts, ", "), note)
			}
		}
		row("done:", in.Done, "")
		row("in flight:", in.InFlight, " (cut short: may be partly done)")
		row("not started:", in.NotStarted, "")
		if !p.adhoc {
			fmt.Fprintf(p.out, "  the rest of the playbook was not run\n")
		}
	}
	if p.o.Blocks {
		p.recapLine(r)
		return
	}
	if len(r.Hosts) == 0 {
		return
	}
	title := "RECAP"
	if r.Check {
		title += " " + p.c(cYellow, "(check mode: nothing was changed)")
	}
	fmt.Fprintf(p.out, "\n%s\n", p.c(cBold, title))
	w := 0
	for _, h := range r.Hosts {
		w = max(w, len(h.Host))
	}
	for _, h := range r.Hosts {
		col := func(code string, label string, n int) string {
			s := fmt.Sprintf("%s=%-3d", label, n)
			if n == 0 {
				return p.c(cDim, s)
			}
			return p.c(code, s)
		}
		line := fmt.Sprintf("%-*s  %s %s %s %s %s", w, h.Host,
			col(cGreen, "ok", h.OK), col(cYellow, "changed", h.Changed), col(cRed, "failed", h.Failed),
			col(cMagenta, "unreachable", h.Unreachable), col(cCyan, "skipped", h.Skipped))
		if h.Ignored > 0 {
			line += " " + col(cDim, "ignored", h.Ignored)
		}
		fmt.Fprintln(p.out, strings.TrimRight(line, " "))
		if h.Dropped != "" {
			fmt.Fprintf(p.out, "%-*s  %s %s\n", w, "", p.c(cRed, "left the run:"), h.Dropped)
		}
	}
	if len(r.Recovery) > 0 {
		fmt.Fprintf(p.out, "\n%s\n", p.c(cYellow+";"+cBold, "TO RECOVER"))
		for _, n := range r.Recovery {
			for _, l := range strings.Split(n, "\n") {
				fmt.Fprintf(p.out, "  %s\n", l)
			}
		}
	}
	if p.o.Verbose > 0 {
		fmt.Fprintf(p.out, "%s\n", p.c(cDim, "took "+seconds2(time.Duration(r.Duration))))
	}
}

// recapLine is block mode's recap: how many hosts ended how, naming the
// first few that failed (with their exit status) or were unreachable.
func (p *Text) recapLine(r *Recap) {
	hosts := map[Status][]string{}
	for h, s := range p.blocks {
		if rc, ok := p.rcs[h]; ok {
			h += fmt.Sprintf(" rc=%d", rc)
		}
		hosts[s] = append(hosts[s], h)
	}
	notStarted := 0
	if r.Interrupted != nil {
		notStarted = len(r.Interrupted.NotStarted)
	}
	if len(p.blocks)+notStarted == 0 {
		return // the call stopped before any host: the error says why
	}
	// Failures and unreachables are always counted, the rest when some
	// host ended so; not started counts as skipped does in the table.
	var parts []string
	add := func(s Status, n int, label string, names []string) {
		always := s == StatusOK || s == StatusFailed || s == StatusUnreachable
		switch {
		case n == 0 && always:
			parts = append(parts, "0 "+label)
		case n > 0:
			part := p.c(statusColor(s), fmt.Sprintf("%d %s", n, label))
			if len(names) > 0 {
				part += " (" + listSome(names) + ")"
			}
			parts = append(parts, part)
		}
	}
	add(StatusOK, len(hosts[StatusOK]), "ok", nil)
	add(StatusChanged, len(hosts[StatusChanged]), "changed", nil)
	add(StatusFailed, len(hosts[StatusFailed]), "failed", hosts[StatusFailed])
	add(StatusUnreachable, len(hosts[StatusUnreachable]), "unreachable", hosts[StatusUnreachable])
	add(StatusSkipped, len(hosts[StatusSkipped]), "skipped", nil)
	add(StatusInterrupted, len(hosts[StatusInterrupted]), "interrupted", nil)
	add(StatusSkipped, notStarted, "not started", nil)
	fmt.Fprintf(p.out, "\n%s %d host(s): %s in %s\n", p.c(cBold, "RECAP"), len(p.blocks)+notStarted,
		strings.Join(parts, ", "), seconds2(time.Duration(r.Duration)))
}

// listSome lists up to five names, sorted, so that a recap of 500 failed
// hosts stays one line.
func listSome(names []string) string {
	sort.Strings(names)
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(", and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// tick refreshes the status line while a task waits.
func (p *Text) tick() {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.clearStatus()
			p.showStatus()
			p.mu.Unlock()
		}
	}
}

// showStatus draws the status line: what the task waits for, and for how
// long, once it has waited a couple of seconds.
func (p *Text) showStatus() {
	if p.task == nil || !p.o.Progress {
		return
	}
	waited := time.Since(p.task.start)
	if waited < 2*time.Second && p.lastProg == "" {
		return
	}
	var hosts []string
	for h := range p.task.pending {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	if len(hosts) > 5 {
		hosts = append(hosts[:5], fmt.Sprintf("and %d more", len(hosts)-5))
	}
	s := fmt.Sprintf("%s: waiting for %s (%ds)", p.task.module, strings.Join(hosts, ", "), int(waited.Seconds()))
	if p.lastProg != "" {
		s += " - " + p.lastProg
	}
	if len(s) > 150 {
		s = s[:147] + "..."
	}
	p.status = s
	fmt.Fprint(p.out, p.c(cDim, s))
}

func (p *Text) clearStatus() {
	if p.status != "" {
		fmt.Fprint(p.out, "\r\x1b[K")
		p.status = ""
	}
}
