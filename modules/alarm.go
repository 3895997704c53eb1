package modules

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type alarmArgs struct {
	Disarm engine.StringList
	Force  bool
	etcd.ConnArgs
}

// alarm lists the cluster's alarms and disarms those named, as etcdctl
// alarm list and alarm disarm do.
//
// NOSPACE means a member's database reached its quota: the cluster takes
// only reads and deletes until space is freed (compact, defrag) and the
// alarm disarmed; etcd raises it again at once if the space is still not
// there. CORRUPT means a member's data differs from the others': it is
// disarmed only with force=True, since the data must be repaired first
// (re-create the member: etcdplay doc replace).
//
// Arguments:
//
//	disarm  the alarms to disarm: "NOSPACE", "CORRUPT" or "all" (a list
//	        or one); default none: only list them
//	force   disarm CORRUPT too
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	        cluster: see etcdplay doc member_list
//
// The result has alarms: a list of {"member": NAME, "alarm": TYPE}, as
// they were before any was disarmed.
//
// Check mode: lists them and says which it would disarm.
//
// Example:
//
//	alarm(ctx.hosts("etcd"), disarm = "NOSPACE")
var alarmModule = &engine.ClusterModule[alarmArgs]{
	Name: "alarm",
	Args: func(a *alarmArgs) []any {
		return append([]any{"disarm?", &a.Disarm, "force?", &a.Force}, a.Pairs()...)
	},
	Validate: func(a *alarmArgs) error {
		for i, d := range a.Disarm {
			a.Disarm[i] = strings.ToUpper(d)
			switch a.Disarm[i] {
			case "NOSPACE", "CORRUPT", "ALL":
			default:
				return fmt.Errorf("disarm: got %q, want NOSPACE, CORRUPT or all", d)
			}
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *alarmArgs) (engine.Plan, error) {
		_, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		return planAlarm(ctx, cl, a, c.Set)
	},
}

func planAlarm(ctx context.Context, cl *etcd.Cluster, a *alarmArgs, set func(string, any)) (engine.Plan, error) {
	rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
	resp, err := cl.Client.AlarmList(rctx)
	cancel()
	if err != nil {
		return engine.Plan{}, etcd.Explain(err)
	}
	name := func(id uint64) string {
		for _, m := range cl.Members {
			if m.ID == id && m.Name != "" {
				return m.Name
			}
		}
		return fmt.Sprintf("%x", id)
	}
	var list []any
	var raised []string
	var todo []*etcdserverpb.AlarmMember
	for _, al := range resp.Alarms {
		typ := al.Alarm.String()
		list = append(list, map[string]any{"member": name(al.MemberID), "alarm": typ})
		raised = append(raised, typ+" on "+name(al.MemberID))
		if slices.Contains(a.Disarm, typ) || slices.Contains(a.Disarm, "ALL") {
			if al.Alarm == etcdserverpb.AlarmType_CORRUPT && !a.Force {
				return engine.Plan{}, engine.Refuse("%s raised CORRUPT: its data differs from the other members'. Disarming it does not repair the data: re-create that member (etcdplay doc replace, with old and new the same host) and the alarm goes with it, or force=True to disarm it anyway", name(al.MemberID))
			}
			todo = append(todo, al)
		}
	}
	set("alarms", list)
	if len(resp.Alarms) == 0 {
		return engine.NothingToDo("no alarms on cluster %x", cl.ID), nil
	}
	if len(todo) == 0 {
		return engine.NothingToDo("alarms on cluster %x: %s", cl.ID, strings.Join(raised, ", ")), nil
	}
	var actions []engine.Action
	for _, al := range todo {
		actions = append(actions, engine.Action{
			Desc: fmt.Sprintf("disarm %s on %s", al.Alarm, name(al.MemberID)),
			Do: func(ctx context.Context) error {
				rctx, cancel := context.WithTimeout(ctx, etcd.RequestTimeout)
				defer cancel()
				_, err := cl.Client.AlarmDisarm(rctx, (*clientv3.AlarmMember)(al))
				return etcd.Explain(err)
			},
		})
	}
	return engine.Do(actions...), nil
}
