package modules

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// wantFile is a file a module (copy, template) wants on a host.
type wantFile struct {
	Path    string
	Content []byte
	Mode    engine.FileMode
	Owner   string
	Group   string
	Backup  bool
	// Secret keeps the content out of --diff (a private key).
	Secret bool
}

// writeStep is one change writeSteps decided.
type writeStep struct {
	kind string // "create", "backup", "update", "chmod", "chown"
	desc string
}

// writeSteps decides, from the facts read on the host, what brings the
// file to w. It only decides: Plan tests feed it recorded facts.
func writeSteps(f fileFacts, w wantFile, backupName string) (steps []writeStep, reason string) {
	sum := sha256Hex(w.Content)
	attrs := ""
	if w.Mode.Set {
		attrs += ", mode " + w.Mode.String()
	}
	if w.Owner != "" || w.Group != "" {
		attrs += ", owner " + ownerString(w.Owner, w.Group)
	}
	switch {
	case !f.Exists:
		return []writeStep{{"create", fmt.Sprintf("create %s (%d bytes%s)", w.Path, len(w.Content), attrs)}}, ""
	case f.SHA256 != sum:
		if w.Backup {
			steps = append(steps, writeStep{"backup", fmt.Sprintf("back up %s to %s", w.Path, backupName)})
		}
		return append(steps, writeStep{"update", fmt.Sprintf("update %s (%d bytes, was %d%s)", w.Path, len(w.Content), f.Size, attrs)}), ""
	}
	if w.Mode.Set && f.Mode != w.Mode.Mode {
		steps = append(steps, writeStep{"chmod", fmt.Sprintf("chmod %s %s (was %04o)", w.Mode, w.Path, uint32(f.Mode))})
	}
	if w.Owner != "" && w.Owner != f.Owner || w.Group != "" && w.Group != f.Group {
		steps = append(steps, writeStep{"chown", fmt.Sprintf("chown %s %s (was %s:%s)", ownerString(w.Owner, w.Group), w.Path, f.Owner, f.Group)})
	}
	if len(steps) == 0 {
		reason = fmt.Sprintf("%s unchanged (sha256 %.12s, mode %04o, owner %s:%s)", w.Path, sum, uint32(f.Mode), f.Owner, f.Group)
	}
	return steps, reason
}

func ownerString(owner, group string) string {
	if group == "" {
		return owner
	}
	return owner + ":" + group
}

// planWrite reads the file on the host and plans writing w: atomically
// (a temporary file renamed over it), only when the content or attributes
// differ.
func planWrite(ctx context.Context, c *engine.HostCall, w wantFile) (engine.Plan, error) {
	f, err := readFact(ctx, c, statFact(w.Path, true))
	if err != nil {
		return engine.Plan{}, err
	}
	return planWriteFrom(ctx, c, w, f)
}

// planWriteFrom is planWrite from the file's facts read already (by
// statFact(w.Path, true)), for a module that reads them with others.
func planWriteFrom(ctx context.Context, c *engine.HostCall, w wantFile, f fileFacts) (engine.Plan, error) {
	if f.Exists && !f.regular() {
		return engine.Plan{}, fmt.Errorf("%s is a %s, not a file", w.Path, f.Type)
	}
	backupName := w.Path + "." + time.Now().Format("20060102T150405") + "~"
	steps, reason := writeSteps(f, w, backupName)
	c.Set("dest", w.Path)
	c.Set("sha256", sha256Hex(w.Content))
	if len(steps) == 0 {
		return engine.NothingToDo("%s", reason), nil
	}
	var diff *engine.FileDiff
	switch {
	case w.Secret:
		diff = &engine.FileDiff{Path: w.Path, Omitted: "secret: not shown"}
	case !f.Exists:
		diff = &engine.FileDiff{Path: w.Path, After: w.Content}
	case f.SHA256 != sha256Hex(w.Content) && c.Diff:
		diff = &engine.FileDiff{Path: w.Path, After: w.Content}
		if f.Size > 1<<20 {
			diff.Omitted = fmt.Sprintf("too large to show: %d bytes before, %d after", f.Size, len(w.Content))
		} else if before, err := c.ReadFile(ctx, w.Path); err != nil {
			diff.Omitted = "old content not readable: " + err.Error()
		} else {
			diff.Before = before
		}
	}
	// Attributes the call does not set are kept from the existing file; its
	// owner only when writing through sudo (a login user cannot give files
	// away, and a file it replaces becomes its own).
	opts := transport.PutOptions{Mode: w.Mode.Mode, Owner: w.Owner, Group: w.Group}
	if !w.Mode.Set {
		opts.Mode = 0o644
		if f.Exists {
			opts.Mode = f.Mode
		}
	}
	if f.Exists && c.Become {
		if opts.Owner == "" {
			opts.Owner = f.Owner
		}
		if opts.Group == "" {
			opts.Group = f.Group
		}
	}
	var actions []engine.Action
	for _, s := range steps {
		a := engine.Action{Desc: s.desc}
		switch s.kind {
		case "create", "update":
			a.Diff = diff
			a.Do = func(ctx context.Context) error {
				return c.Put(ctx, w.Path, bytes.NewReader(w.Content), opts)
			}
		case "backup":
			a.Do = func(ctx context.Context) error {
				if _, err := c.Output(ctx, "cp", "-p", "--", w.Path, backupName); err != nil {
					return err
				}
				c.Set("backup_file", backupName)
				return nil
			}
		case "chmod":
			a.Do = func(ctx context.Context) error {
				_, err := c.Output(ctx, "chmod", w.Mode.String(), "--", w.Path)
				return err
			}
		case "chown":
			a.Do = func(ctx context.Context) error {
				_, err := c.Output(ctx, "chown", ownerString(w.Owner, w.Group), "--", w.Path)
				return err
			}
		}
		actions = append(actions, a)
	}
	return engine.Do(actions...), nil
}

// isSecret reports whether content is a private key (PEM), which --diff
// must never show.
func isSecret(content []byte) bool {
	return bytes.Contains(content, []byte("PRIVATE KEY-----"))
}
