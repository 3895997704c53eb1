package modules

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/etcdplay/etcdplay/etcd"
)

// localSums keeps on the control machine what sumCache keeps on the
// hosts: the SHA-256 of each binary install_etcd read from a directory,
// with the file's identity when it was hashed, so that a run does not
// read and hash 63 MB of etcd binaries that have not changed since the
// last one (about 90 ms of each run's own time). "" (no user cache
// directory) hashes every time.
var localSums = func() string {
	d, err := etcd.CacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "sha256")
}()

// racyWindow: a file whose change time is this recent is not stamped.
const racyWindow = 100 * time.Millisecond

// localIdentity is the identity of the file behind fi, as fileIdentity
// records it on a host: device, inode, size, and modification and change
// times to the nanosecond.
func localIdentity(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d %d %d %d.%09d %d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// dirBinary is the binary name in file, from its stamp in localSums when
// the file is still the one stamped, else read and hashed (and stamped).
// Its content is read again when it is uploaded.
func dirBinary(name, file string) (etcdBinary, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return etcdBinary{}, err
	}
	b := etcdBinary{Name: name, Path: file, Size: fi.Size()}
	id := localIdentity(fi)
	stamp := ""
	if localSums != "" && id != "" {
		abs, _ := filepath.Abs(file)
		stamp = filepath.Join(localSums, stampName(abs))
		if s, err := os.ReadFile(stamp); err == nil {
			if sid, sum, _ := strings.Cut(strings.TrimSpace(string(s)), "\n"); sid == id && len(sum) == 64 {
				b.SHA256 = sum
			}
		}
	}
	if b.SHA256 == "" {
		if b.SHA256, err = etcd.FileSHA256(file); err != nil {
			return etcdBinary{}, err
		}
		// A file changed in the last moments may change again within the
		// same tick of the kernel's clock, keeping its change time: it is
		// stamped once it has been left alone for a while (git's "racy"
		// entries).
		if st, ok := fi.Sys().(*syscall.Stat_t); stamp != "" && ok && time.Since(time.Unix(st.Ctim.Sec, st.Ctim.Nsec)) > racyWindow {
			writeLocalStamp(stamp, id, b.SHA256)
		}
	}
	if f, err := elf.Open(file); err == nil {
		b.Arch = elfMachine(f.Machine)
		f.Close()
	}
	return b, nil
}

// writeLocalStamp records sum for the file of identity id, if it can: a
// stamp not written costs the next run a hash, nothing else.
func writeLocalStamp(stamp, id, sum string) {
	etcd.WriteFileAtomic(stamp, []byte(id+"\n"+sum+"\n"), 0o600)
}
