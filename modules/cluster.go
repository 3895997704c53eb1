package modules

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

// checkRun is what the calls of a check run would have done to the
// cluster, which check mode leaves as it is: the members member_add
// would add (by name: true for a learner) and the change pending_change
// would record. The later calls of the run plan as the run would find
// the cluster: member_promote the promotion of the learner an earlier
// step adds, pending_change done=True the clearing of the record an
// earlier step writes.
type checkRun struct {
	mu     sync.Mutex
	adds   map[string]bool
	change *etcd.Change
}

var checkRuns = engine.RunKey[*checkRun]{Name: "what check mode would have done to the cluster"}

func checkRunOf(c *engine.HostCall) *checkRun {
	return checkRuns.Get(c, func() *checkRun { return &checkRun{adds: map[string]bool{}} })
}

// wouldAdd notes, in check mode, a member an earlier step would add.
func (r *checkRun) wouldAdd(name string, learner bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.adds[name] = learner
}

// addedLearner reports whether an earlier step of the check run would
// add name as a learner.
func (r *checkRun) addedLearner(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.adds[name]
}

// wouldRecord notes, in check mode, the change an earlier step would
// record; recorded returns it (nil for none).
func (r *checkRun) wouldRecord(ch *etcd.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.change = ch
}

func (r *checkRun) recorded() *etcd.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.change
}

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
