package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"dormouse.im/dormouse/muc"
)

// registerMUC builds the multi-user chat service ([muc]), brings back its
// persistent rooms and routes its domain to it.
func (s *Server) registerMUC(ctx context.Context, secret []byte) error {
	if !s.cfg.MUC.Enabled {
		return nil
	}
	// Occupant ids (XEP-0421) stay the same across restarts: keyed by a
	// key derived from the server's persistent secret.
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("dormouse muc occupant-id"))
	c := s.cfg.MUC
	svc, err := muc.New(muc.Config{
		Domain:          s.cfg.MUCDomain(),
		MaxOccupants:    c.MaxOccupants,
		MaxRoomsPerUser: c.MaxRoomsPerUser,
		History:         c.History,
		MaxHistory:      c.MaxHistory,
		Default:         muc.RoomConfig{Archiving: c.Archive},
		PushMembers:     c.PushMembers,
		// Notifier: the push service, once merged (it implements
		// muc.Notifier: MemberMessage queues a publish for the member's
		// devices with the room as last-message-sender).
		Secret: mac.Sum(nil),
	}, s.Stores.MUC, s.Router, s.log.With("component", "muc"))
	if err != nil {
		return fmt.Errorf("server: muc: %w", err)
	}
	if err := svc.Load(ctx); err != nil {
		return fmt.Errorf("server: muc: %w", err)
	}
	if err := s.Router.AddService(svc.Domain(), svc.Name(), svc); err != nil {
		return fmt.Errorf("server: muc at %s: %w", svc.Domain(), err)
	}
	s.muc = svc
	return nil
}
