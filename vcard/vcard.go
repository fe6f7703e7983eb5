package vcard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// NS is the vcard-temp namespace and disco#info feature.
const NS = "vcard-temp"

// DefaultMaxSize is the default limit of a serialized vCard: room for a
// photo of about 90 KiB in base64 within the default 256 KiB stanza limit.
const DefaultMaxSize = 128 << 10

// Config configures vCard storage.
type Config struct {
	// MaxSize is the largest serialized vCard accepted, in bytes. Default
	// DefaultMaxSize.
	MaxSize int
}

// Service stores and serves vCards. Its methods are safe for concurrent
// use.
type Service struct {
	cfg   Config
	store Store
	log   *slog.Logger
}

// New returns a vCard service on store. log may be nil.
func New(cfg Config, store Store, log *slog.Logger) *Service {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, store: store, log: log.With("xep", "0054")}
}

// Register adds the vCard handler and its disco#info features to m.
func (s *Service) Register(m *router.Mux) {
	// Public: a vCard is readable by anyone (XEP-0054), so strangers and
	// the JIDs of missing accounts reach the handler too.
	m.HandlePublicIQ(NS, "vCard", s.handle)
	m.AddFeature(router.ToServer, NS)
	m.AddFeature(router.ToAccount, NS)
}

// handle answers a vCard IQ from a requester with relation rel to the
// owner. A stranger gets the same answer for a missing account as for one
// without a vCard (item-not-found), after the same store lookup.
func (s *Service) handle(ctx context.Context, iq *stanza.Stanza, rel router.Relation) (*stanza.Stanza, error) {
	owner := iq.To.Bare()
	if owner.Domainpart() == "" {
		owner = iq.From.Bare()
	}
	if owner.Localpart() == "" {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	own := rel == router.Self
	user := owner.String()

	if iq.Type == stanza.TypeSet {
		if !own {
			return nil, stanza.NewError(stanza.Forbidden, "only the owner may change a vCard")
		}
		card := iq.Payload().AppendXML(nil, "")
		if len(card) > s.cfg.MaxSize {
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("the vCard is larger than %d bytes", s.cfg.MaxSize))
		}
		if err := s.store.SetVCard(ctx, user, card); err != nil {
			return nil, fmt.Errorf("vcard: set %s: %w", user, err)
		}
		return iq.Result(nil), nil
	}

	data, err := s.store.VCard(ctx, user)
	switch {
	case errors.Is(err, ErrNotFound):
		if own {
			return iq.Result(xml.NewElement(NS, "vCard")), nil
		}
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	case err != nil:
		return nil, fmt.Errorf("vcard: get %s: %w", user, err)
	}
	card, err := xml.Parse(data, "")
	if err != nil {
		return nil, fmt.Errorf("vcard: stored vCard of %s: %w", user, err)
	}
	return iq.Result(card), nil
}
