package inventory

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Graph draws the group tree under group ("" is all) the way
// ansible-inventory --graph does:
//
//	@all:
//	  |--@ungrouped:
//	  |--@etcd:
//	  |  |--etcd-1
//
// Children come in the order they were added, hosts in each group's
// order; hosts outside the limit are left out.
func (inv *Inventory) Graph(w io.Writer, group string) error {
	if group == "" {
		group = "all"
	}
	if _, ok := inv.groups[group]; !ok {
		names := make([]string, 0, len(inv.groupList))
		for _, g := range inv.groupList {
			names = append(names, g.Name)
		}
		return &PatternError{Pattern: group, Msg: fmt.Sprintf("no group named %q%s", group, didYouMean(group, names))}
	}
	bw := bufio.NewWriter(w)
	line := func(depth int, name string) {
		if depth > 0 {
			bw.WriteString(strings.Repeat("  |", depth))
			bw.WriteString("--")
		}
		bw.WriteString(name)
		bw.WriteByte('\n')
	}
	var walk func(g *Group, depth int)
	walk = func(g *Group, depth int) {
		line(depth, "@"+g.Name+":")
		for _, c := range g.Children {
			walk(inv.groups[c], depth+1)
		}
		if g.Name == "all" {
			return
		}
		for _, name := range g.Hosts {
			h := inv.hostByName[name]
			if inv.limit == nil || inv.limit[h.index] {
				line(depth+1, name)
			}
		}
	}
	walk(inv.groups[group], 0)
	return bw.Flush()
}
