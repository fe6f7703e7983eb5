package register

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces.
const (
	NS        = "jabber:iq:register"                     // protocol and disco#info feature
	NSFeature = "http://jabber.org/features/iq-register" // stream feature
)

// DefaultMinPasswordLength is the default of Config.MinPasswordLength.
const DefaultMinPasswordLength = 6

// DefaultInstructions are sent with the registration fields.
const DefaultInstructions = "Choose a username and password to register with this server."

// Config configures in-band registration.
type Config struct {
	// Enabled lets anyone create an account in-band, before authentication
	// (see Service.PreAuth). Default false.
	Enabled bool
	// AllowPasswordChange lets authenticated users change their password
	// in-band. The zero value disables it; the server configuration
	// (register.allow_password_change) defaults to true.
	AllowPasswordChange bool
	// MinPasswordLength is the shortest password accepted, in characters.
	// Default DefaultMinPasswordLength.
	MinPasswordLength int
	// Instructions are sent with the registration fields. Default
	// DefaultInstructions.
	Instructions string
	// Iterations is the PBKDF2 iteration count of new credentials. Default
	// auth.DefaultIterations.
	Iterations int
}

// Router is what the service needs from the router; *router.Router
// implements it.
type Router interface {
	// Deliver hands a stanza the service generates to its recipients.
	Deliver(ctx context.Context, st *stanza.Stanza) int
	// Resources returns the bound resources of a bare JID.
	Resources(bare jid.JID) []router.Resource
	// IsLocal reports whether domain is served here.
	IsLocal(domain string) bool
}

// closer is implemented by client sessions (session.Conn).
type closer interface {
	CloseWithError(*stream.Error)
}

// Service implements in-band registration. Its methods are safe for
// concurrent use.
type Service struct {
	cfg      Config
	accounts auth.Store
	r        Router
	log      *slog.Logger
}

// New returns a registration service on the account store, delivering
// through r. log may be nil.
func New(cfg Config, accounts auth.Store, r Router, log *slog.Logger) *Service {
	if cfg.MinPasswordLength <= 0 {
		cfg.MinPasswordLength = DefaultMinPasswordLength
	}
	if cfg.Instructions == "" {
		cfg.Instructions = DefaultInstructions
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, accounts: accounts, r: r, log: log.With("xep", "0077")}
}

// StreamFeature returns the in-band registration stream feature,
// <register xmlns='http://jabber.org/features/iq-register'/>, to offer
// before authentication when Config.Enabled is set.
func StreamFeature() *xml.Element {
	return xml.NewElement(NSFeature, "register")
}

// Register adds the handler for authenticated users to m, and the
// disco#info feature if password changes or registration are enabled.
func (s *Service) Register(m *router.Mux) {
	// The handler is there even when everything is disabled, so that a
	// refusal does not echo the request (and its password) as the router's
	// service-unavailable would.
	m.HandleIQ(router.ToServer, NS, "query", s.handle)
	m.HandleIQ(router.ToAccount, NS, "query", s.handle)
	if s.cfg.AllowPasswordChange || s.cfg.Enabled {
		m.AddFeature(router.ToServer, NS)
	}
}

// errorReply is an IQ error without the request's payload, which may hold a
// password.
func errorReply(iq *stanza.Stanza, e *stanza.Error) *stanza.Stanza {
	r := stanza.Build(stanza.KindIQ, stanza.TypeError, iq.ID, iq.To, iq.From)
	r.El.AddChild(e.Element())
	return r
}

// checkPassword applies the password rules.
func (s *Service) checkPassword(password string) *stanza.Error {
	if utf8.RuneCountInString(password) < s.cfg.MinPasswordLength {
		return stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("the password must have at least %d characters", s.cfg.MinPasswordLength))
	}
	return nil
}

// credentials derives the credentials of a password; the error is a
// *stanza.Error.
func (s *Service) credentials(password string) (auth.Credentials, *stanza.Error) {
	if e := s.checkPassword(password); e != nil {
		return auth.Credentials{}, e
	}
	c, err := auth.NewCredentials(password, s.cfg.Iterations)
	if err != nil {
		return auth.Credentials{}, stanza.NewError(stanza.NotAcceptable, "the password is not acceptable")
	}
	return c, nil
}

// handle answers jabber:iq:register from authenticated users. Its errors
// are replies built with errorReply, never the router's (which would echo
// the request, password included).
func (s *Service) handle(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	user := iq.From.Bare()
	if user.Localpart() == "" || !s.r.IsLocal(user.Domainpart()) {
		return errorReply(iq, stanza.NewError(stanza.Forbidden, "only local users are registered here")), nil
	}
	if iq.To.Localpart() != "" && !iq.To.Bare().Equal(user) {
		return errorReply(iq, stanza.NewError(stanza.Forbidden, "an account is managed by its owner")), nil
	}
	if !s.cfg.AllowPasswordChange && !s.cfg.Enabled {
		return errorReply(iq, stanza.NewError(stanza.NotAllowed, "in-band registration is disabled")), nil
	}
	q := iq.Payload()
	if iq.Type == stanza.TypeGet {
		r := xml.NewElement(NS, "query")
		r.AddChild(xml.NewElement(NS, "registered"))
		r.AddChild(xml.NewElement(NS, "username").AddText(user.Localpart()))
		return iq.Result(r), nil
	}
	if q.Child(NS, "remove") != nil {
		if len(q.Elements()) != 1 {
			return errorReply(iq, stanza.NewError(stanza.BadRequest, "remove must be the only element")), nil
		}
		return s.remove(ctx, iq, user)
	}
	if !s.cfg.AllowPasswordChange {
		return errorReply(iq, stanza.NewError(stanza.NotAllowed, "password changes are disabled")), nil
	}
	return s.changePassword(ctx, iq, user, q), nil
}

