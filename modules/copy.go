package modules

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"go.starlark.net/starlark"

	"github.com/etcdplay/etcdplay/engine"
)

type copyArgs struct {
	Dest    string
	Content starlark.Value
	Src     string
	Mode    engine.FileMode
	Owner   string
	Group   string
	Backup  bool
}

// copy writes a file on each host when its content or attributes differ.
// The content comes from content= or a local file src=; the SHA-256 of the
// file on the host is compared first, and an unchanged file is left alone
// (ok). The write is atomic (a temporary file in the same directory, renamed over the
// old one), so readers see the old file or the new, never a part.
//
// Arguments:
//
//	dest     path of the file on the host; if it is an existing directory
//	         and src= is given, the file goes in it under src's name
//	content  the file's content (a string or bytes); or
//	src      a file on the control machine (relative to the playbook's
//	         directory)
//	mode     permission bits, "0644" or 0o644 (default: kept, or 0644 for a
//	         new file)
//	owner    user to own the file (needs become=True unless it is the login
//	         user)
//	group    group of the file
//	backup   keep the old file as DEST.TIMESTAMP~ when the content changes
//
// The result has dest, sha256 and, after a backup, backup_file.
//
// Check mode: reports whether the file would be created or updated (and the
// diff with --diff); writes nothing.
//
// Example:
//
//	copy(ctx.hosts("etcd"), dest = "/etc/etcd/ca.pem", src = "pki/ca.pem", mode = "0644", become = True)
var copyModule = &engine.HostModule[copyArgs]{
	Name: "copy",
	Args: func(a *copyArgs) []any {
		return []any{"dest", &a.Dest, "content?", &a.Content, "src?", &a.Src, "mode?", &a.Mode, "owner?", &a.Owner, "group?", &a.Group, "backup?", &a.Backup}
	},
	Validate: func(a *copyArgs) error {
		if a.Dest == "" {
			return fmt.Errorf("dest is empty")
		}
		if (a.Content == nil || a.Content == starlark.None) == (a.Src == "") {
			return fmt.Errorf("give either content= or src=")
		}
		if a.Content != nil && a.Content != starlark.None {
			if _, ok := starlark.AsString(a.Content); !ok {
				return fmt.Errorf("content: got %s, want a string or bytes", a.Content.Type())
			}
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.HostCall, a *copyArgs) (engine.Plan, error) {
		var content []byte
		if a.Src != "" {
			b, err := os.ReadFile(c.LocalPath(a.Src))
			if err != nil {
				return engine.Plan{}, engine.BadInput("src: %v", err)
			}
			content = b
		} else {
			s, _ := starlark.AsString(a.Content)
			content = []byte(s)
		}
		dest := a.Dest
		if a.Src != "" {
			if strings.HasSuffix(dest, "/") {
				dest += path.Base(a.Src)
			} else if f, err := readFact(ctx, c, statFact(dest, false)); err != nil {
				return engine.Plan{}, err
			} else if f.Dir {
				dest = path.Join(dest, path.Base(a.Src))
			}
		}
		return planWrite(ctx, c, wantFile{Path: dest, Content: content, Mode: a.Mode, Owner: a.Owner, Group: a.Group, Backup: a.Backup, Secret: isSecret(content)})
	},
}
