//go:build unix

package session

import (
	"errors"
	"syscall"
)

// pending reports whether the socket fd has something to read (data, the
// peer's FIN or an error), without consuming it.
func pending(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil:
		return true // n > 0: data; n == 0: end of stream
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		return n > 0
	}
	return true // a socket error: the reader reports it
}
