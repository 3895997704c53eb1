package engine

import (
	"strconv"
	"time"
)

// Status is what a module did on one host.
type Status string

// Statuses of a host result. Interrupted marks work cut short by Ctrl-C; it
// appears in output only, never in a result a playbook sees.
const (
	StatusOK          Status = "ok"
	StatusChanged     Status = "changed"
	StatusFailed      Status = "failed"
	StatusUnreachable Status = "unreachable"
	StatusSkipped     Status = "skipped"
	StatusInterrupted Status = "interrupted"
)

// Event types, in the order a run emits them. The JSON printer writes each
// event as one line; see OutputDoc for the schema.
const (
	EventStart      = "start"       // the run begins
	EventTaskStart  = "task_start"  // a module call begins
	EventProgress   = "progress"    // a long wait goes on (retries, until, a module waiting)
	EventWarning    = "warning"     // something the operator should know, the run goes on
	EventHostResult = "host_result" // one host finished a module call
	EventTaskEnd    = "task_end"    // a module call ended on every target
	EventPrint      = "print"       // print() in the playbook
	EventError      = "error"       // the run stopped on an error
	EventRecap      = "recap"       // the run ended: per-host counts
)

// Event is one thing that happened in a run. Fields not meaningful for a
// type are left zero (and omitted from JSON).
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`

	// start
	Playbook string `json:"playbook,omitempty"`
	Check    bool   `json:"check,omitempty"`
	Diff     bool   `json:"diff,omitempty"`
	AdHoc    bool   `json:"adhoc,omitempty"`

	// task_start, host_result, progress, task_end, warning, error
	Task    int      `json:"task,omitempty"`
	Module  string   `json:"module,omitempty"`
	Pos     string   `json:"pos,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	Cluster bool     `json:"cluster,omitempty"`
	Serial  int      `json:"serial,omitempty"`

	// host_result, progress, warning, print, error
	Host     string         `json:"host,omitempty"`
	Status   Status         `json:"status,omitempty"`
	Msg      string         `json:"msg,omitempty"`
	RC       *int           `json:"rc,omitempty"`
	Stdout   string         `json:"stdout,omitempty"`
	Stderr   string         `json:"stderr,omitempty"`
	Diffs    string         `json:"diff_text,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
	Attempts int            `json:"attempts,omitempty"`
	Ignored  bool           `json:"ignored,omitempty"`
	Pending  bool           `json:"pending,omitempty"`
	Duration Millis         `json:"duration_ms,omitempty"`

	// error
	Backtrace string `json:"backtrace,omitempty"`

	// recap
	Recap *Recap `json:"recap,omitempty"`
}

// Millis is a duration written to JSON as milliseconds.
type Millis time.Duration

// MarshalJSON writes whole milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, time.Duration(m).Milliseconds(), 10), nil
}

// Output receives a run's events, one at a time: the engine never calls
// Emit concurrently.
type Output interface {
	Emit(Event)
}

// Recap is how a run ended, per host and overall.
type Recap struct {
	Hosts []HostRecap `json:"hosts"`
	// Failed and Unreachable count hosts, not results: a host that failed
	// once is dropped and counted once.
	Failed      int    `json:"failed"`
	Unreachable int    `json:"unreachable"`
	Changed     bool   `json:"changed"`
	Check       bool   `json:"check,omitempty"`
	Duration    Millis `json:"duration_ms"`
	// Error is the error that stopped the run, if any.
	Error string `json:"error,omitempty"`
	// Interrupted describes the call Ctrl-C cut short, if any.
	Interrupted *Interruption `json:"interrupted,omitempty"`
	// Recovery is what modules said the operator needs if the run fails
	// (the restore command of a snapshot taken before a membership
	// change); set only when the run did not end well.
	Recovery []string `json:"recovery,omitempty"`
}

// HostRecap counts one host's results.
type HostRecap struct {
	Host        string `json:"host"`
	OK          int    `json:"ok"`
	Changed     int    `json:"changed"`
	Failed      int    `json:"failed"`
	Unreachable int    `json:"unreachable"`
	Skipped     int    `json:"skipped"`
	// Ignored counts failures and unreachables the playbook ignored
	// (ignore_errors, ignore_unreachable); they are not in Failed.
	Ignored int `json:"ignored"`
	// Dropped says where and why the host left the run (failed or
	// unreachable without ignore_errors).
	Dropped string `json:"dropped,omitempty"`
}

// Interruption is what was and was not done by the call running when the
// run was interrupted.
type Interruption struct {
	Task       int      `json:"task"`
	Module     string   `json:"module"`
	Pos        string   `json:"pos,omitempty"`
	Done       []string `json:"done"`        // hosts that finished the call
	InFlight   []string `json:"in_flight"`   // hosts cut short: may be partly done
	NotStarted []string `json:"not_started"` // hosts the call never started on
}
