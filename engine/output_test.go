package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			golden := filepath.Join("testdata", "golden", tc.name)
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
		})
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
