package etcd

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaderClient is a member as listIfLed sees it: its status names a
// leader or none, and a linearizable member list answers only with one
// (without, it waits for its context, as etcd's does).
type leaderClient struct {
	Client
	leader   uint64
	statuses atomic.Int32
	listEnd  chan error // why a list without a leader stopped waiting
}

func (c *leaderClient) Status(ctx context.Context, _ string) (*clientv3.StatusResponse, error) {
	c.statuses.Add(1)
	return &clientv3.StatusResponse{Leader: c.leader}, nil
}

func (c *leaderClient) MemberList(ctx context.Context, _ ...clientv3.OpOption) (*clientv3.MemberListResponse, error) {
	if c.leader == 0 {
		<-ctx.Done()
		c.listEnd <- ctx.Err()
		return nil, ctx.Err()
	}
	return &clientv3.MemberListResponse{Members: []*etcdserverpb.Member{{ID: 1, Name: "a"}}}, nil
}

func TestListIfLed(t *testing.T) {
	led := &leaderClient{leader: 1}
	resp, err := listIfLed(context.Background(), led, "u")
	if err != nil || len(resp.Members) != 1 {
		t.Fatalf("a member with a leader: %v, %v", resp, err)
	}

	// Without a leader the list is given up after leaderWait (cancelled,
	// not left to its own timeout), and the error says why.
	none := &leaderClient{listEnd: make(chan error, 1)}
	_, err = listIfLed(context.Background(), none, "u")
	if !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("a member without a leader: want ErrNoLeader, got %v", err)
	}
	if why := <-none.listEnd; why != context.Canceled {
		t.Fatalf("the list without a leader ended by %v: want it given up (context.Canceled)", why)
	}
	if none.statuses.Load() < 2 {
		t.Fatalf("status asked %d times: a leader is waited for through an election", none.statuses.Load())
	}
}
