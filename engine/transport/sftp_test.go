package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// fakeSFTPServer answers sftpHandshake's INIT with a VERSION listing
// exts and, when asked for limits@openssh.com, with limits (or, nil, a
// STATUS refusing it).
func fakeSFTPServer(t *testing.T, exts []string, limits []uint64) (io.Reader, io.Writer, func() [][]byte) {
	t.Helper()
	var got [][]byte
	version := u32(3)
	for _, e := range exts {
		version = append(version, sftpString(e)...)
		version = append(version, sftpString("1")...)
	}
	reqR, reqW := io.Pipe()
	repR, repW := io.Pipe()
	t.Cleanup(func() { reqW.Close(); repR.Close() })
	go func() {
		defer repW.Close()
		for {
			_, typ, body, err := readSFTPPacket(reqR)
			if err != nil {
				return
			}
			// Recorded before the reply is written: the client reads got
			// only after it has read the replies.
			got = append(got, append([]byte{typ}, body...))
			var reply []byte
			switch typ {
			case fxpInit:
				reply = append([]byte{fxpVersion}, version...)
			case fxpExtended:
				id := body[:4]
				if limits == nil {
					reply = append(append([]byte{fxpStatus}, id...), u32(8)...)
				} else {
					reply = append([]byte{fxpExtendedReply}, id...)
					for _, l := range limits {
						reply = binary.BigEndian.AppendUint64(reply, l)
					}
				}
			}
			if _, err := repW.Write(append(u32(uint32(len(reply))), reply...)); err != nil {
				return
			}
		}
	}()
	return repR, reqW, func() [][]byte { return got }
}

func TestSFTPHandshake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exts   []string
		limits []uint64
		want   int
		asked  bool
	}{
		{"no limits extension", []string{"posix-rename@openssh.com"}, nil, 32 << 10, false},
		{"OpenSSH's limits", []string{"limits@openssh.com"}, []uint64{256 << 10, 255 << 10, 255 << 10, 0}, 255 << 10, true},
		{"a read limit below the write limit", []string{"limits@openssh.com"}, []uint64{1 << 20, 64 << 10, 1 << 20, 0}, 64 << 10, true},
		{"limits above what a write packet may carry", []string{"limits@openssh.com"}, []uint64{1 << 30, 1 << 30, 1 << 30, 0}, 255 << 10, true},
		{"limits below 32 KB, or none given", []string{"limits@openssh.com"}, []uint64{0, 0, 0, 0}, 32 << 10, true},
		{"announced, then refused", []string{"limits@openssh.com"}, nil, 32 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd, wr, got := fakeSFTPServer(t, tc.exts, tc.limits)
			version, packet, err := sftpHandshake(rd, wr)
			if err != nil {
				t.Fatal(err)
			}
			if packet != tc.want {
				t.Errorf("packet %d, want %d", packet, tc.want)
			}
			if len(version) < 5 || version[4] != fxpVersion {
				t.Errorf("VERSION packet %x, want the server's, length included", version)
			}
			reqs := got()
			if asked := len(reqs) == 2 && reqs[1][0] == fxpExtended && bytes.Contains(reqs[1], []byte("limits@openssh.com")); asked != tc.asked {
				t.Errorf("asked for limits: %v, want %v (requests %x)", asked, tc.asked, reqs)
			}
		})
	}
}

// TestSkipFirstPacket: pkg/sftp's INIT is dropped however it is split
// across writes, and what follows passes whole.
func TestSkipFirstPacket(t *testing.T) {
	init := append(u32(5), fxpInit, 0, 0, 0, 3)
	next := append(u32(3), 17, 'a', 'b')
	stream := append(append([]byte{}, init...), next...)
	for split := 1; split < len(stream); split++ {
		var out bytes.Buffer
		w := &skipFirstPacket{w: nopWriteCloser{&out}}
		for _, part := range [][]byte{stream[:split], stream[split:]} {
			if n, err := w.Write(part); err != nil || n != len(part) {
				t.Fatalf("split %d: wrote %d of %d, %v", split, n, len(part), err)
			}
		}
		if !bytes.Equal(out.Bytes(), next) {
			t.Errorf("split %d: passed %x, want %x", split, out.Bytes(), next)
		}
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
