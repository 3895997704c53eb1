package etcd

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// MemberID is the ID etcd gives a member that starts from an initial
// cluster (a bootstrap, or a snapshot restore): the first 8 bytes of the
// SHA-1 of its sorted peer URLs and the cluster token, as etcd's
// membership.computeMemberID computes it without a time. So the member a
// restore makes is known before it is made, and a data dir that holds it
// is one the restore already wrote.
func MemberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	sum := sha1.Sum([]byte(strings.Join(urls, "") + token))
	return binary.BigEndian.Uint64(sum[:8])
}

// ClusterID is the ID of a cluster of members, as etcd's
// RaftCluster.genID computes it: the first 8 bytes of the SHA-1 of the
// sorted member IDs, 8 bytes each.
func ClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// InitialCluster is an ETCD_INITIAL_CLUSTER value: member names and their
// peer URLs, in order.
type InitialCluster []InitialMember

// InitialMember is one member of an initial cluster.
type InitialMember struct {
	Name     string
	PeerURLs []string
}

// ParseInitialCluster reads NAME=URL,NAME=URL (a name may repeat, one
// peer URL each).
func ParseInitialCluster(s string) (InitialCluster, error) {
	var ic InitialCluster
	idx := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("initial cluster %q: %q is not NAME=PEER_URL", s, part)
		}
		if msg := CheckURL(u); msg != "" {
			return nil, fmt.Errorf("initial cluster: %s: %s", name, msg)
		}
		if i, seen := idx[name]; seen {
			ic[i].PeerURLs = append(ic[i].PeerURLs, u)
			continue
		}
		idx[name] = len(ic)
		ic = append(ic, InitialMember{Name: name, PeerURLs: []string{u}})
	}
	return ic, nil
}

// Member is the member called name, if the initial cluster has it.
func (ic InitialCluster) Member(name string) (InitialMember, bool) {
	for _, m := range ic {
		if m.Name == name {
			return m, true
		}
	}
	return InitialMember{}, false
}

// IDs are the member and cluster IDs a cluster started from ic with token
// has.
func (ic InitialCluster) IDs(token string) (members map[string]uint64, cluster uint64) {
	members = map[string]uint64{}
	var ids []uint64
	for _, m := range ic {
		id := MemberID(m.PeerURLs, token)
		members[m.Name] = id
		ids = append(ids, id)
	}
	return members, ClusterID(ids)
}
