package wire

import (
	"errors"
	"log/slog"
	"net"
	"testing"
)

// timeoutErr is a temporary accept failure.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "too many open files" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// fakeListener returns the errors in errs, then conns.
type fakeListener struct {
	net.Listener
	errs []error
}

func (l *fakeListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	a, _ := net.Pipe()
	return a, nil
}

func TestAcceptor(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	a := Acceptor{Listener: &fakeListener{errs: []error{timeoutErr{}, timeoutErr{}}}, Closing: func() bool { return false }, Log: log}
	nc, err := a.Accept()
	if err != nil || nc == nil {
		t.Fatalf("after temporary failures: %v", err)
	}
	nc.Close()
	if a.delay != 0 {
		t.Errorf("delay %v after a success", a.delay)
	}
	permanent := errors.New("bad listener")
	a = Acceptor{Listener: &fakeListener{errs: []error{permanent}}, Closing: func() bool { return false }, Log: log}
	if _, err := a.Accept(); err != permanent {
		t.Errorf("permanent failure: %v", err)
	}
	a = Acceptor{Listener: &fakeListener{errs: []error{net.ErrClosed}}, Closing: func() bool { return true }, Log: log}
	if _, err := a.Accept(); !errors.Is(err, ErrClosing) {
		t.Errorf("closing: %v", err)
	}
}
