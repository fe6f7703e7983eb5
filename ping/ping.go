package ping

import (
	"context"
	"log/slog"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
)

// NS is the XMPP Ping namespace and disco#info feature.
const NS = "urn:xmpp:ping"

// Config configures the ping service. It has no options yet; the zero value
// is ready to use.
type Config struct{}

// Service answers pings addressed to the server.
type Service struct {
	log *slog.Logger
}

// New returns a ping service. log may be nil.
func New(_ Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{log: log.With("xep", "0199")}
}

// Register adds the ping handler and its disco#info feature to m.
func (s *Service) Register(m *router.Mux) {
	m.HandleIQ(router.ToServer, NS, "ping", s.handle)
	m.AddFeature(router.ToServer, NS)
}

func (s *Service) handle(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "a ping is an IQ get")
	}
	return iq.Result(nil), nil
}
