package modules

import (
	"context"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type pendingChangeArgs struct {
	Playbook string
	Args     *starlark.Dict
	Done     bool
	etcd.ConnArgs
}

// pending_change records in the cluster the membership change a playbook
// is about to make, and clears the record once the change is complete.
//
// A change that stops half way (Ctrl-C, a host that died, etcdplay
// killed) leaves its record: cluster_lock returns it as pending, the
// playbook that made it knows it is finishing its own change, and
// another change is refused until it is finished. The record says what
// the change is (playbook and arguments) and the command that started
// it; how far it got is judged from the cluster and the hosts. It is a
// key of the cluster, /etcdplay/change, written under the run's lock.
//
// Recording refuses (exit status 5) while another change is recorded,
// naming it and the command that finishes it. Recording the same change
// again changes nothing. done=True clears the record when it is this
// change's, and leaves another's.
//
// Arguments:
//
//	playbook  the playbook making the change ("replace")
//	args      its arguments that say what the change is, a dict of
//	          strings ({"old": "etcd-2", "new": "etcd-4"})
//	done      clear the record instead (default False)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	          cluster: see etcdplay doc member_list
//
// The result has pending, the record as it is after the call (as
// cluster_lock gives it), or None.
//
// Check mode: reads the record and reports what it would write or clear;
// done=True clears what an earlier call of the run would record.
//
// Example:
//
//	pending_change(rest, playbook = "replace", args = {"old": old.name, "new": new.name})
//	...
//	pending_change(rest, playbook = "replace", args = {"old": old.name, "new": new.name}, done = True)
var pendingChangeModule = &engine.ClusterModule[pendingChangeArgs]{
	Name: "pending_change",
	Args: func(a *pendingChangeArgs) []any {
		return append([]any{"playbook", &a.Playbook, "args", &a.Args, "done?", &a.Done}, a.Pairs()...)
	},
	Validate: func(a *pendingChangeArgs) error {
		if a.Playbook == "" {
			return fmt.Errorf("playbook is empty")
		}
		_, err := stringDict(a.Args)
		return err
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *pendingChangeArgs) (engine.Plan, error) {
		args, _ := stringDict(a.Args)
		_, cl, err := etcd.OpenLocked(ctx, c, &a.ConnArgs, "recording the change")
		if err != nil {
			return engine.Plan{}, err
		}
		cur, err := etcd.ReadChange(ctx, cl)
		if err != nil {
			return engine.Plan{}, err
		}
		c.Set("pending", changeData(cur))
		if c.Check && cur == nil {
			// What an earlier step of the check run would have recorded.
			cur = checkRunOf(c.HostCall).recorded()
		}
		if a.Done {
			if !cur.Same(a.Playbook, args) {
				return engine.NothingToDo("no record of %s to clear", (&etcd.Change{Playbook: a.Playbook, Args: args}).String()), nil
			}
			return engine.Do(engine.Action{
				Desc: "clear the record of " + cur.String(),
				Do: func(ctx context.Context) error {
					if err := etcd.ClearChange(ctx, cl); err != nil {
						return err
					}
					c.Set("pending", nil)
					return nil
				},
			}), nil
		}
		if cur.Same(a.Playbook, args) {
			return engine.NothingToDo("%s is recorded already (%s)", cur, cur.Describe()), nil
		}
		if cur != nil {
			return engine.Plan{}, engine.Refuse("the cluster has an unfinished change: %s. Finish it first with: %s", cur.Describe(), cur.Command)
		}
		ch := etcd.Change{Playbook: a.Playbook, Args: args, Command: c.RunCommand(), By: etcd.Whoami(), Since: time.Now().UTC()}
		if c.Check {
			checkRunOf(c.HostCall).wouldRecord(&ch)
		}
		return engine.Do(engine.Action{
			Desc: "record " + ch.String() + " as the change in progress",
			Do: func(ctx context.Context) error {
				if err := etcd.WriteChange(ctx, cl, ch); err != nil {
					return err
				}
				c.Set("pending", changeData(&ch))
				return nil
			},
		}), nil
	},
}

// stringDict reads a dict of strings.
func stringDict(d *starlark.Dict) (map[string]string, error) {
	out := map[string]string{}
	if d == nil {
		return out, nil
	}
	for _, it := range d.Items() {
		k, ok1 := starlark.AsString(it[0])
		v, ok2 := starlark.AsString(it[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("args: want a dict of strings, got %s: %s", it[0], it[1].Type())
		}
		out[k] = v
	}
	return out, nil
}
