package presence

import "mellium.im/xmpp/jid"

// Moved is what the service remembers of a resource whose session moves
// to another node of a cluster (a XEP-0198 resumption there).
type Moved struct {
	Available bool      // broadcast available presence
	Directed  []jid.JID // recipients of its directed available presence
}

// MoveOut forgets the resource full, whose session moved to another node,
// and returns its state for MoveIn there. No presence is sent: for its
// contacts the resource stays available.
func (s *Service) MoveOut(full jid.JID) Moved {
	s.mu.Lock()
	rs := s.resources[full.String()]
	delete(s.resources, full.String())
	s.mu.Unlock()
	var m Moved
	if rs == nil {
		return m
	}
	m.Available = rs.available
	for _, j := range rs.directed {
		m.Directed = append(m.Directed, j)
	}
	return m
}

// MoveIn records the state of the resource full, whose session moved here
// from another node (MoveOut there), so that its end sends its unavailable
// presence as if it had never moved.
func (s *Service) MoveIn(full jid.JID, m Moved) {
	rs := &resourceState{available: m.Available}
	if len(m.Directed) > 0 {
		rs.directed = make(map[string]jid.JID, len(m.Directed))
		for _, j := range m.Directed {
			rs.directed[j.String()] = j
		}
	}
	s.mu.Lock()
	s.resources[full.String()] = rs
	s.mu.Unlock()
}
