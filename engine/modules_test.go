package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine/transport"
)

func asError(err error, e **Error) bool { return errors.As(err, e) }

// Test modules: small stand-ins for real ones, so the engine is tested
// without the modules package.

type runArgs struct{ Cmd string }

// run runs a shell command line; a non-zero exit fails the host.
var runModule = &HostModule[runArgs]{
	Name: "run",
	Args: func(a *runArgs) []any { return []any{"cmd", &a.Cmd} },
	Plan: func(ctx context.Context, c *HostCall, a *runArgs) (Plan, error) {
		return Do(Action{Desc: "run " + a.Cmd, Do: func(ctx context.Context) error {
			res, err := c.Shell(ctx, a.Cmd)
			if err != nil {
				return err
			}
			c.SetOutput(res)
			if res.ExitStatus != 0 {
				return fmt.Errorf("exit status %d", res.ExitStatus)
			}
			return nil
		}}), nil
	},
}

type putArgs struct {
	Path    string
	Content string
}

// put writes a file when its content differs.
var putModule = &HostModule[putArgs]{
	Name: "put",
	Args: func(a *putArgs) []any { return []any{"path", &a.Path, "content", &a.Content} },
	Plan: func(ctx context.Context, c *HostCall, a *putArgs) (Plan, error) {
		res, err := c.Shell(ctx, "cat "+a.Path+" 2>/dev/null")
		if err != nil {
			return Plan{}, err
		}
		c.Set("path", a.Path)
		var before []byte
		if res.ExitStatus == 0 {
			before = res.Stdout
		}
		if content, _, _, ok := c.WouldHave(a.Path); ok {
			before = content // check mode: what an earlier call writes
		}
		if before != nil && string(before) == a.Content {
			return NothingToDo("%s unchanged", a.Path), nil
		}
		return Do(Action{
			Desc: "write " + a.Path,
			Diff: &FileDiff{Path: a.Path, Before: before, After: []byte(a.Content)},
			Do: func(ctx context.Context) error {
				return c.Put(ctx, a.Path, bytes.NewReader([]byte(a.Content)), transport.PutOptions{})
			},
		}), nil
	},
}

type noteArgs struct {
	Value starlark.Value
	Tag   string
}

// note records its argument as result data, changing nothing.
var noteModule = &HostModule[noteArgs]{
	Name: "note",
	Args: func(a *noteArgs) []any { return []any{"value", &a.Value, "tag?", &a.Tag} },
	Plan: func(ctx context.Context, c *HostCall, a *noteArgs) (Plan, error) {
		v, err := FromStarlark(a.Value)
		if err != nil {
			return Plan{}, err
		}
		c.Set("value", v)
		c.Set("become", c.Become)
		c.Set("become_user", c.BecomeUser)
		if a.Tag == "skip" {
			return Plan{Skip: "not for this host"}, nil
		}
		return NothingToDo("noted"), nil
	},
}

type boomArgs struct{ Kind string }

// boom fails in the way asked: "refuse", "input", "fail", "panic", "write"
// (a write while planning).
var boomModule = &HostModule[boomArgs]{
	Name: "boom",
	Args: func(a *boomArgs) []any { return []any{"kind", &a.Kind} },
	Validate: func(a *boomArgs) error {
		if a.Kind == "invalid" {
			return fmt.Errorf("kind: invalid")
		}
		return nil
	},
	Plan: func(ctx context.Context, c *HostCall, a *boomArgs) (Plan, error) {
		switch a.Kind {
		case "refuse":
			return Plan{}, Refuse("quorum would be lost: 3 members, 1 healthy")
		case "input":
			return Plan{}, BadInput("no such unit")
		case "panic":
			panic("boom")
		case "write":
			return Plan{}, c.Put(ctx, "x", strings.NewReader("x"), transport.PutOptions{})
		}
		return Plan{}, errors.New("it broke")
	},
}

type probeArgs struct {
	Dead []string
	Act  bool
}

// probe is a cluster module: targets in dead do not answer (ErrTryNext);
// the result says which target answered.
var probeModule = &ClusterModule[probeArgs]{
	Name: "probe",
	Args: func(a *probeArgs) []any { return []any{"dead?", (*StringList)(&a.Dead), "act?", &a.Act} },
	Plan: func(ctx context.Context, c *ClusterCall, a *probeArgs) (Plan, error) {
		for _, d := range a.Dead {
			if d == c.Host.Name {
				return Plan{}, fmt.Errorf("%s: connection refused: %w", d, ErrTryNext)
			}
		}
		c.Set("via", c.Host.Name)
		c.Set("targets", len(c.Targets))
		if a.Act {
			return Do(Action{Desc: "change the cluster", Do: func(ctx context.Context) error {
				c.Set("acted", true)
				return nil
			}}), nil
		}
		return NothingToDo("answered"), nil
	},
}

type recoverArgs struct{ Note string }

// recover records a note for the recap should the run fail later, as
// snapshot_save does with its restore command.
var recoverModule = &HostModule[recoverArgs]{
	Name: "recover",
	Args: func(a *recoverArgs) []any { return []any{"note", &a.Note} },
	Plan: func(ctx context.Context, c *HostCall, a *recoverArgs) (Plan, error) {
		return Do(Action{Desc: "save", Do: func(ctx context.Context) error {
			c.IfRunFails("%s", a.Note)
			return nil
		}}), nil
	},
}

func testModules() []Module {
	return []Module{runModule, putModule, noteModule, boomModule, probeModule, recoverModule}
}
