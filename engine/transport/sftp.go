package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTP packets. pkg/sftp writes files in packets of 32 KB, which every
// server accepts; OpenSSH's accepts messages of up to 256 KB, and one of
// 8.7 or later says so in its limits@openssh.com extension. With 32 KB
// packets an upload of etcd's 63 MB of binaries took 470 ms on the lab,
// with the server's own limit 210 ms: the packets' round trips, not the
// cipher, were the cost. pkg/sftp neither asks for the limits nor lets a
// client ask for them once it is made, so openSFTP asks on the session
// itself, before pkg/sftp's client takes it over.

const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201
	fxpStatus        = 101

	sftpDefaultPacket = 32 << 10
	// sftpMaxPacket caps what a server may announce: a write packet of
	// this much data is still within OpenSSH's 256 KB messages.
	sftpMaxPacket = 255 << 10
	// sftpMaxMessage bounds a message read during the handshake.
	sftpMaxMessage = 256 << 10
)

// openSFTP opens an SFTP client on a new session of client, reading and
// writing in packets as large as the server's limits@openssh.com allows
// (32 KB when it does not say); it returns that size too.
func openSFTP(client *ssh.Client, opts ...sftp.ClientOption) (c *sftp.Client, packet int, err error) {
	s, err := client.NewSession()
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	wr, err := s.StdinPipe()
	if err != nil {
		return nil, 0, err
	}
	rd, err := s.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := s.RequestSubsystem("sftp"); err != nil {
		return nil, 0, err
	}
	version, packet, err := sftpHandshake(rd, wr)
	if err != nil {
		return nil, 0, fmt.Errorf("sftp handshake: %w", err)
	}
	// The server has had its INIT: pkg/sftp's is not sent again, and it
	// reads the VERSION the server gave.
	pipeR := io.MultiReader(bytes.NewReader(version), rd)
	pipeW := &skipFirstPacket{w: wr, session: s}
	c, err = sftp.NewClientPipe(pipeR, pipeW, append(opts, sftp.MaxPacketUnchecked(packet))...)
	if err != nil {
		return nil, 0, err
	}
	return c, packet, nil
}

// sftpHandshake sends the INIT, reads the server's VERSION and, when it
// has limits@openssh.com, asks for its limits. It returns the VERSION
// packet as read (length prefix included) and the write packet size to
// use.
func sftpHandshake(rd io.Reader, wr io.Writer) ([]byte, int, error) {
	if err := writeSFTPPacket(wr, fxpInit, u32(3)); err != nil {
		return nil, 0, err
	}
	raw, typ, body, err := readSFTPPacket(rd)
	if err != nil {
		return nil, 0, err
	}
	if typ != fxpVersion || len(body) < 4 {
		return nil, 0, fmt.Errorf("unexpected packet %d where VERSION was due", typ)
	}
	exts, err := sftpExtensions(body[4:])
	if err != nil {
		return nil, 0, err
	}
	if _, ok := exts["limits@openssh.com"]; !ok {
		return raw, sftpDefaultPacket, nil
	}
	const id = 1
	req := append(u32(id), sftpString("limits@openssh.com")...)
	if err := writeSFTPPacket(wr, fxpExtended, req); err != nil {
		return nil, 0, err
	}
	_, typ, body, err = readSFTPPacket(rd)
	if err != nil {
		return nil, 0, err
	}
	if typ == fxpStatus {
		return raw, sftpDefaultPacket, nil // announced, then refused
	}
	// id, then max-packet-length, max-read-length, max-write-length and
	// max-open-handles (uint64 each).
	if typ != fxpExtendedReply || len(body) < 4+4*8 || binary.BigEndian.Uint32(body) != id {
		return nil, 0, fmt.Errorf("unexpected reply %d to limits@openssh.com", typ)
	}
	// pkg/sftp reads in packets of the same size it writes.
	read, write := binary.BigEndian.Uint64(body[4+8:]), binary.BigEndian.Uint64(body[4+2*8:])
	return raw, packetSize(min(read, write)), nil
}

// packetSize is the data size of the packets to read and write for a
// server whose limit is max (0: it gave none).
func packetSize(max uint64) int {
	switch {
	case max < sftpDefaultPacket:
		return sftpDefaultPacket
	case max > sftpMaxPacket:
		return sftpMaxPacket
	}
	return int(max)
}

func sftpExtensions(b []byte) (map[string]string, error) {
	exts := map[string]string{}
	for len(b) > 0 {
		name, rest, err := cutSFTPString(b)
		if err != nil {
			return nil, err
		}
		data, rest, err := cutSFTPString(rest)
		if err != nil {
			return nil, err
		}
		exts[name], b = data, rest
	}
	return exts, nil
}

func cutSFTPString(b []byte) (string, []byte, error) {
	if len(b) < 4 {
		return "", nil, errors.New("short extension")
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return "", nil, errors.New("short extension")
	}
	return string(b[4 : 4+n]), b[4+n:], nil
}

func writeSFTPPacket(w io.Writer, typ byte, body []byte) error {
	p := append(u32(uint32(1+len(body))), typ)
	_, err := w.Write(append(p, body...))
	return err
}

// readSFTPPacket reads one packet: as read, its type and its body.
func readSFTPPacket(r io.Reader) (raw []byte, typ byte, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > sftpMaxMessage {
		return nil, 0, nil, fmt.Errorf("packet of %d bytes", n)
	}
	raw = make([]byte, 4+n)
	copy(raw, hdr[:])
	if _, err := io.ReadFull(r, raw[4:]); err != nil {
		return nil, 0, nil, err
	}
	return raw, raw[4], raw[5:], nil
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func sftpString(s string) []byte { return append(u32(uint32(len(s))), s...) }

// skipFirstPacket is the session's stdin as pkg/sftp writes to it: its
// INIT, the first packet, is dropped (the server has had one), the rest
// passes. Closing it ends the session.
type skipFirstPacket struct {
	w       io.WriteCloser
	session *ssh.Session
	hdr     []byte // the first packet's length, as far as written
	skip    int    // bytes of the first packet still to drop
}

func (s *skipFirstPacket) Write(p []byte) (int, error) {
	n := len(p)
	for len(s.hdr) < 4 && len(p) > 0 {
		d := min(4-len(s.hdr), len(p))
		s.hdr, p = append(s.hdr, p[:d]...), p[d:]
		if len(s.hdr) == 4 {
			s.skip = int(binary.BigEndian.Uint32(s.hdr))
		}
	}
	d := min(s.skip, len(p))
	s.skip, p = s.skip-d, p[d:]
	if len(p) > 0 {
		if _, err := s.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (s *skipFirstPacket) Close() error {
	err := s.w.Close()
	s.session.Close()
	return err
}
