package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/etcd"
)

type fetchArgs struct {
	Src  string
	Dest string
	Flat bool
}

// fetch copies a file from each host to the control machine. It does so
// only when the local copy differs (SHA-256 compared first); the transfer goes to a
// temporary file that is checked against the remote checksum and then
// renamed into place.
//
// Arguments:
//
//	src   path of the file on the host
//	dest  local directory (relative to the playbook's directory); the file
//	      is saved as DEST/HOST/SRC, so hosts do not overwrite each other
//	flat  save as DEST itself (or DEST/NAME-OF-SRC when dest ends in /)
//	      instead; for one host
//
// The result has dest (the local path) and sha256.
//
// Check mode: compares and reports "would fetch"; writes nothing locally.
//
// Example:
//
//	fetch(ctx.hosts("etcd"), src = "/etc/etcd/etcd.conf", dest = "saved/")
var fetchModule = &engine.HostModule[fetchArgs]{
	Name: "fetch",
	Args: func(a *fetchArgs) []any {
		return []any{"src", &a.Src, "dest", &a.Dest, "flat?", &a.Flat}
	},
	Validate: func(a *fetchArgs) error {
		if a.Src == "" || a.Dest == "" {
			return fmt.Errorf("src and dest must not be empty")
		}
		return nil
	},
	Plan: func(ctx context.Context, c *engine.HostCall, a *fetchArgs) (engine.Plan, error) {
		local := fetchPath(c.LocalPath(a.Dest), c.Host.Name, a.Src, a.Flat)
		f, err := readFact(ctx, c, statFact(a.Src, true))
		if err != nil {
			return engine.Plan{}, err
		}
		if !f.Exists {
			return engine.Plan{}, fmt.Errorf("no file %s on the host", a.Src)
		}
		if !f.regular() {
			return engine.Plan{}, fmt.Errorf("%s is a %s, not a file", a.Src, f.Type)
		}
		c.Set("dest", local)
		c.Set("sha256", f.SHA256)
		if sum, err := etcd.FileSHA256(local); err == nil && sum == f.SHA256 {
			return engine.NothingToDo("%s unchanged (sha256 %.12s)", local, sum), nil
		}
		return engine.Do(engine.Action{
			Desc:   fmt.Sprintf("fetch %s to %s (%d bytes)", a.Src, local, f.Size),
			Effect: fmt.Sprintf("fetch %s to %s (sha256 %.12s)", a.Src, local, f.SHA256),
			Do: func(ctx context.Context) error {
				return fetchTo(ctx, c, a.Src, local, f.SHA256)
			},
		}), nil
	},
}

func fetchPath(dest, host, src string, flat bool) string {
	if flat {
		if strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, string(os.PathSeparator)) {
			return filepath.Join(dest, filepath.Base(src))
		}
		return dest
	}
	return filepath.Join(dest, host, filepath.FromSlash(strings.TrimLeft(src, "/")))
}

// fetchTo copies the remote file into a temporary local file, checks it
// against the checksum read in Plan, and renames it into place.
func fetchTo(ctx context.Context, c *engine.HostCall, src, local, want string) error {
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	w := io.MultiWriter(tmp, h)
	if c.Become {
		var b []byte
		b, err = c.ReadFile(ctx, src)
		if err == nil {
			_, err = w.Write(b)
		}
	} else {
		err = c.Get(ctx, src, w)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s changed while it was fetched (sha256 %.12s, then %.12s); run again", src, want, got)
	}
	return os.Rename(tmp.Name(), local)
}
