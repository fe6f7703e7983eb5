package appserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// resolveApp finds the app a registration names, or the only app of its
// platform.
func (s *Service) resolveApp(p Platform, name string) (*liveApp, error) {
	set := s.apps.current()
	if name != "" {
		la := set.get(name)
		if la == nil || (p != "" && la.app.Platform != p) {
			return nil, fmt.Errorf("%w: %s app %q", errNoApp, p, name)
		}
		return la, nil
	}
	names := set.byPlatform(p)
	switch len(names) {
	case 0:
		return nil, fmt.Errorf("%w: no %s app is configured", errNoApp, p)
	case 1:
		return set.get(names[0]), nil
	}
	return nil, fmt.Errorf("%w: several %s apps (%s); name one in the 'app' field", errNoApp, p, strings.Join(names, ", "))
}

// DeviceRequest is a device registration from a client command or the
// HTTP API.
type DeviceRequest struct {
	Platform Platform
	App      string // "" for the only app of Platform
	Token    string
	Device   string // stable device key (see deviceKey)
	Domain   string // the XMPP server that will publish
	Account  string // bare JID, "" if unknown
}

// RegisterDevice registers (or re-registers) a device and returns its node
// and secret.
func (s *Service) RegisterDevice(ctx context.Context, req DeviceRequest) (Registration, error) {
	la, err := s.resolveApp(req.Platform, req.App)
	if err != nil {
		return Registration{}, err
	}
	now := s.clock.Now()
	r, err := s.store.Register(ctx, Registration{Node: randomString(12), Secret: randomString(18), App: la.app.Name,
		Token: req.Token, Device: req.Device, Domain: req.Domain, Account: req.Account, Created: now, LastUsed: now})
	if err != nil {
		return r, fmt.Errorf("appserver: register: %w", err)
	}
	s.log.Debug("device registered", "registration", r)
	return r, nil
}

// execute runs an ad-hoc command (in a goroutine of its own).
func (s *Service) execute(iq *stanza.Stanza, cmd command) {
	res := xml.NewElement(NSCommands, "command", "node", cmd.node)
	sid := cmd.sessionID
	if sid == "" {
		sid = randomString(9)
	}
	res.SetAttr("sessionid", sid)
	switch {
	case cmd.action == "cancel":
		res.SetAttr("status", "canceled")
		s.reply(iq.Result(res))
		return
	case !cmd.hasForm:
		// First stage: the client asked for the form.
		res.SetAttr("status", "executing")
		res.AddChild(xml.NewElement(NSCommands, "actions", "execute", "complete").AddChild(xml.NewElement(NSCommands, "complete")))
		res.AddChild(commandForm(cmd.node))
		s.reply(iq.Result(res))
		return
	}
	req, serr := registrationRequest(cmd)
	if serr != nil {
		s.replyErr(iq, serr)
		return
	}
	account := iq.From.Bare().String()
	dev := deviceKey(account, req.device, req.muc)
	res.SetAttr("status", "completed")
	if req.unregister {
		n, err := s.store.Unregister(s.ctx, dev)
		if err != nil {
			s.replyErr(iq, err)
			return
		}
		if n == 0 {
			s.replyErr(iq, stanza.NewError(stanza.ItemNotFound, "no such device"))
			return
		}
		s.reply(iq.Result(res))
		return
	}
	r, err := s.RegisterDevice(s.ctx, DeviceRequest{Platform: req.platform, App: req.app, Token: req.token,
		Device: dev, Domain: iq.From.Domainpart(), Account: account})
	if err != nil {
		s.replyErr(iq, registrationError(err))
		return
	}
	res.AddChild(buildForm("result", "", formField{"jid-single", "jid", "", s.cfg.Domain},
		formField{"text-single", "node", "", r.Node}, formField{"text-single", "secret", "", r.Secret}))
	s.reply(iq.Result(res))
}

// registrationError maps RegisterDevice's errors to stanza errors.
func registrationError(err error) error {
	if errors.Is(err, errNoApp) {
		msg := err.Error()
		if strings.Contains(msg, "several") {
			return badPayload(strings.TrimPrefix(msg, errNoApp.Error()+": "))
		}
		return stanza.NewError(stanza.ItemNotFound, strings.TrimPrefix(msg, errNoApp.Error()+": "))
	}
	return err
}