// changePassword implements XEP-0077 §3.3.
func (s *Service) changePassword(ctx context.Context, iq *stanza.Stanza, user jid.JID, q *xml.Element) *stanza.Stanza {
	un, pw := q.Child(NS, "username"), q.Child(NS, "password")
	if un == nil || pw == nil {
		return errorReply(iq, stanza.NewError(stanza.BadRequest, "a password change needs username and password"))
	}
	if !sameUser(un.Text(), user) {
		return errorReply(iq, stanza.NewError(stanza.Forbidden, "you can only change your own password"))
	}
	c, e := s.credentials(pw.Text())
	if e != nil {
		return errorReply(iq, e)
	}
	name := user.String()
	if err := s.accounts.SetCredentials(ctx, name, c); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return errorReply(iq, stanza.NewError(stanza.RegistrationRequired, ""))
		}
		s.log.LogAttrs(ctx, slog.LevelError, "password change failed", slog.String("user", name), slog.Any("err", err))
		return errorReply(iq, stanza.NewError(stanza.InternalServerError, ""))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "password changed in-band", slog.String("user", name))
	return iq.Result(nil)
}

// sameUser reports whether username (a localpart, or a bare JID) names
// user.
func sameUser(username string, user jid.JID) bool {
	username = strings.TrimSpace(username)
	var j jid.JID
	var err error
	if strings.ContainsRune(username, '@') {
		j, err = jid.Parse(username)
	} else {
		j, err = jid.New(username, user.Domainpart(), "")
	}
	return err == nil && j.Resourcepart() == "" && j.Equal(user)
}

// remove implements XEP-0077 §3.2.
func (s *Service) remove(ctx context.Context, iq *stanza.Stanza, user jid.JID) (*stanza.Stanza, error) {
	name := user.String()
	if err := s.accounts.DeleteAccount(ctx, name); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return errorReply(iq, stanza.NewError(stanza.RegistrationRequired, "")), nil
		}
		s.log.LogAttrs(ctx, slog.LevelError, "account removal failed", slog.String("user", name), slog.Any("err", err))
		return errorReply(iq, stanza.NewError(stanza.InternalServerError, "")), nil
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "account removed in-band", slog.String("user", name))
	s.r.Deliver(ctx, iq.Result(nil))
	for _, r := range s.r.Resources(user) {
		if c, ok := r.Target.(closer); ok {
			c.CloseWithError(&stream.Error{Condition: stream.NotAuthorized, Text: "the account was removed"})
		}
	}
	return nil, router.ErrAsync
}

// PreAuth answers an IQ on a stream that has not authenticated, for the
// domain host; it implements session.PreAuthHandler. It returns the reply
// (nil for IQ results and errors, which need none).
func (s *Service) PreAuth(ctx context.Context, host string, iq *stanza.Stanza) *stanza.Stanza {
	if iq.Kind != stanza.KindIQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil
	}
	q := iq.Payload()
	if !s.cfg.Enabled || q == nil || q.Name != (xml.Name{Space: NS, Local: "query"}) || len(iq.El.Elements()) != 1 {
		return errorReply(iq, stanza.NewError(stanza.ServiceUnavailable, ""))
	}
	if iq.Type == stanza.TypeGet {
		r := xml.NewElement(NS, "query")
		r.AddChild(xml.NewElement(NS, "instructions").AddText(s.cfg.Instructions))
		r.AddChild(xml.NewElement(NS, "username"))
		r.AddChild(xml.NewElement(NS, "password"))
		return iq.Result(r)
	}
	if q.Child(NS, "remove") != nil {
		return errorReply(iq, stanza.NewError(stanza.UnexpectedRequest, "authenticate to remove an account"))
	}
	username := q.ChildText(NS, "username")
	account, err := jid.New(username, host, "")
	if username == "" || err != nil {
		return errorReply(iq, stanza.NewError(stanza.NotAcceptable, "the username is not valid"))
	}
	c, e := s.credentials(q.ChildText(NS, "password"))
	if e != nil {
		return errorReply(iq, e)
	}
	name := account.String()
	if err := s.accounts.CreateAccount(ctx, name, c); err != nil {
		if errors.Is(err, auth.ErrExists) {
			return errorReply(iq, stanza.NewError(stanza.Conflict, "the username is taken"))
		}
		s.log.LogAttrs(ctx, slog.LevelError, "in-band registration failed", slog.String("user", name), slog.Any("err", err))
		return errorReply(iq, stanza.NewError(stanza.InternalServerError, ""))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "account registered in-band", slog.String("user", name))
	return iq.Result(nil)
}
