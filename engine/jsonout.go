package engine

import (
	"encoding/json"
	"io"
)

// JSON prints each event as one JSON object per line (see OutputDoc).
type JSON struct {
	enc *json.Encoder
}

// NewJSON returns a printer writing JSON lines to w.
func NewJSON(w io.Writer) *JSON {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSON{enc: enc}
}

// Emit implements Output.
func (j *JSON) Emit(e Event) {
	// An event that cannot be encoded (module data of an odd type) loses
	// its data rather than the line.
	if err := j.enc.Encode(e); err != nil {
		e.Data = map[string]any{"error": "data not encodable: " + err.Error()}
		j.enc.Encode(e)
	}
}

// Close implements the printer interface the CLI uses; JSON has nothing to
// flush.
func (j *JSON) Close() {}

// OutputDoc documents the JSON output (etcdplay doc output).
const OutputDoc = `etcdplay --output json writes one JSON object per line, an event, as the
run goes. Every event has "type" and "time" (RFC 3339). Fields that do not
apply are left out. Event types, in the order a run emits them:

start         the run begins
              playbook  the playbook file ("playbooks/NAME.star" if shipped)
              check     true in check mode;  diff: true with --diff
              adhoc     true for etcdplay exec;  module: the -m module, or
                        exec for a command given after --

task_start    a module call begins
              task      number of the call in this run, from 1
              module    module name
              pos       file:line:col of the call in the playbook
              hosts     the call's targets (host modules: every target, in order;
                        cluster modules: the hosts tried, in order)
              cluster   true for a cluster module
              serial    batch size when serial= is given

progress      a long wait goes on: a retry (attempts, msg), a module waiting
              task, module, pos, host, msg, attempts

warning       something to know; the run goes on
              task, module, pos, host (when about one), msg

host_result   one host finished the call (for a cluster module: the call's
              one result, under the host that answered)
              task, module, pos, host
              status    ok | changed | failed | unreachable | skipped | interrupted
              msg       what was done or why not ("would ..." in check mode)
              pending   true in check mode when the changes were not made
              ignored   true for a failure the call ignored (ignore_errors=True)
              rc, stdout, stderr   of a command, when one ran (the output
                        without its last newline; no rc when Ctrl-C cut it short)
              diff_text unified diff of file content (with --diff)
              data      the module's own result data (member id, paths, ...)
              attempts  attempts made (with retries=/until=)
              duration_ms

task_end      the call ended on every target: task, module, pos, duration_ms

print         print() in the playbook: pos, msg

error         the run stopped: msg (with file:line:col), pos, module, host,
              backtrace (the Starlark call stack)

recap         the run ended (always the last event)
              recap.hosts[]      host, ok, changed, failed, unreachable,
                                 skipped, ignored (counts of results),
                                 dropped (where and why the host left the run)
              recap.failed       hosts that left the run failed
              recap.unreachable  hosts that left the run unreachable
              recap.changed      true if anything changed
              recap.check        true in check mode
              recap.error        the error that stopped the run, if any
              recap.interrupted  the call Ctrl-C cut short: task, module, pos,
                                 done, in_flight, not_started (host names)
              recap.recovery     what to do to recover, when the run failed
                                 (e.g. the restore command of the snapshot
                                 saved before a membership change)
              recap.duration_ms

New fields may be added; existing ones keep their meaning.
`
