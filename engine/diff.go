package engine

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxDiffBytes bounds the content shown as a diff; larger changes are
// summarised.
const maxDiffBytes = 1 << 20

func (d *FileDiff) unified(host string) string {
	from, to := host+":"+d.Path, host+":"+d.Path
	if d.Before == nil {
		from = "/dev/null"
	}
	if d.After == nil {
		to = "/dev/null"
	}
	switch {
	case d.Omitted != "":
		return fmt.Sprintf("--- %s\n+++ %s\n(%s)\n", from, to, d.Omitted)
	case len(d.Before) > maxDiffBytes || len(d.After) > maxDiffBytes:
		return fmt.Sprintf("--- %s\n+++ %s\n(too large to show: %d bytes before, %d after)\n", from, to, len(d.Before), len(d.After))
	case isBinary(d.Before) || isBinary(d.After):
		return fmt.Sprintf("--- %s\n+++ %s\n(binary content: %d bytes before, %d after)\n", from, to, len(d.Before), len(d.After))
	}
	return Unified(from, to, string(d.Before), string(d.After), 3)
}

func isBinary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}

// Unified returns the unified diff of two texts with context lines around
// each change, or "" when they are equal.
func Unified(fromName, toName, a, b string, context int) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)
	// Group the edit script into hunks separated by more than 2*context
	// unchanged lines.
	type span struct{ start, end int } // indexes into ops
	var hunks []span
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		if len(hunks) > 0 && start <= hunks[len(hunks)-1].end {
			hunks[len(hunks)-1].end = end
		} else {
			hunks = append(hunks, span{start, end})
		}
		i = end
	}
	for _, h := range hunks {
		aStart, bStart := ops[h.start].a, ops[h.start].b
		aLen, bLen := 0, 0
		for _, op := range ops[h.start:h.end] {
			if op.kind != '+' {
				aLen++
			}
			if op.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, op := range ops[h.start:h.end] {
			line := op.line
			out.WriteByte(op.kind)
			out.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diffOp is one line of an edit script: ' ' kept, '-' removed, '+' added;
// a and b are the line's (or, for an insertion or deletion, the next)
// indexes in the old and new text.
type diffOp struct {
	kind byte
	line string
	a, b int
}

// diffLines computes a shortest edit script: the common prefix and suffix
// are kept, and the middle is diffed with Myers' algorithm (or, when that
// would take too much memory, replaced wholesale).
func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	for i := 0; i < pre; i++ {
		ops = append(ops, diffOp{kind: ' ', line: a[i], a: i, b: i})
	}
	am, bm := a[pre:len(a)-suf], b[pre:len(b)-suf]
	var mid []diffOp
	if (len(am)+len(bm))*(len(am)+len(bm)) > 64<<20 {
		for i, l := range am {
			mid = append(mid, diffOp{kind: '-', line: l, a: i, b: 0})
		}
		for j, l := range bm {
			mid = append(mid, diffOp{kind: '+', line: l, a: len(am), b: j})
		}
	} else {
		mid = myers(am, bm)
	}
	for _, op := range mid {
		op.a += pre
		op.b += pre
		ops = append(ops, op)
	}
	for i := 0; i < suf; i++ {
		ai, bi := len(a)-suf+i, len(b)-suf+i
		ops = append(ops, diffOp{kind: ' ', line: a[ai], a: ai, b: bi})
	}
	return ops
}

// myers computes a shortest edit script with Myers' O(ND) algorithm.
func myers(a, b []string) []diffOp {
	n, m := len(a), len(b)
	max := n + m
	v := make([]int, 2*max+2)
	var trace [][]int
	for d := 0; d <= max; d++ {
		snapshot := make([]int, len(v))
		copy(snapshot, v)
		trace = append(trace, snapshot)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[max+k-1] < v[max+k+1] {
				x = v[max+k+1]
			} else {
				x = v[max+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[max+k] = x
			if x >= n && y >= m {
				return backtrack(trace, a, b, d, max)
			}
		}
	}
	return nil
}

func backtrack(trace [][]int, a, b []string, d, max int) []diffOp {
	x, y := len(a), len(b)
	var ops []diffOp
	for ; d >= 0; d-- {
		v := trace[d]
		k := x - y
		var prevK int
		if k == -d || k != d && v[max+k-1] < v[max+k+1] {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := v[max+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x--
			y--
			ops = append(ops, diffOp{kind: ' ', line: a[x], a: x, b: y})
		}
		if d > 0 {
			if x == prevX {
				y--
				ops = append(ops, diffOp{kind: '+', line: b[y], a: x, b: y})
			} else {
				x--
				ops = append(ops, diffOp{kind: '-', line: a[x], a: x, b: y})
			}
		}
	}
	for i, j := 0, len(ops)-1; i < j; i, j = i+1, j-1 {
		ops[i], ops[j] = ops[j], ops[i]
	}
	return ops
}
