package modules

import (
	"bytes"
	"cmp"
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
	kind   string // "create", "backup", "update", "chmod", "chown"
	desc   string
	effect string // what it leaves, whatever was there: engine.Action's Effect ("": desc)
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
	// A create and an update leave the same file: the content, not
	// what it replaced (a secret's only by its size).
	content := fmt.Sprintf("sha256 %.12s", sum)
	if w.Secret {
		content = "secret content"
	}
	write := fmt.Sprintf("write %s (%d bytes, %s%s)", w.Path, len(w.Content), content, attrs)
	switch {
	case !f.Exists:
		return []writeStep{{kind: "create", desc: fmt.Sprintf("create %s (%d bytes%s)", w.Path, len(w.Content), attrs), effect: write}}, ""
	case f.SHA256 != sum:
		if w.Backup {
			steps = append(steps, writeStep{kind: "backup", desc: fmt.Sprintf("back up %s to %s", w.Path, backupName), effect: "back up the old " + w.Path})
		}
		return append(steps, writeStep{kind: "update", desc: fmt.Sprintf("update %s (%d bytes, was %d%s)", w.Path, len(w.Content), f.Size, attrs), effect: write}), ""
	}
	if w.Mode.Set && f.Mode != w.Mode.Mode {
		steps = append(steps, writeStep{kind: "chmod", desc: fmt.Sprintf("chmod %s %s (was %04o)", w.Mode, w.Path, uint32(f.Mode)), effect: fmt.Sprintf("chmod %s %s", w.Mode, w.Path)})
	}
	if w.Owner != "" && w.Owner != f.Owner || w.Group != "" && w.Group != f.Group {
		steps = append(steps, writeStep{kind: "chown", desc: fmt.Sprintf("chown %s %s (was %s:%s)", ownerString(w.Owner, w.Group), w.Path, f.Owner, f.Group), effect: fmt.Sprintf("chown %s %s", ownerString(w.Owner, w.Group), w.Path)})
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
	before, beforeKnown := []byte(nil), false
	if content, known, gone, ok := c.WouldHave(w.Path); ok {
		// Check mode, and an earlier step of the run writes the file
		// first: plan against what it leaves (content not shown, a
		// secret: it differs).
		switch {
		case gone:
			f = fileFacts{}
		case !f.Exists:
			f = fileFacts{Exists: true, Type: "regular file", Mode: cmp.Or(w.Mode.Mode, 0o644), Owner: w.Owner, Group: w.Group}
		}
		if !gone {
			f.SHA256, f.Size = "", int64(len(content))
			if known {
				f.SHA256, before, beforeKnown = sha256Hex(content), content, true
			}
		}
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
		diff = &engine.FileDiff{Path: w.Path, Omitted: "secret: not shown", Secret: true}
	case !f.Exists:
		diff = &engine.FileDiff{Path: w.Path, After: w.Content}
	case f.SHA256 != sha256Hex(w.Content) && c.Diff:
		diff = &engine.FileDiff{Path: w.Path, After: w.Content}
		if f.Size > 1<<20 {
			diff.Omitted = fmt.Sprintf("too large to show: %d bytes before, %d after", f.Size, len(w.Content))
		} else if beforeKnown {
			diff.Before = before
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
		a := engine.Action{Desc: s.desc, Effect: s.effect}
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
