package version

import (
	"context"
	"log/slog"
	"runtime"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// NS is the Software Version namespace and disco#info feature.
const NS = "jabber:iq:version"

// Name is the software name the server reports.
const Name = "Dormouse"

// Config configures the version service.
type Config struct {
	// Version is the server's version, as built (package server passes
	// the build version). Default "unknown".
	Version string
	// ShowOS adds the operating system (runtime.GOOS) to answers. Default
	// false: it helps attackers more than users.
	ShowOS bool
}

// Service answers software version queries addressed to the server.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns a version service. log may be nil.
func New(cfg Config, log *slog.Logger) *Service {
	if cfg.Version == "" {
		cfg.Version = "unknown"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: log.With("xep", "0092")}
}

// Register adds the version handler and its disco#info feature to m.
func (s *Service) Register(m *router.Mux) {
	m.HandleIQ(router.ToServer, NS, "query", s.handle)
	m.AddFeature(router.ToServer, NS)
}

func (s *Service) handle(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "software version is queried with an IQ get")
	}
	q := xml.NewElement(NS, "query")
	q.AddChild(xml.NewElement(NS, "name").AddText(Name))
	q.AddChild(xml.NewElement(NS, "version").AddText(s.cfg.Version))
	if s.cfg.ShowOS {
		q.AddChild(xml.NewElement(NS, "os").AddText(runtime.GOOS))
	}
	return iq.Result(q), nil
}
