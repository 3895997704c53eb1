package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins the text and JSON output of a run (and of a check-mode
// run with --diff) against testdata/golden. go test -run Golden -update
// rewrites them after an intended change.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		check  bool
		format string
		color  bool
	}{
		{"run.txt", false, "text", false},
		{"run.color.txt", false, "text", true},
		{"run.jsonl", false, "json", false},
		{"check.txt", true, "text", false},
		{"check.jsonl", true, "json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, conn := enginetest.Hosts(t, "[gone]\ndown ansible_host=127.0.0.2\n", "h1", "h2", "h3")
			os.WriteFile(filepath.Join(conn.Conns["h1"].Dir, "motd"), []byte("welcome to h1\n"), 0o644)
			os.WriteFile(filepath.Join(conn.Conns["h3"].Dir, "motd"), []byte("hello\nwelcome\n"), 0o644)
			var out bytes.Buffer
			var o Output
			if tc.format == "json" {
				o = NewJSON(&out)
			} else {
				o = NewText(&out, &out, TextOptions{Color: tc.color})
			}
			pb, err := OpenPlaybook("testdata/golden/play.star", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), Config{
				Inventory: inv, Connector: conn, Modules: testModules(), Output: o,
				Forks: 1, Check: tc.check, Diff: true,
			}, pb)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			got := out.Bytes()
			if tc.format == "json" {
				got = normalizeJSON(t, got)
			}
			checkGolden(t, tc.name, got)
		})
	}
}

// TestGoldenExec pins what etcdplay exec -- CMD prints (the exec module
// through RunCommand, the text printer's block mode) against
// testdata/golden: an ok host, a failing one with stderr, an unreachable
// one, and the recap line.
func TestGoldenExec(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		color  bool
	}{
		{"exec.txt", "text", false},
		{"exec.color.txt", "text", true},
		{"exec.jsonl", "json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, conn := enginetest.Hosts(t, "[gone]\ndown ansible_host=127.0.0.2\n", "h1", "h2")
			var out bytes.Buffer
			var o Output
			if tc.format == "json" {
				o = NewJSON(&out)
			} else {
				o = NewText(&out, &out, TextOptions{Color: tc.color, Blocks: true})
			}
			line := `echo out-$(basename $PWD); echo; if [ $(basename $PWD) = h2 ]; then printf 'no space\nleft\n' >&2; exit 28; fi`
			rec, err := RunCommand(context.Background(), Config{Inventory: inv, Connector: conn, Output: o, Forks: 1}, "all", line)
			if err != nil {
				t.Fatalf("exec: %v\n%s", err, out.String())
			}
			if rec.Failed != 1 || rec.Unreachable != 1 {
				t.Errorf("recap: %d failed, %d unreachable; want 1 and 1", rec.Failed, rec.Unreachable)
			}
			got := out.Bytes()
			if tc.format == "json" {
				got = normalizeJSON(t, got)
			} else {
				got = recapTime.ReplaceAll(got, []byte("in 0.00s"))
			}
			checkGolden(t, tc.name, got)
		})
	}
}

// recapTime is the time in block mode's recap line, which changes from
// run to run.
var recapTime = regexp.MustCompile(`in [0-9]+\.[0-9]{2}s`)

// checkGolden compares got with testdata/golden/name, or with -update
// writes it there.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -run Golden -update rewrites it):\n%s", golden,
			Unified("want", "got", string(want), string(got), 3))
	}
}

// normalizeJSON zeroes what changes from run to run (times, durations) and
// checks every line is one JSON object with a type.
func normalizeJSON(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON object: %q: %v", line, err)
		}
		if _, ok := m["type"].(string); !ok {
			t.Fatalf("event without a type: %q", line)
		}
		if _, ok := m["time"]; !ok {
			t.Fatalf("event without a time: %q", line)
		}
		m["time"] = "T"
		if _, ok := m["duration_ms"]; ok {
			m["duration_ms"] = 0
		}
		if r, ok := m["recap"].(map[string]any); ok {
			r["duration_ms"] = 0
		}
		nb, _ := json.Marshal(m)
		out.Write(nb)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// TestTextProgress: on a terminal, a long wait shows a status line (what
