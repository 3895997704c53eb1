// Package suggest finds the name someone probably meant when they typed
// one that does not exist: the one rule behind every "did you mean"
// etcdplay offers, for modules, arguments, hosts, groups, inventory
// sections and etcd settings alike. It imports nothing of etcdplay's, so
// the inventory and the engine both use it.
package suggest

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate closest to name when it is close enough
// to be a typo of it, else "". Close enough is an edit distance (case
// aside) of at most 1 + len(name)/4, and never more than 3; of equally
// close candidates the alphabetically first wins. name itself is never
// suggested.
func Closest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	limit := min(3, 1+utf8.RuneCountInString(name)/4)
	best, bestD := "", limit+1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if c == name {
			continue
		}
		if d := distance(strings.ToLower(name), strings.ToLower(c), bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Hint is " (did you mean X?)" for the Closest candidate, or "" when none
// is close: the tail of an "unknown name" message.
func Hint(name string, candidates []string) string {
	if s := Closest(name, candidates); s != "" {
		return " (did you mean " + s + "?)"
	}
	return ""
}

// distance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and adjacent transpositions, so
// "etdc" is one step from "etcd"). It gives up, returning max, once the
// distance is known to be at least max.
func distance(a, b string, max int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= max || -d >= max {
		return max
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin >= max {
			return max
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], max)
}
