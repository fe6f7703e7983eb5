package session

import "sync/atomic"

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

	StanzasOut    uint64 // stanzas queued for writing to clients (held ones once flushed)
	CSIHeld       uint64 // stanzas held back while a client was inactive (or hibernated)
	CSISuperseded uint64 // held presence replaced by a newer one from the same contact
	CSIFlushes    uint64 // times a hold queue was flushed

	Parked int64  // connections parked now: no goroutine, no read buffer (park.go)
	Parks  uint64 // times a connection parked
}

type stats struct {
	hibernated, parked                             atomic.Int64
	parks                                          atomic.Uint64
	hibernations, resumptions, resumeFailures      atomic.Uint64
	timeouts, overflows, rescued, rescueErrors     atomic.Uint64
	stanzasOut, csiHeld, csiSuperseded, csiFlushes atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.init()
	st := &s.stats
	return Stats{
		Resumable:      s.reg.len(),
		Hibernated:     st.hibernated.Load(),
		Hibernations:   st.hibernations.Load(),
		Resumptions:    st.resumptions.Load(),
		ResumeFailures: st.resumeFailures.Load(),
		Timeouts:       st.timeouts.Load(),
		Overflows:      st.overflows.Load(),
		Rescued:        st.rescued.Load(),
		RescueErrors:   st.rescueErrors.Load(),
		StanzasOut:     st.stanzasOut.Load(),
		CSIHeld:        st.csiHeld.Load(),
		CSISuperseded:  st.csiSuperseded.Load(),
		CSIFlushes:     st.csiFlushes.Load(),
		Parked:         st.parked.Load(),
		Parks:          st.parks.Load(),
	}
}
