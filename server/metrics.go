package server

import (
	"dormouse.im/dormouse/metrics"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
)

// registerCounts exposes the counts the features keep (metrics are read
// at scrape time; see package metrics).
func (s *Server) registerCounts() {
	m, off, arch := s.Metrics, s.offline, s.MAM
	m.CounterVecFunc("offline_messages_total", "Offline messages (XEP-0160) stored and delivered.", "event",
		[]string{"stored", "delivered"}, func() []float64 {
			st := off.Stats()
			return []float64{float64(st.Stored), float64(st.Delivered)}
		})
	m.CounterFunc("archived_messages_total", "Messages written to archives (XEP-0313); a message between two local users counts twice.",
		func() float64 { return float64(arch.Stats().Archived) })
}

// registerSessionMetrics exposes the client sessions' counters.
func (s *Server) registerSessionMetrics() {
	m, c := s.Metrics, s.c2s
	m.CounterVecFunc("logins_total", "SASL authentications of client streams, by result (success, failure).", "result",
		[]string{"success", "failure"}, func() []float64 {
			st := c.Stats()
			return []float64{float64(st.Logins), float64(st.LoginFailures)}
		})
	m.GaugeFunc("c2s_connections", "Open client connections.", func() float64 { return float64(c.Count()) })
	m.CounterVecFunc("c2s_stanzas_out_total", "Stanzas queued for writing to clients, by kind.", "kind",
		[]string{"message", "presence", "iq"}, func() []float64 {
			by := c.Stats().StanzasOutBy
			return []float64{float64(by[stanza.KindMessage]), float64(by[stanza.KindPresence]), float64(by[stanza.KindIQ])}
		})
	m.GaugeGroup([]metrics.Gauge{
		{Name: "c2s_sessions_live", Help: "Bound client sessions with a connection."},
		{Name: "c2s_sessions_inactive", Help: "Live sessions whose client is inactive (XEP-0352)."},
		{Name: "sm_unacked_stanzas", Help: "Stanzas sent or queued and not yet acknowledged (XEP-0198), all sessions."},
		{Name: "sm_unacked_stanzas_max", Help: "The most unacknowledged stanzas of one session."},
		{Name: "csi_held_stanzas", Help: "Stanzas held back now for inactive or hibernated clients."},
	}, func() []float64 {
		n := c.Census()
		return []float64{float64(n.Live), float64(n.Inactive), float64(n.Unacked), float64(n.MaxUnacked), float64(n.Held)}
	})
	gauges := []struct {
		name, help string
		f          func(session.Stats) float64
	}{
		{"sm_resumable_sessions", "Resumable (XEP-0198) sessions, live or hibernated.", func(st session.Stats) float64 { return float64(st.Resumable) }},
		{"sm_hibernated_sessions", "Hibernated sessions waiting for a resume.", func(st session.Stats) float64 { return float64(st.Hibernated) }},
		{"c2s_parked_connections", "Idle client connections holding no goroutine and no read buffer.", func(st session.Stats) float64 { return float64(st.Parked) }},
	}
	for _, g := range gauges {
		m.GaugeFunc(g.name, g.help, func() float64 { return g.f(c.Stats()) })
	}
	counters := []struct {
		name, help string
		f          func(session.Stats) uint64
	}{
		{"sm_hibernations_total", "Connections lost by resumable sessions.", func(st session.Stats) uint64 { return st.Hibernations }},
		{"sm_resumptions_total", "Successful resumptions.", func(st session.Stats) uint64 { return st.Resumptions }},
		{"sm_resume_failures_total", "Failed resumptions.", func(st session.Stats) uint64 { return st.ResumeFailures }},
		{"sm_remote_resumptions_total", "Resumptions of sessions another cluster node held (in sm_resumptions_total).", func(st session.Stats) uint64 { return st.RemoteResumptions }},
		{"sm_handovers_total", "Sessions given up to another cluster node's resumption.", func(st session.Stats) uint64 { return st.HandedOver }},
		{"sm_timeouts_total", "Hibernated sessions not resumed in time.", func(st session.Stats) uint64 { return st.Timeouts }},
		{"sm_overflows_total", "Hibernated sessions ended because their queue overflowed.", func(st session.Stats) uint64 { return st.Overflows }},
		{"sm_rescued_total", "Messages of ended sessions handed to another resource or offline storage.", func(st session.Stats) uint64 { return st.Rescued }},
		{"sm_rescue_errors_total", "Messages of ended sessions that could not be rescued (lost).", func(st session.Stats) uint64 { return st.RescueErrors }},
		{"c2s_parks_total", "Times an idle client connection parked.", func(st session.Stats) uint64 { return st.Parks }},
		{"csi_held_total", "Stanzas held while a client was inactive (XEP-0352) or hibernated.", func(st session.Stats) uint64 { return st.CSIHeld }},
		{"csi_superseded_total", "Held presence replaced by a newer one.", func(st session.Stats) uint64 { return st.CSISuperseded }},
		{"csi_flushes_total", "Hold queue flushes.", func(st session.Stats) uint64 { return st.CSIFlushes }},
	}
	for _, x := range counters {
		m.CounterFunc(x.name, x.help, func() float64 { return float64(x.f(c.Stats())) })
	}
}
