package server

import "dormouse.im/dormouse/session"

// SessionsForTest returns the client session server, for stream
// management tests that inject a clock, tune limits or read statistics
// between New and Start.
func (s *Server) SessionsForTest() *session.Server { return s.c2s }
