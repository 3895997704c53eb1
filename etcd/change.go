package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ChangeKey is where a membership change that has begun and not yet
// ended is recorded, in the cluster it changes. A shipped playbook writes
// it before its first change and deletes it after its last, so a change
// that stopped half way is known to whoever looks next: the same command
// finishes it, and another change is refused until it has. The record
// says what the change is; how far it got is judged from the cluster and
// the hosts.
const ChangeKey = "/etcdplay/change"

// Change is a membership change in progress.
type Change struct {
	Playbook string            `json:"playbook"` // "replace"
	Args     map[string]string `json:"args"`     // what it was asked: old, new, member, peer_url
	Command  string            `json:"command"`  // the command that started it, which also finishes it
	By       string            `json:"by"`       // the lock holder that started it
	Since    time.Time         `json:"since"`
}

// Same reports whether ch is the change of playbook with args.
func (ch *Change) Same(playbook string, args map[string]string) bool {
	return ch != nil && ch.Playbook == playbook && maps.Equal(ch.Args, args)
}

// String says what the change is: "replace old=etcd-2 new=etcd-4".
func (ch *Change) String() string {
	keys := slices.Sorted(maps.Keys(ch.Args))
	parts := []string{ch.Playbook}
	for _, k := range keys {
		parts = append(parts, k+"="+ch.Args[k])
	}
	return strings.Join(parts, " ")
}

// Describe is the change with who started it and when.
func (ch *Change) Describe() string {
	return fmt.Sprintf("%s, started %s by %s", ch, ch.Since.UTC().Format("2006-01-02 15:04:05 UTC"), ch.By)
}

// ReadChange returns the change recorded in the cluster, or nil.
func ReadChange(ctx context.Context, cl *Cluster) (*Change, error) {
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	resp, err := cl.Client.Get(rctx, ChangeKey)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ChangeKey, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var ch Change
	if err := json.Unmarshal(resp.Kvs[0].Value, &ch); err != nil {
		return nil, fmt.Errorf("%s holds %q, not a change etcdplay recorded: %v", ChangeKey, resp.Kvs[0].Value, err)
	}
	return &ch, nil
}

// WriteChange records ch in the cluster.
func WriteChange(ctx context.Context, cl *Cluster, ch Change) error {
	b, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	if _, err := cl.Client.Put(rctx, ChangeKey, string(b)); err != nil {
		return fmt.Errorf("record the change in %s: %w", ChangeKey, err)
	}
	return nil
}

// ClearChange deletes the record of the change in progress.
func ClearChange(ctx context.Context, cl *Cluster) error {
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	if _, err := cl.Client.Delete(rctx, ChangeKey); err != nil {
		return fmt.Errorf("clear %s: %w", ChangeKey, err)
	}
	return nil
}
