package session

import (
	"sync/atomic"
	"time"
)

// Stats are counters of stream management and client state indication,
// for metrics. Counts are since the server started.
type Stats struct {
	Resumable      int    // resumable sessions (live or hibernated) now
	Hibernated     int64  // hibernated sessions now
	Hibernations   uint64 // connections lost by resumable sessions
	Resumptions    uint64 // successful <resume/>
	ResumeFailures uint64 // <resume/> answered with <failed/> or a stream error
	Timeouts       uint64 // hibernated sessions not resumed in time
	Overflows      uint64 // hibernated sessions ended because their queue overflowed
	Rescued        uint64 // messages handed to the Rescuer
	RescueErrors   uint64 // messages the Rescuer failed to take (or no Rescuer): lost

	StanzasOut    uint64    // stanzas queued for writing to clients (held ones once flushed)
	StanzasOutBy  [4]uint64 // StanzasOut by stanza.Kind (message, presence, iq)
	CSIHeld       uint64    // stanzas held back while a client was inactive (or hibernated)
	CSISuperseded uint64    // held presence replaced by a newer one from the same contact
	CSIFlushes    uint64    // times a hold queue was flushed

	Parked int64  // connections parked now: no goroutine, no read buffer (park.go)
	Parks  uint64 // times a connection parked

	Logins        uint64 // successful SASL authentications
	LoginFailures uint64 // failed SASL authentications

	// In a cluster: resumptions of sessions another node held (included
	// in Resumptions), and sessions given up to another node's resumption.
	RemoteResumptions uint64
	HandedOver        uint64
}

type stats struct {
	hibernated, parked                         atomic.Int64
	parks                                      atomic.Uint64
	hibernations, resumptions, resumeFailures  atomic.Uint64
	timeouts, overflows, rescued, rescueErrors atomic.Uint64
	csiHeld, csiSuperseded, csiFlushes         atomic.Uint64
	stanzasOut                                 [4]atomic.Uint64 // by stanza.Kind
	logins, loginFailures                      atomic.Uint64
	remoteResumptions, handedOver              atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.init()
	st := &s.stats
	out := Stats{
		Resumable:      s.reg.len(),
		Hibernated:     st.hibernated.Load(),
		Hibernations:   st.hibernations.Load(),
		Resumptions:    st.resumptions.Load(),
		ResumeFailures: st.resumeFailures.Load(),
		Timeouts:       st.timeouts.Load(),
		Overflows:      st.overflows.Load(),
		Rescued:        st.rescued.Load(),
		RescueErrors:   st.rescueErrors.Load(),
		CSIHeld:        st.csiHeld.Load(),
		CSISuperseded:  st.csiSuperseded.Load(),
		CSIFlushes:     st.csiFlushes.Load(),
		Parked:         st.parked.Load(),
		Parks:          st.parks.Load(),
		Logins:         st.logins.Load(),
		LoginFailures:  st.loginFailures.Load(),
	}
	out.RemoteResumptions, out.HandedOver = st.remoteResumptions.Load(), st.handedOver.Load()
	for k := range st.stanzasOut {
		n := st.stanzasOut[k].Load()
		out.StanzasOutBy[k] = n
		out.StanzasOut += n
	}
	return out
}

// Metrics receives the sessions' timings; *metrics.Metrics implements it.
// (Counts: Stats.)
type Metrics interface {
	// StorageDone reports one storage operation ("credentials", the
	// lookup of a login): its duration and result.
	StorageDone(op string, d time.Duration, err error)
}

// noMetrics is Metrics when none is set.
type noMetrics struct{}

func (noMetrics) StorageDone(string, time.Duration, error) {}

// Census counts the sessions by state and their queued stanzas. It visits
// every session (under each one's lock), so it is meant for metrics
// scrapes, not for hot paths.
type Census struct {
	Live       int // bound sessions with a connection
	Inactive   int // live sessions whose client said <inactive/> (XEP-0352)
	Hibernated int // resumable sessions without a connection (XEP-0198)
	Unacked    int // stanzas sent or queued and not yet acknowledged (XEP-0198), all sessions
	MaxUnacked int // the most unacknowledged stanzas of one session
	Held       int // stanzas held back for inactive or hibernated clients
}

// Census returns the current census.
func (s *Server) Census() Census {
	s.init()
	var c Census
	seen := map[*Session]bool{}
	count := func(x *Session) {
		if x == nil || seen[x] {
			return
		}
		seen[x] = true
		x.mu.Lock()
		switch x.state {
		case stateLive:
			c.Live++
			if x.inactive {
				c.Inactive++
			}
		case stateHibernated:
			c.Hibernated++
		}
		if x.state == stateLive || x.state == stateHibernated {
			n := x.out.len()
			c.Unacked += n
			c.MaxUnacked = max(c.MaxUnacked, n)
			if x.held != nil {
				c.Held += x.held.len()
			}
		}
		x.mu.Unlock()
	}
	s.mu.Lock()
	live := make([]*Session, 0, s.conns.Len())
	for conn := range s.conns.All() {
		live = append(live, conn.sess.Load())
	}
	s.mu.Unlock()
	for _, x := range live {
		count(x)
	}
	for _, x := range s.reg.sessions() {
		count(x)
	}
	return c
}
