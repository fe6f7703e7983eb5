package session

import (
	"errors"
	"os"
	"syscall"
	"time"

	"dormouse.im/dormouse/internal/netpoll"
)

// Parking. An authenticated connection that has sent nothing for
// Config.ParkAfter gives up its reader goroutine and its decoder's read
// buffer until it is readable again:
//
//   - When the decoder asks for input between top-level elements with
//     nothing buffered (xml.Decoder.Quiet), deadlineReader reads with a
//     deadline of ParkAfter instead of the idle timeout, and reports
//     errLinger if it passes with nothing read. A session in a
//     conversation never gets there: it pays nothing for parking.
//   - After such a timeout crypto/tls holds no complete record (its Read
//     would have decrypted and returned it; a timeout is a temporary error
//     that leaves the connection usable and keeps a partial record's bytes
//     for the next Read), and the decoder holds nothing: everything still
//     to come arrives through the socket, so waiting for the socket to
//     become readable loses nothing.
//   - Linux: the reader releases the decoder's buffer and parser, arms the
//     connection in the Server's epoll poller (internal/netpoll) and
//     returns. The poller, the idle sweep (Config.IdleTimeout), or a
//     goroutine that must wake the connection (a resumption elsewhere,
//     closing the stream, a failed write, shutdown: Conn.wake) takes the
//     wake-up — exactly one of them, through Handle.Disarm — and has a
//     reader goroutine continue the element loop (resumeRead; at most
//     wakeLimit of them at once: wake.go).
//   - Elsewhere, or with Config.PortablePark: a small goroutine waits for
//     readability through the runtime poller (RawConn.Read) under the idle
//     deadline, and continues as the reader. Setting the read deadline or
//     closing the socket wakes it.
//
// A connection that is not a syscall.Conn (net.Pipe in tests) does not
// park.

// defaultParkAfter is Config.ParkAfter's default: long enough that a
// session in a conversation keeps its goroutine between stanzas (parking
// costs a few system calls and a goroutine start), short enough that
// sessions logging in at a high rate do not each keep a grown stack.
const defaultParkAfter = 100 * time.Millisecond

// errParked is returned up the reader's stack when the connection parked:
// the goroutine returns and another one continues later.
var errParked = errors.New("session: parked")

// errLinger is deadlineReader's report that nothing came for ParkAfter
// between elements.
var errLinger = errors.New("session: idle between elements")

// park gives up the reader goroutine until the connection is readable.
// It returns errParked, or nil if the connection cannot park (the caller
// then reads as usual).
func (c *Conn) park() error {
	if !c.dec.Quiet() || c.stopping.Load() || c.superseded.Load() {
		return nil // deadlineReader handles them
	}
	c.dec.Release()
	if c.rc == nil {
		sc, ok := c.nc.(syscall.Conn)
		if !ok {
			c.canPark = false
			return nil
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return nil
		}
		c.rc = rc
	}
	c.q.Free() // nor the write queue's arrays
	c.dropCtx()
	st := &c.srv.stats
	st.parks.Add(1)
	st.parked.Add(1) // before anything can wake the connection
	srv := c.srv
	srv.pollOnce.Do(func() { srv.poller = newPoller(&srv.Config) })
	p := srv.poller
	if p == nil {
		deadline := time.Now().Add(c.srv.Config.IdleTimeout)
		go c.waitReadable(deadline)
		return errParked
	}
	h := c.poll.Load()
	if h == nil {
		h = p.NewHandle(c.rc, c.polled)
		c.poll.Store(h)
	}
	// Before arming: once armed, the handle may fire at once.
	c.srv.startSweep()
	c.parkedAt.Store(time.Now().UnixNano())
	armed, err := h.Arm()
	if armed {
		return errParked
	}
	c.parkedAt.Store(0)
	st.parked.Add(-1)
	c.log().Debug("cannot park the connection", "err", err)
	return nil
}

// dropCtx cancels the connection's cancelable context and keeps only its
// parent, rctx: a parked connection has authenticated, and only the
// negotiation uses ctx. Reader state, like ctx and cancel.
func (c *Conn) dropCtx() {
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
		c.ctx = c.rctx
	}
}

