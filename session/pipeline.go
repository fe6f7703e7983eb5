package session

import (
	"sync"

	"dormouse.im/dormouse/internal/sequence"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// pipeDepth is how many of a session's messages may be routed at once.
const pipeDepth = 32

// pipeline lets a session route its chat and normal messages while the
// earlier ones wait for their archive commit, so that several of one
// client's messages share a group commit (mam's batcher) rather than each
// waiting for the previous one's.
//
// The reader prepares a message (address checks, 'from' stamping) and
// hands it to a goroutine that routes it; the reader reads on once the
// message has its place in the archive order (sequence.Release: its archive
// id taken and it queued for commit) or is routed. The effects keep the
// client's order: the router calls Turn after the archive stage, which
// waits until the previous message is routed (delivery, carbons, offline
// storage, bounces happen in order), and a message counts in the XEP-0198
// h only once it and every earlier one are routed.
//
// While messages are in flight the flight holds Session.inMu: taken by
// the reader when the first message goes in flight, released by the
// goroutine of the last one to finish. Everything that reads or sets the
// count (an <r/>, <enable/>, a resumption, a handover, the end of the
// connection), and every other stanza (presence, IQs and other messages,
// handled under inMu by the reader), therefore waits for the in-flight
// messages: h never covers a message not yet archived, stored or queued,
// and never misses one the connection handed on.
type pipeline struct {
	mu   sync.Mutex    // guards n and last
	n    int           // messages in flight
	last chan struct{} // closed when the latest message in flight is routed
	sem  chan struct{} // a slot per message in flight (pipeDepth); immutable
}

// pipelined reports whether el is a message the session pipelines: chat
// and normal messages (the archived ones); other stanzas are handled one
// at a time.
func pipelined(el *xml.Element) bool {
	if el.Name.Local != "message" {
		return false
	}
	switch el.AttrValue("type") {
	case "", stanza.TypeChat, stanza.TypeNormal:
		return true
	}
	return false
}

// flight is one message in flight: the Sequencer the router sees.
type flight struct {
	prev     <-chan struct{} // the previous message's done; nil if none
	done     chan struct{}   // closed when this one is routed and counted
	released chan struct{}   // closed by Release
	once     sync.Once
}

func (f *flight) Release() { f.once.Do(func() { close(f.released) }) }

func (f *flight) Turn() {
	f.Release()
	if f.prev != nil {
		<-f.prev
	}
}

// pipeOf returns the session's pipeline, made at its first message.
func (s *Session) pipeOf() *pipeline {
	if p := s.pipe.Load(); p != nil {
		return p
	}
	s.pipe.CompareAndSwap(nil, &pipeline{sem: make(chan struct{}, pipeDepth)})
	return s.pipe.Load()
}

// pipeline handles the message el of the session s (pipelined(el)).
func (c *Conn) pipeline(s *Session, el *xml.Element) error {
	p := s.pipeOf()
	sem := p.sem
	sem <- struct{}{} // a slot frees as a message finishes
	p.mu.Lock()
	if p.n == 0 {
		// Nothing in flight: the flight starts by taking inMu, which
		// waits for whatever holds it (a resumption reading the count,
		// or the flight of a superseded connection's reader).
		// Messages only go in flight while inMu is held by a flight or
		// by the reader starting one, so n is still 0 once it has it.
		p.mu.Unlock()
		s.inMu.Lock()
		p.mu.Lock()
	}
	// The flight holds inMu. detach sets superseded before it waits for
	// inMu: a message joining after that is not this connection's to
	// route.
	if c.superseded.Load() {
		p.mu.Unlock()
		c.leave(s, false)
		return errSuperseded
	}
	f := &flight{prev: p.last, done: make(chan struct{}), released: make(chan struct{})}
	p.n++
	p.last = f.done
	p.mu.Unlock()

	st, err := c.handleMessage(el)
	if err != nil || st == nil {
		// Answered already (an error reply) or a stream error: counted
		// in order if answered, as before any pipelining.
		go c.land(s, f, err == nil)
		return err
	}
	go func() {
		c.srv.Router.Route(sequence.With(c.rctx, f), st)
		c.land(s, f, true)
	}()
	<-f.released
	return nil
}

// land finishes the message in flight f once the previous one has: it
// counts it (count: it was handled), then leaves the flight.
func (c *Conn) land(s *Session, f *flight, count bool) {
	f.Release()
	if f.prev != nil {
		<-f.prev
	}
	if count && s.counting { // the flight holds inMu
		s.inH++
	}
	close(f.done)
	c.leave(s, true)
}

// leave takes a message out of the flight (joined: it was in it, else it
// only had its slot and the flight's inMu): the last one out releases
// inMu.
func (c *Conn) leave(s *Session, joined bool) {
	p := s.pipe.Load() // made before the message took its slot
	p.mu.Lock()
	if joined {
		p.n--
	}
	last := p.n == 0
	if last {
		p.last = nil
	}
	sem := p.sem
	p.mu.Unlock()
	<-sem
	if last {
		s.inMu.Unlock()
	}
}
