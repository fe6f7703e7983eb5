package wire

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// ErrClosing is returned by Accept when the server is closing.
var ErrClosing = errors.New("wire: server closing")

// Acceptor accepts connections, retrying temporary failures (a timeout,
// such as too many open files) after a growing delay: 5 ms, doubling, at
// most a second.
type Acceptor struct {
	Listener net.Listener
	// Closing reports whether the server is closing: a failure then ends
	// Accept with ErrClosing.
	Closing func() bool
	Log     *slog.Logger

	delay time.Duration
}

// Accept returns the next connection, ErrClosing, or the listener's
// permanent error.
func (a *Acceptor) Accept() (net.Conn, error) {
	for {
		nc, err := a.Listener.Accept()
		if err == nil {
			a.delay = 0
			return nc, nil
		}
		if a.Closing() {
			return nil, ErrClosing
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
		a.delay = min(max(2*a.delay, 5*time.Millisecond), time.Second)
		a.Log.Warn("accept failed; retrying", "err", err, "delay", a.delay)
		time.Sleep(a.delay)
	}
}
