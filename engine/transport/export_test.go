package transport

import "os"

// TraceTo sends the trace to f until the returned function is called.
func TraceTo(f *os.File) (restore func()) {
	saved := tracer
	tf := &traceFile{f: f}
	tracer = func() *traceFile { return tf }
	return func() { tracer = saved }
}

// IdleShells is how many shells c keeps open for the next scripts.
func IdleShells(c Conn) int {
	sc := c.(*sshConn)
	sc.shellMu.Lock()
	defer sc.shellMu.Unlock()
	return len(sc.shells)
}

// EndedIdleShells is how many of c's idle shells have ended.
func EndedIdleShells(c Conn) int {
	sc := c.(*sshConn)
	sc.shellMu.Lock()
	defer sc.shellMu.Unlock()
	n := 0
	for _, sh := range sc.shells {
		if sh.hasEnded() {
			n++
		}
	}
	return n
}

// SFTPPacket is the size of the packets c's SFTP client reads and writes
// in, once it has one (after a Put or Get).
func SFTPPacket(c Conn) int { return c.(*sshConn).sftpPacket }
