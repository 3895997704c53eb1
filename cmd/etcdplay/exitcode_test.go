package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

// TestExitStatuses: every kind of error the engine names has one exit
// status, no two kinds share one, and --help lists each.
func TestExitStatuses(t *testing.T) {
	codes := map[int]engine.ErrorKind{}
	kinds := map[engine.ErrorKind]bool{}
	for _, s := range exitStatuses {
		if k, dup := codes[s.code]; dup {
			t.Errorf("exit status %d is both %v and %v", s.code, k, s.kind)
		}
		if kinds[s.kind] {
			t.Errorf("%v has two exit statuses", s.kind)
		}
		codes[s.code], kinds[s.kind] = s.kind, true
		if line := fmt.Sprintf("   %-4d %s\n", s.code, s.doc); !strings.Contains(exitCodesHelp, line) {
			t.Errorf("--help does not list %q", line)
		}
	}
	for k := engine.KindNone; k <= engine.KindInterrupted; k++ {
		if !kinds[k] {
			t.Errorf("%v has no exit status", k)
		}
	}
}

// TestExitCode: the statuses etcdplay documents, by what ended the run.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{fmt.Errorf("boom"), 1},
		{&engine.Error{Module: "copy", Err: fmt.Errorf("boom")}, 1},
		{&hostsError{failed: 1, unreachable: 1}, 2},
		{&engine.Error{Err: &engine.NoHostsLeftError{Unreachable: true}}, 3},
		{badInput("no such flag"), 4},
		{&inventory.ParseError{File: "inv.ini", Line: 1, Msg: "bad"}, 4},
		{&engine.Error{Module: "copy", Err: engine.BadInput("dest is empty")}, 4},
		// A Validate that refuses wins over the bad input it is marked as.
		{&engine.Error{Err: &engine.InputError{Err: engine.Refuse("a path etcdplay never wipes")}}, 5},
		{fmt.Errorf("run: %w", context.Canceled), 130},
		{&sshExit{code: 7}, 7},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}
