package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
)

type pingArgs struct{}

// ping checks that each host answers over SSH and runs commands. With
// become=True it checks sudo too. It changes nothing.
//
// The result has ping = "pong".
//
// Check mode: runs as usual (it only reads).
//
// Example:
//
//	r = ping(ctx.hosts("all"), ignore_unreachable = True)
//	print("down:", [h.name for h in r.unreachable_hosts])
var pingModule = &engine.HostModule[pingArgs]{
	Name: "ping",
	Args: func(a *pingArgs) []any { return nil },
	Plan: func(ctx context.Context, c *engine.HostCall, a *pingArgs) (engine.Plan, error) {
		out, err := c.Output(ctx, "echo", "pong")
		if err != nil {
			return engine.Plan{}, err
		}
		if got := strings.TrimSpace(string(out)); got != "pong" {
			return engine.Plan{}, fmt.Errorf("echo pong printed %q", got)
		}
		c.Set("ping", "pong")
		return engine.NothingToDo("pong"), nil
	},
}
