package push

import (
	"context"
	"errors"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/stanza"
)

// handleIQ answers <enable/> and <disable/> (XEP-0357 §5, §6), which a
// client sends to its own account.
func (s *Service) handleIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	user := iq.From.Bare()
	if iq.To.Domainpart() != "" && !iq.To.Bare().Equal(user) {
		return nil, stanza.NewError(stanza.Forbidden, "push notifications are enabled on one's own account")
	}
	if iq.From.Localpart() == "" || iq.From.Resourcepart() == "" {
		return nil, stanza.NewError(stanza.Forbidden, "only a client session can enable push notifications")
	}
	if iq.Type != stanza.TypeSet {
		return nil, stanza.NewError(stanza.BadRequest, "enable and disable are IQ sets")
	}
	p := iq.Payload()
	switch p.Name.Local {
	case "enable":
		req, serr := parseEnable(p, user)
		if serr != nil {
			return nil, serr
		}
		if err := s.enable(ctx, iq.From.Resourcepart(), user.String(), req); err != nil {
			return nil, err
		}
	case "disable":
		app, node, serr := parseDisable(p, user)
		if serr != nil {
			return nil, serr
		}
		if err := s.disableByClient(ctx, user.String(), app.String(), node); err != nil {
			return nil, err
		}
	default:
		return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
	}
	return iq.Result(nil), nil
}

// enable stores a registration for resource and refreshes the cache.
func (s *Service) enable(ctx context.Context, resource, bare string, req enableRequest) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	reg := Registration{
		Account: bare, Resource: resource,
		JID: req.jid.String(), Node: req.node,
		Options:        req.options,
		EncryptKey:     req.key,
		EncryptMaxSize: req.maxSize,
		Since:          s.clock.Now().UTC(),
	}
	removed, err := s.store.Enable(ctx, reg, s.cfg.MaxDevices)
	if err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return stanza.NewError(stanza.ItemNotFound, "no such account")
		}
		return err
	}
	for _, r := range removed {
		s.log.Info("push registration replaced: too many devices", "registration", r, "max_devices", s.cfg.MaxDevices)
	}
	s.log.Debug("push enabled", "registration", reg, "encrypted", req.key != nil)
	return s.refresh(ctx, bare)
}

// disableByClient removes registrations at the client's request.
func (s *Service) disableByClient(ctx context.Context, bare, app, node string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	gone, err := s.store.Disable(ctx, bare, app, node)
	if err != nil {
		return err
	}
	for _, r := range gone {
		s.log.Debug("push disabled by the client", "registration", r)
	}
	return s.refresh(ctx, bare)
}

// refresh rereads the account's registrations into the cache, keeping the
// state of devices that stay. An account left without registrations maps
// to the shared empty entry; one that gets its first a new entry of its
// own (the shared one is never changed).
func (s *Service) refresh(ctx context.Context, bare string) error {
	if _, err := s.load(ctx, bare); err != nil {
		return err
	}
	regs, err := s.store.Registrations(ctx, bare)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[bare]
	switch {
	case a == nil:
		// Evicted meanwhile: the next lookup reads the store.
		return nil
	case !a.loaded():
		// A lookup started after the store write (load returned after
		// any earlier one ended): it reads the registrations as they are.
		return nil
	case a == s.none:
		if len(regs) > 0 {
			a = &account{ready: s.none.ready}
			a.devices = s.devicesLocked(nil, regs)
			s.accounts[bare] = a
		}
		return nil
	}
	a.devices = s.devicesLocked(a.devices, regs)
	if len(a.devices) == 0 {
		s.accounts[bare] = s.none
	}
	return nil
}
