package faultproxy

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// waitSent waits, at most max, until the peer has acknowledged every byte
// written to conn (the send queue, TIOCOUTQ, is empty).
func waitSent(conn *net.TCPConn, max time.Duration) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return
	}
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		var queued int32
		raw.Control(func(fd uintptr) {
			if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&queued))); errno != 0 {
				queued = 0
			}
		})
		if queued == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
