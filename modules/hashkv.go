package modules

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type hashKVArgs struct {
	Revision int
	etcd.ConnArgs
}

// hashkv checks that every member holds the same keys: each computes the
// hash of its key-value store up to one revision (etcd's HashKV), and the
// hashes must agree, as etcd's own corruption check compares them.
//
// The revision is revision=, or the lowest that every member has applied
// (so that a member a little behind is not mistaken for a divergent one).
// Members are compared only where they compacted to the same revision
// (the hash covers the history after it). A member whose hash differs
// from the others' is named, with what to do: it fails the call.
//
// Arguments:
//
//	revision  the revision to hash at (default: the lowest every member
//	          has applied)
//	dial, direct, cacert, cert, key, tls_from_host, to reach the
//	          cluster: see etcdplay doc member_list
//
// The result has revision, hashes ({NAME: hash}), consistent (true or
// false) and differ (the names of the members that disagree with the
// most).
//
// Check mode: the same: hashing changes nothing.
//
// Example:
//
//	hashkv(ctx.hosts("etcd"))
var hashKVModule = &engine.ClusterModule[hashKVArgs]{
	Name: "hashkv",
	Args: func(a *hashKVArgs) []any {
		return append([]any{"revision?", &a.Revision}, a.Pairs()...)
	},
	Validate: func(a *hashKVArgs) error {
		if a.Revision < 0 {
			return fmt.Errorf("revision: got %d, want 0 or more", a.Revision)
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.ClusterCall, a *hashKVArgs) (engine.Plan, error) {
		s, cl, err := etcd.Open(ctx, c, &a.ConnArgs)
		if err != nil {
			return engine.Plan{}, err
		}
		remedy := func(member string) string {
			for _, h := range c.Targets {
				if etcd.MemberName(h) == member {
					return c.CommandFor("replace", map[string]string{"old": h.Name, "new": h.Name, "recreate": "true"})
				}
			}
			return "etcdplay run replace -i INVENTORY -e old=HOST -e new=HOST (HOST: " + member + "'s)"
		}
		return planHashKV(ctx, s, cl, a, c.Set, remedy)
	},
}

type memberHash struct {
	name       string
	hash       uint32
	compactRev int64
	err        error
}

// planHashKV compares the members' hashes; remedy is the command that
// re-creates a member.
func planHashKV(ctx context.Context, s *etcd.Session, cl *etcd.Cluster, a *hashKVArgs, set func(string, any), remedy func(member string) string) (engine.Plan, error) {
	sts := s.Statuses(ctx, cl.Members)
	rev := int64(a.Revision)
	var down []string
	for _, st := range sts {
		if st.Member.Name == "" {
			continue
		}
		if st.Err != nil || st.Status == nil {
			down = append(down, st.Member.Name+" ("+etcd.ShortErr(st.Err)+")")
			continue
		}
		if a.Revision == 0 && (rev == 0 || st.Status.Header.Revision < rev) {
			rev = st.Status.Header.Revision
		}
	}
	if len(down) > 0 {
		return engine.Plan{}, fmt.Errorf("cannot compare every member: %s do not answer", strings.Join(down, ", "))
	}
	hashes := make([]memberHash, len(sts))
	var wg sync.WaitGroup
	for i, st := range sts {
		if st.Member.Name == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := memberHash{name: st.Member.Name}
			c, err := s.Client(ctx, st.URL)
			if err == nil {
				rctx, cancel := context.WithTimeout(ctx, 4*etcd.RequestTimeout)
				resp, herr := c.HashKV(rctx, st.URL, rev)
				cancel()
				if err = herr; err == nil {
					h.hash, h.compactRev = resp.Hash, resp.CompactRevision
				}
			}
			h.err = err
			hashes[i] = h
		}()
	}
	wg.Wait()
	out := map[string]any{}
	byHash := map[string][]string{}
	var failed []string
	for _, h := range hashes {
		if h.name == "" {
			continue
		}
		if h.err != nil {
			failed = append(failed, h.name+": "+etcd.ShortErr(h.err))
			continue
		}
		out[h.name] = fmt.Sprintf("%08x", h.hash)
		k := fmt.Sprintf("%08x after compaction at %d", h.hash, h.compactRev)
		byHash[k] = append(byHash[k], h.name)
	}
	set("revision", rev)
	set("hashes", out)
	if len(failed) > 0 {
		return engine.Plan{}, fmt.Errorf("hash at revision %d: %s", rev, strings.Join(failed, "; "))
	}
	if len(byHash) <= 1 {
		set("consistent", true)
		set("differ", []string{})
		return engine.NothingToDo("%d members hold the same keys at revision %d (hash %s)", len(out), rev, firstKey(byHash)), nil
	}
	// The largest group is taken as the cluster's data; the rest differ.
	groups := make([][]string, 0, len(byHash))
	keys := make([]string, 0, len(byHash))
	for k, names := range byHash {
		groups = append(groups, names)
		keys = append(keys, k)
	}
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return len(groups[order[i]]) > len(groups[order[j]]) })
	var differ, parts []string
	for n, i := range order {
		slices.Sort(groups[i])
		parts = append(parts, fmt.Sprintf("%s: %s", strings.Join(groups[i], ", "), keys[i]))
		if n > 0 {
			differ = append(differ, groups[i]...)
		}
	}
	slices.Sort(differ)
	set("consistent", false)
	set("differ", differ)
	if len(groups[order[0]]) == len(groups[order[1]]) {
		return engine.Plan{}, fmt.Errorf("the members' keys differ at revision %d, with no majority: %s. Compare their data (etcdctl get --rev) before deciding which is right", rev, strings.Join(parts, "; "))
	}
	var fixes []string
	for _, name := range differ {
		fixes = append(fixes, remedy(name))
	}
	return engine.Plan{}, fmt.Errorf("%s %s different keys than the others at revision %d (%s): re-create %s from the cluster's data, one at a time: %s",
		strings.Join(differ, ", "), etcd.Plural(len(differ), "holds", "hold"), rev, strings.Join(parts, "; "),
		etcd.Plural(len(differ), "it", "each"), strings.Join(fixes, "; then "))
}

func firstKey(m map[string][]string) string {
	for k := range m {
		return k
	}
	return ""
}
