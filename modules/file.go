package modules

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

type fileArgs struct {
	Path  string
	State string
	Mode  engine.FileMode
	Owner string
	Group string
}

// file makes a path a file, a directory, or absent, with mode and owner.
// It changes only what differs from what state=, mode=, owner= and group=
// ask for.
//
// Arguments:
//
//	path   the path on the host
//	state  "file" (default: it must exist; only attributes are set),
//	       "directory" (created with parents when missing), "touch" (an
//	       empty file created when missing; an existing one is left as it
//	       is), or "absent" (removed, a directory with everything in it)
//	mode   permission bits, "0755" or 0o755
//	owner  user to own the path (needs become=True unless it is the login user)
//	group  group of the path
//
// state="absent" refuses system directories such as / or /etc.
//
// Check mode: reports what would be created, removed or changed; changes
// nothing.
//
// Example:
//
//	file(ctx.hosts("etcd"), path = "/var/lib/etcd", state = "directory", mode = "0700", owner = "etcd", become = True)
var fileModule = &engine.HostModule[fileArgs]{
	Name: "file",
	Args: func(a *fileArgs) []any {
		return []any{"path", &a.Path, "state?", &a.State, "mode?", &a.Mode, "owner?", &a.Owner, "group?", &a.Group}
	},
	Validate: func(a *fileArgs) error {
		if a.State == "" {
			a.State = "file"
		}
		switch a.State {
		case "file", "directory", "touch", "absent":
		default:
			return fmt.Errorf("state: got %q, want file, directory, touch or absent", a.State)
		}
		if strings.TrimSpace(a.Path) == "" {
			return fmt.Errorf("path is empty")
		}
		if a.State == "absent" && protectedPath(a.Path) {
			return engine.Refuse("will not remove %s: a system directory", a.Path)
		}
		return nil
	},
	Plan: planFile,
}

// protectedPath reports paths state=absent never removes.
func protectedPath(p string) bool {
	switch path.Clean(p) {
	case "/", ".", "..", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
		"/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
		"/var/lib", "/usr/local", "/usr/bin", "/usr/lib":
		return true
	}
	return false
}

func planFile(ctx context.Context, c *engine.HostCall, a *fileArgs) (engine.Plan, error) {
	f, err := readFact(ctx, c, statFact(a.Path, false))
	if err != nil {
		return engine.Plan{}, err
	}
	steps, reason, err := fileSteps(f, a)
	if err != nil {
		return engine.Plan{}, err
	}
	if len(steps) == 0 {
		return engine.NothingToDo("%s", reason), nil
	}
	var actions []engine.Action
	for _, s := range steps {
		var argv []string
		switch s.kind {
		case "remove":
			argv = []string{"rm", "-rf", "--", a.Path}
		case "mkdir":
			argv = []string{"mkdir", "-p", "--", a.Path}
		case "chmod":
			argv = []string{"chmod", a.Mode.String(), "--", a.Path}
		case "chown":
			argv = []string{"chown", ownerString(a.Owner, a.Group), "--", a.Path}
		}
		act := engine.Action{Desc: s.desc, Effect: s.effect}
		if s.kind == "touch" {
			opts := transport.PutOptions{Mode: a.Mode.Mode, Owner: a.Owner, Group: a.Group}
			act.Do = func(ctx context.Context) error { return c.Put(ctx, a.Path, bytes.NewReader(nil), opts) }
		} else {
			act.Do = func(ctx context.Context) error {
				_, err := c.Output(ctx, argv...)
				return err
			}
		}
		actions = append(actions, act)
	}
	return engine.Do(actions...), nil
}

// fileSteps decides from the facts what brings the path to a's state.
func fileSteps(f fileFacts, a *fileArgs) (steps []writeStep, reason string, err error) {
	switch a.State {
	case "absent":
		if !f.Exists {
			return nil, a.Path + " already absent", nil
		}
		what := ""
		if f.Dir {
			what = " (a directory, with everything in it)"
		}
		return []writeStep{{kind: "remove", desc: "remove " + a.Path + what}}, "", nil
	case "directory":
		if f.Exists && !f.Dir {
			return nil, "", fmt.Errorf("%s exists and is a %s, not a directory", a.Path, f.Type)
		}
		if !f.Exists {
			steps = append(steps, writeStep{kind: "mkdir", desc: "create directory " + a.Path})
			f = fileFacts{Exists: true, Dir: true}
		}
	case "touch":
		if f.Dir {
			return nil, "", fmt.Errorf("%s is a directory", a.Path)
		}
		if !f.Exists {
			// The write sets mode and owner itself.
			return []writeStep{{kind: "touch", desc: "create empty file " + a.Path}}, "", nil
		}
	case "file":
		if !f.Exists {
			return nil, "", fmt.Errorf("no file %s (state=\"touch\" creates an empty one)", a.Path)
		}
		if f.Dir {
			return nil, "", fmt.Errorf("%s is a directory (use state=\"directory\")", a.Path)
		}
	}
	if a.Mode.Set && (f.Mode != a.Mode.Mode || !f.Exists || f.Type == "") {
		was := ""
		if f.Type != "" {
			was = fmt.Sprintf(" (was %04o)", uint32(f.Mode))
		}
		steps = append(steps, writeStep{kind: "chmod", desc: fmt.Sprintf("chmod %s %s%s", a.Mode, a.Path, was), effect: fmt.Sprintf("chmod %s %s", a.Mode, a.Path)})
	}
	if a.Owner != "" && a.Owner != f.Owner || a.Group != "" && a.Group != f.Group {
		steps = append(steps, writeStep{kind: "chown", desc: fmt.Sprintf("chown %s %s", ownerString(a.Owner, a.Group), a.Path)})
	}
	if len(steps) == 0 {
		kind := f.Type
		reason = fmt.Sprintf("%s is a %s (mode %04o, owner %s:%s)", a.Path, kind, uint32(f.Mode), f.Owner, f.Group)
	}
	return steps, reason, nil
}
