package modules

import (
	"fmt"
	"strings"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
)

// memberLabels lists the members of cl by name, for messages.
func memberLabels(cl *etcd.Cluster) string {
	var ns []string
	for _, m := range cl.Members {
		ns = append(ns, etcd.InfoOf(m, 0).Label())
	}
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}

// labelOf names the member with the given ID.
func labelOf(cl *etcd.Cluster, id uint64) string {
	for _, m := range cl.Members {
		if m.ID == id {
			return etcd.InfoOf(m, 0).Label()
		}
	}
	return fmt.Sprintf("%x", id)
}

// changeData is a change record as result data, nil for none.
func changeData(ch *etcd.Change) any {
	if ch == nil {
		return nil
	}
	args := map[string]any{}
	for k, v := range ch.Args {
		args[k] = v
	}
	return map[string]any{
		"playbook": ch.Playbook,
		"args":     args,
		"command":  ch.Command,
		"by":       ch.By,
		"since":    ch.Since.UTC().Format(time.RFC3339),
		"what":     ch.String(),
	}
}
