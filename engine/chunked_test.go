package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// TestChunked runs the playbooks in testdata/*.star. As in starlark-go's
// tests, a file holds several cases separated by a line "---", and a case
// that must stop with an error says so on the failing line with a comment
// ### "regexp" (matched against the error, which must name that line).
// Every case runs as its own playbook on local hosts h1, h2, h3 (each in its
// own directory) and "down", which is unreachable.
func TestChunked(t *testing.T) {
	files, err := filepath.Glob("testdata/*.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if filepath.Base(file) == "assert.star" || strings.HasPrefix(filepath.Base(file), "lib_") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range splitChunks(string(data)) {
			t.Run(fmt.Sprintf("%s:%d", filepath.Base(file), c.line), func(t *testing.T) {
				t.Parallel()
				runChunk(t, file, c)
			})
		}
	}
}

type chunk struct {
	line   int    // first line of the chunk in its file
	source string // the file's text with every other chunk blanked, so positions match
	wants  []want
}

type want struct {
	line int
	re   *regexp.Regexp
}

var wantRE = regexp.MustCompile(`### "(.*)"\s*$`)

func splitChunks(data string) []chunk {
	lines := strings.Split(data, "\n")
	var chunks []chunk
	start := 0
	flush := func(end int) {
		c := chunk{line: start + 1}
		var b strings.Builder
		for i, l := range lines {
			if i < start || i >= end {
				b.WriteString("\n")
				continue
			}
			b.WriteString(l + "\n")
			if m := wantRE.FindStringSubmatch(l); m != nil {
				re, err := strconv.Unquote(`"` + m[1] + `"`)
				if err != nil {
					re = m[1]
				}
				c.wants = append(c.wants, want{line: i + 1, re: regexp.MustCompile(re)})
			}
		}
		c.source = b.String()
		chunks = append(chunks, c)
	}
	for i, l := range lines {
		if l == "---" {
			flush(i)
			start = i + 1
		}
	}
	flush(len(lines))
	return chunks
}

// recorder is an Output keeping the events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) String() string {
	var b strings.Builder
	p := NewText(&b, &b, TextOptions{})
	for _, e := range r.events {
		p.Emit(e)
	}
	return b.String()
}

func (r *recorder) of(typ string) []Event {
	var out []Event
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func runChunk(t *testing.T, file string, c chunk) {
	inv, conn := enginetest.Hosts(t, "[gone]\ndown ansible_host=127.0.0.2\n", "h1", "h2", "h3")
	rec := &recorder{}
	cfg := Config{
		Inventory: inv,
		Connector: conn,
		Modules:   testModules(),
		Output:    rec,
		Forks:     5,
		Vars:      map[string]any{"name": "etcd-1", "n": 3},
		BaseDir:   filepath.Dir(file),
	}
	if strings.Contains(c.source, "# check mode") {
		cfg.Check, cfg.Diff = true, true
	}
	pb := &Playbook{src: source{path: file}, data: []byte(c.source)}
	_, err := Run(context.Background(), cfg, pb)
	if len(c.wants) == 0 {
		if err != nil {
			var e *Error
			bt := ""
			if ok := asError(err, &e); ok {
				bt = e.Backtrace
			}
			t.Fatalf("unexpected error: %v\n%s\noutput:\n%s", err, bt, rec)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q at line %d\noutput:\n%s", c.wants[0].re, c.wants[0].line, rec)
	}
	w := c.wants[0]
	if !w.re.MatchString(err.Error()) {
		t.Fatalf("error %q does not match %q\noutput:\n%s", err, w.re, rec)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%s:%d:", file, w.line)) {
		t.Errorf("error %q is not placed at %s:%d", err, file, w.line)
	}
}
