package transport

import (
	"net"
	"syscall"
)

// quickAck makes the TCP connection c acknowledge what it reads at once.
//
// sshd sets TCP_NODELAY only on interactive sessions, so on a connection
// like this run's (commands without a terminal, forwarded ports) it holds
// a small packet back while an earlier one is unacknowledged, and
// Linux delays the acknowledgement of a lone small packet by up to 40 ms.
// Each exchange where sshd sends twice in a row (a channel's
// confirmation after a global request, a command's exit status after its
// output, a forwarded reply after a window adjust) then waited those 40
// ms: most of a replace's time in the lab, where a round trip is a tenth
// of a millisecond. TCP_QUICKACK sends the pending acknowledgement now;
// Linux clears it again as it sees fit, so it is set after every read.
func quickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{TCPConn: tc, rc: rc}
}

type quickAckConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.TCPConn.Read(b)
	if n > 0 {
		q.rc.Control(func(fd uintptr) {
			// Best effort: a connection that refuses it is only slower.
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}
