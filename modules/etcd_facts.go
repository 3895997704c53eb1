package modules

import (
	"cmp"
	"context"
	"fmt"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
	"github.com/etcdplay/etcdplay/etcd"
)

type etcdFactsArgs struct{}

// etcd_facts reads what each host holds of etcd: whether its etcd unit
// runs, the state its etcd.conf says, and whose data is in its data dir.
// It changes nothing.
//
// The data dir and etcd.conf are the host's member's (etcd_data_dir and
// etcd_conf_file: see etcdplay doc etcd). The member and cluster ID are
// read from the start of the oldest WAL segment, as wipe_datadir reads
// them. It reads everything in one command per host; what cannot be read
// there (no systemd, no etcd.conf, a data dir it may not list, a damaged
// WAL) reads as empty.
//
// The result has active (the etcd unit's ActiveState: "active",
// "inactive", "failed", ...; "" without systemd), conf_state
// (ETCD_INITIAL_CLUSTER_STATE in etcd.conf, "" without one), data
// (whether the data dir holds anything), member_id and cluster_id (hex,
// from the WAL; "" without one) and uuid (a fresh random one, for a
// cluster token).
//
// Check mode: the same; etcd_facts never changes anything.
//
// Example:
//
//	facts = {r.host: r for r in etcd_facts(hosts) if r.ok and not r.skipped}
//	running = [h for h in hosts if h in facts and facts[h].active == "active"]
var etcdFactsModule = &engine.HostModule[etcdFactsArgs]{
	Name: "etcd_facts",
	Args: func(a *etcdFactsArgs) []any { return nil },
	Plan: planEtcdFacts,
}

func planEtcdFacts(ctx context.Context, c *engine.HostCall, a *etcdFactsArgs) (engine.Plan, error) {
	id, err := etcd.IdentityOf(c.Host)
	if err != nil {
		return engine.Plan{}, err
	}
	var unit unitFacts
	var state, uuid string
	var entries []string
	var head []byte
	err = readFacts(ctx, c,
		unitFact("etcd.service").into(&unit).optional(),
		clusterStateFact(id.ConfFile).into(&state).optional(),
		entriesFact(id.DataDir).into(&entries).optional(),
		walHeadFact(id.DataDir, etcd.WALDir(id.DataDir, "")).into(&head).optional(),
		uuidFact.into(&uuid).optional())
	if err != nil {
		return engine.Plan{}, err
	}
	var memberID, clusterID string
	data := "empty"
	switch meta, err := etcd.ParseWALMetadata(head); {
	case len(head) > 0 && err == nil:
		memberID, clusterID = fmt.Sprintf("%x", meta.MemberID), fmt.Sprintf("%x", meta.ClusterID)
		data = "the data of member " + memberID + " of cluster " + clusterID
	case len(entries) > 0:
		data = "not empty, no WAL"
	}
	c.Set("active", unit.Active)
	c.Set("conf_state", state)
	c.Set("data", len(entries) > 0)
	c.Set("member_id", memberID)
	c.Set("cluster_id", clusterID)
	c.Set("uuid", uuid)
	return engine.NothingToDo("etcd %s, ETCD_INITIAL_CLUSTER_STATE %s, %s %s",
		cmp.Or(unit.Active, "none"), cmp.Or(state, "none"), id.DataDir, data), nil
}

// clusterStateFact is the ETCD_INITIAL_CLUSTER_STATE an etcd.conf sets
// ("new" or "existing"; its first), "" when it sets none or there is no
// such file.
func clusterStateFact(conf string) Fact[string] {
	return Fact[string]{
		Name:    "ETCD_INITIAL_CLUSTER_STATE in " + conf,
		Command: "c=" + transport.QuoteWord(conf) + `; if [ -f "$c" ]; then sed -n 's/^ETCD_INITIAL_CLUSTER_STATE="*\([a-z]*\).*/\1/p' "$c"; fi`,
		Parse:   func(out string) (string, error) { return firstLine(out), nil },
	}
}

// uuidFact is a fresh random UUID from the host's kernel.
var uuidFact = Fact[string]{Name: "a UUID", Command: "cat /proc/sys/kernel/random/uuid", Parse: trimmed}