// is waited for, for how long, the last retry) that the next line clears.
func TestTextProgress(t *testing.T) {
	var out syncBuf
	p := NewText(&out, &out, TextOptions{Progress: true, Verbose: 1})
	defer p.Close()
	start := time.Now().Add(-3 * time.Second)
	p.Emit(Event{Type: EventTaskStart, Time: start, Task: 1, Module: "wait_healthy", Hosts: []string{"h1", "h2"}})
	p.Emit(Event{Type: EventProgress, Task: 1, Host: "h2", Msg: "attempt 1 of 5: member h2 not started; retrying in 1s"})
	if got := out.String(); !strings.Contains(got, "wait_healthy: waiting for h1, h2 (3s) - h2: attempt 1 of 5: member h2 not started") {
		t.Fatalf("no status line:\n%q", got)
	}
	p.Emit(Event{Type: EventHostResult, Task: 1, Module: "wait_healthy", Host: "h1", Status: StatusOK, Msg: "healthy", Duration: Millis(1500 * time.Millisecond)})
	got := out.String()
	if !strings.Contains(got, "\r\x1b[Kok          h1  healthy [1.50s]\n") {
		t.Errorf("the status line is not cleared before the result, or -v lacks the timing:\n%q", got)
	}
}

// TestTextProgressWithoutTerminal: without a status line, each new
// progress message is a line, and a retry that says the same again is not.
func TestTextProgressWithoutTerminal(t *testing.T) {
	var out syncBuf
	p := NewText(&out, &out, TextOptions{})
	defer p.Close()
	p.Emit(Event{Type: EventTaskStart, Task: 1, Module: "member_add", Hosts: []string{"h1"}})
	for _, m := range []string{"not yet", "not yet", "not yet", "nearly", "not yet"} {
		p.Emit(Event{Type: EventProgress, Task: 1, Host: "h1", Msg: m})
	}
	if got := out.String(); strings.Count(got, "h1: not yet") != 2 || strings.Count(got, "h1: nearly") != 1 {
		t.Fatalf("progress lines:\n%s", got)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLimit: ctx.hosts honours --limit, and a host named outside it is
// skipped by module calls.
func TestLimit(t *testing.T) {
	inv, conn := enginetest.Hosts(t, "", "h1", "h2", "h3")
	if err := inv.SetLimit("h1:h3"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	pb := &Playbook{src: source{path: "limit.star"}, data: []byte(`
def main(ctx):
    if [h.name for h in ctx.hosts("test")] != ["h1", "h3"]:
        fail("limit not applied")
    r = note(ctx.host("h2"), value = 1)
    if not r["h2"].skipped or r["h2"].msg != "outside --limit":
        fail(r["h2"].msg)
`)}
	if _, err := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: rec}, pb); err != nil {
		t.Fatalf("%v\n%s", err, rec)
	}
	if conn.Dials() != 0 {
		t.Errorf("a host outside --limit was contacted")
	}
}

// TestRecovery: what a module says to do if the run fails is in the recap
// when the run fails after it, and only then; check mode records nothing.
func TestRecovery(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		check      bool
		want       []string
	}{
		{"run fails later", `recover("h1", note = "restore: etcdutl snapshot restore s.db")
    recover("h1", note = "restore: etcdutl snapshot restore s.db")
    fail("replace went wrong")`, false, []string{"restore: etcdutl snapshot restore s.db"}},
		{"host fails later", `recover("h1", note = "n1")
    run("h2", cmd = "exit 3")`, false, []string{"n1"}},
		{"run ends well", `recover("h1", note = "n1")`, false, nil},
		{"check mode", `recover("h1", note = "n1")
    fail("x")`, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, conn := enginetest.Hosts(t, "", "h1", "h2")
			rec := &recorder{}
			pb := &Playbook{src: source{path: "recover.star"}, data: []byte("def main(ctx):\n    " + tc.body + "\n")}
			r, _ := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: rec, Check: tc.check}, pb)
			if !slices.Equal(r.Recovery, tc.want) {
				t.Fatalf("recovery %q, want %q\n%s", r.Recovery, tc.want, rec)
			}
			var text bytes.Buffer
			p := NewText(&text, &text, TextOptions{})
			p.Emit(Event{Type: EventRecap, Recap: r})
			if got := strings.Contains(text.String(), "TO RECOVER"); got != (len(tc.want) > 0) {
				t.Fatalf("text recap shows TO RECOVER: %v\n%s", got, text.String())
			}
		})
	}
}