// polled is called by the poller when the parked connection is readable.
func (c *Conn) polled() {
	c.srv.wakeRead(c)
}

// idleTimedOut is called by the idle sweep when a connection parked at
// parkedAt stayed idle for Config.IdleTimeout: the reader then pings the
// client (deadlineReader).
func (c *Conn) idleTimedOut(parkedAt int64) {
	if c.parkedAt.Load() != parkedAt {
		return // woken meanwhile
	}
	if h := c.poll.Load(); h != nil && h.Disarm() {
		c.idleFired = true
		c.srv.wakeRead(c)
	}
}

// wake makes a parked connection's reader run (to see that it was
// superseded, that the stream is closing, or that the socket was closed).
// Safe to call from any goroutine, parked or not.
func (c *Conn) wake() {
	if h := c.poll.Load(); h != nil && h.Disarm() {
		c.srv.wakeRead(c)
	}
}

// waitReadable is the portable parked state: a small goroutine waits for
// readability of the socket (or the deadline, or the socket's closing) and
// then continues as the reader.
func (c *Conn) waitReadable(deadline time.Time) {
	_ = c.nc.SetReadDeadline(deadline)
	if !c.stopping.Load() && !c.superseded.Load() {
		first := true
		err := c.rc.Read(func(fd uintptr) bool {
			if first {
				// RawConn.Read forgets a readiness event that came
				// before it, and the runtime poller is edge-triggered:
				// input that is already there would only be seen at the
				// deadline. So look first, then wait for readability.
				first = false
				return pending(fd)
			}
			return true
		})
		if errors.Is(err, os.ErrDeadlineExceeded) && !c.stopping.Load() && !c.superseded.Load() {
			c.idleFired = true
		}
	}
	c.resumeRead()
}

// resumeRead continues the reader of a parked connection.
func (c *Conn) resumeRead() {
	c.srv.stats.parked.Add(-1)
	c.parkedAt.Store(0)
	c.end(c.run(true))
}

// unpoll takes the connection out of the poller before it is closed.
func (c *Conn) unpoll() {
	if h := c.poll.Load(); h != nil {
		_ = h.Remove()
	}
}

// startSweep starts the idle sweep once: every eighth of
// Config.IdleTimeout (at most a minute), it wakes the connections parked in
// the poller for longer than IdleTimeout. One sweep for all instead of a
// timer each: a parked connection holds no timer.
func (s *Server) startSweep() {
	s.sweepOnce.Do(func() {
		s.sweepStop = make(chan struct{})
		s.sweepDone = make(chan struct{})
		every := min(max(s.Config.IdleTimeout/8, time.Millisecond), time.Minute)
		go s.sweep(every)
	})
}

func (s *Server) sweep(every time.Duration) {
	defer close(s.sweepDone)
	t := time.NewTicker(every)
	defer t.Stop()
	type due struct {
		c  *Conn
		at int64
	}
	var list []due
	for {
		select {
		case <-s.sweepStop:
			return
		case now := <-t.C:
			limit := now.Add(-s.Config.IdleTimeout).UnixNano()
			s.mu.Lock()
			for c := range s.conns.All() {
				if at := c.parkedAt.Load(); at != 0 && at <= limit {
					list = append(list, due{c, at})
				}
			}
			s.mu.Unlock()
			for i, d := range list {
				d.c.idleTimedOut(d.at)
				list[i] = due{}
			}
			list = list[:0]
		}
	}
}

// stopSweep stops the idle sweep, if it started.
func (s *Server) stopSweep() {
	s.sweepOnce.Do(func() {}) // no sweep may start after this
	if s.sweepStop != nil {
		close(s.sweepStop)
		<-s.sweepDone
	}
}

// newPoller starts the Server's poller unless the portable path is asked
// for or the system has none.
func newPoller(cfg *Config) *netpoll.Poller {
	if cfg.PortablePark || cfg.ParkAfter < 0 {
		return nil
	}
	p, err := netpoll.New()
	if err != nil {
		return nil
	}
	return p
}
