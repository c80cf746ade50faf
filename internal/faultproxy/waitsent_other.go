//go:build !linux

package faultproxy

import (
	"net"
	"time"
)

// waitSent gives the peer a moment to take what was written to conn; only
// Linux can tell when it has.
func waitSent(_ *net.TCPConn, _ time.Duration) {
	time.Sleep(100 * time.Millisecond)
}
