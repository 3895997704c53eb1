package modules

import (
	"context"
	"path"
	"sync"
	"time"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/engine/transport"
)

// binaryUploads sends install_etcd's binaries to a host one after
// another while the actions that install them check the ones already
// there: the action of a binary waits for its upload, then moves it into
// place, hashes it on the host and stamps it (sha256sum and etcd
// --version: 60-100 ms a binary on the lab) while the next one is on its
// way. A binary lands under a temporary name next to its place, so that
// only its own action installs it: a run that stops at one binary leaves
// the others as they were, and the temporary files are removed.
type binaryUploads struct {
	c    *engine.HostCall
	dir  string
	bins []etcdBinary

	once    sync.Once
	cancel  context.CancelFunc
	ended   chan struct{} // closed when the uploads have ended
	results []chan error  // each binary's upload, as bins
}

func newBinaryUploads(c *engine.HostCall, dir string, bins []etcdBinary) *binaryUploads {
	u := &binaryUploads{c: c, dir: dir, bins: bins, ended: make(chan struct{}), results: make([]chan error, len(bins))}
	for i := range bins {
		u.results[i] = make(chan error, 1)
	}
	return u
}

// uploadName is where binary name is uploaded before its action moves
// it into dir; a fixed name, so that one a killed run left is written
// over by the next.
func uploadName(dir, name string) string { return path.Join(dir, "."+name+".etcdplay-upload") }

// start begins the uploads, once, in ctx (an action's).
func (u *binaryUploads) start(ctx context.Context) {
	u.once.Do(func() {
		ctx, u.cancel = context.WithCancel(ctx)
		go func() {
			defer close(u.ended)
			_, err := shellOK(ctx, u.c, "mkdir -p -- "+transport.QuoteWord(u.dir))
			for i, b := range u.bins {
				if err == nil {
					err = u.put(ctx, b)
				}
				u.results[i] <- err // a failure fails the later ones too
			}
		}()
	})
}

func (u *binaryUploads) put(ctx context.Context, b etcdBinary) error {
	r, err := b.open()
	if err != nil {
		return err
	}
	defer r.Close()
	return u.c.Put(ctx, uploadName(u.dir, b.Name), r, transport.PutOptions{Mode: 0o755})
}

// install is the action of binary i (of bins): its upload waited for,
// checked against its SHA-256 as it landed, moved to dst and stamped,
// so that later runs need not hash it (binaryFact) or run it for its
// version (stampedVersion). After the last binary, or a failure, the
// uploads are ended and what they left removed.
func (u *binaryUploads) install(ctx context.Context, i int, dst string) error {
	u.start(ctx)
	b := u.bins[i]
	var err error
	select {
	case err = <-u.results[i]:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		_, err = shellOK(ctx, u.c, stampCommand(uploadName(u.dir, b.Name), dst, b.SHA256, b.Name == "etcd"))
	}
	switch {
	case err != nil:
		u.stop()
	case i == len(u.bins)-1:
		u.cancel() // all of them moved into place
	}
	return err
}

// stop ends the uploads and removes the files they left.
func (u *binaryUploads) stop() {
	u.cancel()
	<-u.ended
	rm := []string{"rm", "-f", "--"}
	for _, b := range u.bins {
		rm = append(rm, uploadName(u.dir, b.Name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u.c.Run(ctx, rm...)
}
