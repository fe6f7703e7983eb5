// Package netpoll waits for many idle connections to become readable
// without a goroutine per connection.
//
// A server that parks an idle connection arms a Handle for it: the Poller
// calls the Handle's function once, on its own goroutine, when the
// connection becomes readable, is hung up, or fails. The function must not
// block: it typically starts a goroutine that reads. Arming and disarming
// race safely: exactly one of the Poller (by calling the function) and a
// successful Disarm owns the wake-up.
//
// On Linux a Poller is one epoll instance (EPOLLONESHOT, keyed by a
// per-arming id rather than the file descriptor, so a descriptor closed and
// reused by another connection is never confused with it) whose readiness
// is itself waited for through the Go runtime's network poller: no thread
// is blocked. On other systems New returns ErrUnsupported and the caller
// keeps one waiting goroutine per idle connection.
package netpoll

import "errors"

// ErrUnsupported is returned by New on systems without a poller.
var ErrUnsupported = errors.New("netpoll: not supported on this system")

// ErrClosed is returned by Arm after the Poller was closed.
var ErrClosed = errors.New("netpoll: poller closed")
