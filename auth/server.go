package auth

import (
	"context"
	"crypto/sha1" // #nosec G505 -- SCRAM-SHA-1 is a required mechanism (RFC 6120 §13.8.3).
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// Mechanism is the name of a SASL mechanism.
type Mechanism string

// The mechanisms Server implements.
const (
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	ScramSHA1   Mechanism = "SCRAM-SHA-1"
	Plain       Mechanism = "PLAIN"

	// The channel-binding variants (RFC 5802 §6), offered only where the
	// caller has channel-binding data (see ChannelBindings).
	ScramSHA256Plus Mechanism = "SCRAM-SHA-256-PLUS"
	ScramSHA1Plus   Mechanism = "SCRAM-SHA-1-PLUS"
)

// Channel-binding types the server can verify.
const (
	CBTLSExporter       = "tls-exporter"         // RFC 9266 (TLS 1.3)
	CBTLSServerEndPoint = "tls-server-end-point" // RFC 5929 §4
)

// PlusMechanisms returns the channel-binding mechanisms, strongest first.
// Offer them only with ChannelBindings data for the connection.
func PlusMechanisms() []Mechanism {
	return []Mechanism{ScramSHA256Plus, ScramSHA1Plus}
}

// Mechanisms returns the supported mechanisms in the order they should be
// offered, strongest first: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN.
//
// The caller must leave PLAIN out of the offer unless the stream is protected
// by TLS: PLAIN sends the password itself.
func Mechanisms() []Mechanism {
	return []Mechanism{ScramSHA256, ScramSHA1, Plain}
}

// MaxMessageSize is the largest client message, after base64 decoding, that
// Server.Step accepts. Larger messages fail with malformed-request.
const MaxMessageSize = 4096

// Lookup fetches the credentials of a user. username is the SASL authcid the
// client sent, decoded from SCRAM's =2C/=3D escaping and prepared as a JID
// localpart (PRECIS UsernameCaseMapped, RFC 7622), so it is canonical and the
// account name is username + "@" + domain. Lookup is not called for names
// that cannot be prepared.
//
// Lookup returns an error wrapping ErrNotFound for unknown users. Any other
// error makes the exchange fail with temporary-auth-failure.
type Lookup func(ctx context.Context, username string) (Credentials, error)

// Option configures a Server.
type Option func(*config)

type config struct {
	domain       string
	secret       []byte
	iter         int
	beforeVerify func(ctx context.Context, username string) error
	cb           map[string][]byte // channel-binding type → data
	ssdp         []byte            // XEP-0474 string S; nil: no "h" attribute
}

// ChannelBindings gives the channel-binding data of the connection by type
// (CBTLSExporter, CBTLSServerEndPoint). With a non-empty map the server
// supports channel binding: a -PLUS exchange must use one of these types
// with matching data, and a client that says it supports channel binding
// but thinks the server does not (GS2 flag "y") is refused as a downgrade
// (RFC 5802 §6). Without it, -PLUS mechanisms fail with invalid-mechanism.
func ChannelBindings(cb map[string][]byte) Option {
	return func(c *config) { c.cb = cb }
}

// DowngradeProtection makes SCRAM server-first-messages carry the XEP-0474
// (version 0.5) attribute h: the hash of the advertised mechanisms and,
// if XEP-0440 advertised them, channel-binding types (cbTypes nil: not
// advertised), so a client detects a man in the middle who edited either
// list.
func DowngradeProtection(mechs []Mechanism, cbTypes []string) Option {
	return func(c *config) { c.ssdp = SSDPString(mechs, cbTypes) }
}

// Domain sets the domain the server authenticates users of. It is required.
// An authzid is accepted only if it is the bare JID username@domain of the
// user being authenticated (compared after JID canonicalization).
func Domain(domain string) Option {
	return func(c *config) { c.domain = domain }
}

// Secret sets the server-wide secret from which the fake salts (and keys)
// used for unknown users are derived. It should be at least 32 random bytes,
// generated once and kept (for example in the configuration or database), so
// that a SCRAM client sees the same salt for an unknown user on every attempt
// and across restarts, as it would for an existing one.
//
// Without Secret the fake salts are derived from the domain only: they are
// stable, but someone who knows this code can compute them and tell unknown
// users from existing ones. Set a Secret in production.
func Secret(key []byte) Option {
	return func(c *config) { c.secret = append([]byte(nil), key...) }
}

// UnknownUserIterations sets the iteration count sent to SCRAM clients for
// unknown users (and used to check PLAIN passwords against fake keys). It
// should be the count real accounts are created with; the default is
// DefaultIterations. It must be in [1, MaxIterations].
func UnknownUserIterations(n int) Option {
	return func(c *config) { c.iter = n }
}

// BeforeVerify sets a function called once per exchange, just before the
// password or SCRAM proof is checked, with the username as returned by
// Server.Authcid (also for unknown users). It is meant for throttling: it may wait, for example for
// Throttle.Delay, honouring ctx. If it returns an error the exchange fails
// with temporary-auth-failure wrapping that error.
func BeforeVerify(f func(ctx context.Context, username string) error) Option {
	return func(c *config) { c.beforeVerify = f }
}

// serverState is the position of a Server in its exchange.
type serverState uint8

const (
	stateStart        serverState = iota // nothing received
	stateAwaitInitial                    // sent an empty challenge, waiting for the first message
	stateAwaitFinal                      // SCRAM: sent server-first-message
	stateDone                            // succeeded
	stateFailed                          // failed
)

// Server runs the server side of one SASL exchange. It is not safe for
// concurrent use; an exchange belongs to one stream.
type Server struct {
	mech   Mechanism
	h      func() hash.Hash
	lookup Lookup
	cfg    config

	state    serverState
	authcid  string // prepared (or, if preparation failed, raw) authcid
	username string // set on success

	// SCRAM state between the two client messages.
	keys            Keys
	known           bool // keys are the user's, not fake
	gs2Header       []byte
	cbData          []byte // the channel-binding data the client bound to
	clientFirstBare []byte
	serverFirst     []byte
	nonce           []byte // client nonce + server nonce
}

// NewServer returns a Server for one exchange of mechanism mech, fetching
// credentials with lookup. The Domain option is required.
//
// An unsupported mechanism gives a *Failure with condition invalid-mechanism,
// suitable for the client; configuration mistakes give other errors.
func NewServer(mech Mechanism, lookup Lookup, opts ...Option) (*Server, error) {
	s := &Server{mech: mech, lookup: lookup, cfg: config{iter: DefaultIterations}}
	switch mech {
	case ScramSHA256, ScramSHA256Plus:
		s.h = sha256.New
	case ScramSHA1, ScramSHA1Plus:
		s.h = sha1.New
	case Plain:
		s.h = sha256.New // PLAIN prefers the SHA-256 keys
	default:
		return nil, &Failure{Condition: ConditionInvalidMechanism, Text: "unsupported mechanism"}
	}
	if lookup == nil {
		return nil, errors.New("auth: NewServer: nil Lookup")
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.domain == "" {
		return nil, errors.New("auth: NewServer: no domain (use auth.Domain)")
	}
	if s.plus() && len(s.cfg.cb) == 0 {
		return nil, &Failure{Condition: ConditionInvalidMechanism, Text: "no channel binding on this connection"}
	}
	d, err := jid.New("", s.cfg.domain, "")
	if err != nil {
		return nil, fmt.Errorf("auth: NewServer: invalid domain %q: %w", s.cfg.domain, err)
	}
	s.cfg.domain = d.Domainpart()
	if s.cfg.iter < 1 || s.cfg.iter > MaxIterations {
		return nil, fmt.Errorf("auth: NewServer: unknown-user iteration count %d out of range [1, %d]", s.cfg.iter, MaxIterations)
	}
	if len(s.cfg.secret) == 0 {
		s.cfg.secret = hashSum(sha256.New, []byte("dormouse auth default secret\x00"+s.cfg.domain))
	}
	return s, nil
}

// Step processes one client message and returns what to send back.
//
// msg is the client's data after base64 decoding: the initial response of
// <auth/> or the content of <response/>. An empty msg as the first message
// means the client sent no initial response (RFC 6120 §6.4.2); Step then
// returns an empty, non-nil challenge, to be sent as an empty <challenge/>,
// and expects the first message in the next call. (Neither SCRAM nor PLAIN
// has a valid zero-length initial response, so the distinction between none
// and "=" does not matter.)
//
// While the exchange goes on, Step returns the challenge and done == false.
// When it succeeds, Step returns done == true and the additional data to put
// in <success/>: the SCRAM server-final-message ("v=..."), or nil for PLAIN
// (send an empty <success/>). When it fails, Step returns an error, always a
// *Failure; the exchange is then over, as it is after success, and further
// calls fail with malformed-request.
func (s *Server) Step(ctx context.Context, msg []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case stateDone, stateFailed:
		return nil, false, &Failure{Condition: ConditionMalformedRequest, Text: "exchange already finished"}
	}
	if len(msg) > MaxMessageSize {
		return s.fail(ConditionMalformedRequest, "message too large", nil)
	}
	switch s.state {
	case stateStart:
		if len(msg) == 0 {
			s.state = stateAwaitInitial
			return []byte{}, false, nil
		}
		fallthrough
	case stateAwaitInitial:
		if s.mech == Plain {
			return s.plain(ctx, msg)
		}
		return s.scramFirst(ctx, msg)
	default: // stateAwaitFinal
		return s.scramFinal(ctx, msg)
	}
}

// plus reports whether the mechanism is a channel-binding one.
func (s *Server) plus() bool { return s.mech == ScramSHA256Plus || s.mech == ScramSHA1Plus }

// Username returns the authenticated username, prepared as a JID localpart,
// after the exchange succeeded, and "" before or after failure.
func (s *Server) Username() string {
	return s.username
}

// Authcid returns the username the client tried to authenticate as,
// prepared like Username (or as sent if it cannot be prepared), as soon as
// the message carrying it has been parsed, whether or not authentication
// succeeds; "" before. It is meant for throttling and logs: it is not an
// authenticated identity.
func (s *Server) Authcid() string {
	return s.authcid
}

// Mechanism returns the exchange's mechanism.
func (s *Server) Mechanism() Mechanism {
	return s.mech
}

// fail ends the exchange with a failure.
func (s *Server) fail(condition, text string, cause error) ([]byte, bool, error) {
	s.state = stateFailed
	s.forget()
	return nil, false, &Failure{Condition: condition, Text: text, Err: cause}
}

// notAuthorized ends the exchange with the failure shared by wrong passwords
// and unknown users.
func (s *Server) notAuthorized() ([]byte, bool, error) {
	return s.fail(ConditionNotAuthorized, "", nil)
}

// forget drops the exchange state.
func (s *Server) forget() {
	s.keys = Keys{}
	s.known = false
	s.gs2Header, s.clientFirstBare, s.serverFirst, s.nonce, s.cbData = nil, nil, nil, nil, nil
}

// prepareUsername prepares an authcid as a JID localpart of the server's
// domain. ok is false if it cannot be.
func (s *Server) prepareUsername(authcid string) (user jid.JID, ok bool) {
	j, err := jid.New(authcid, s.cfg.domain, "")
	if err != nil || j.Localpart() == "" {
		return jid.JID{}, false
	}
	return j, true
}

// authzidAllowed reports whether the client may act as authzid when
// authenticated as user: only its own bare JID is allowed.
func authzidAllowed(authzid string, user jid.JID, userOK bool) bool {
	if !userOK || !utf8.ValidString(authzid) {
		return false
	}
	a, err := jid.Parse(authzid)
	if err != nil || a.Resourcepart() != "" {
		return false
	}
	return a.Equal(user)
}

// credentials runs the lookup for a (prepared) username and picks the keys
// for hash h, or fallback if the h keys are not usable and fallback is not
// nil. known is false (and keys fake) for unknown users and unusable
// credentials. A non-nil error is a lookup failure other than ErrNotFound.
func (s *Server) credentials(ctx context.Context, username string, userOK bool, fallback func() hash.Hash) (keys Keys, known bool, err error) {
	// Derived in every case, so that unknown users cost the same.
	fake := s.fakeKeys(username)
	if userOK {
		c, err := s.lookup(ctx, username)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return Keys{}, false, fmt.Errorf("looking up credentials of %q: %w", username, err)
		default:
			if k := pickKeys(c, s.h); k.validFor(s.h().Size()) {
				return k, true, nil
			}
			if fallback != nil {
				if k := pickKeys(c, fallback); k.validFor(fallback().Size()) {
					s.h = fallback
					return k, true, nil
				}
			}
		}
	}
	return fake, false, nil
}

// pickKeys returns the keys of c for the hash function h.
func pickKeys(c Credentials, h func() hash.Hash) Keys {
	if h().Size() == sha1.Size {
		return c.SHA1
	}
	return c.SHA256
}

// fakeKeys returns stable, secret-derived keys for an unknown user, shaped
// like real ones for the server's hash.
func (s *Server) fakeKeys(username string) Keys {
	size := s.h().Size()
	derive := func(label string) []byte {
		return hmacSum(sha256.New, s.cfg.secret, []byte("dormouse auth unknown user\x00"+label+"\x00"+fmt.Sprint(size)+"\x00"+username))
	}
	return Keys{
		Salt:      derive("salt")[:SaltSize],
		Iter:      s.cfg.iter,
		StoredKey: derive("stored key")[:size],
		ServerKey: derive("server key")[:size],
	}
}

// runBeforeVerify calls the BeforeVerify hook, if any.
func (s *Server) runBeforeVerify(ctx context.Context, username string) error {
	if s.cfg.beforeVerify == nil {
		return nil
	}
	if err := s.cfg.beforeVerify(ctx, username); err != nil {
		return fmt.Errorf("before verify: %w", err)
	}
	return nil
}

// succeed ends the exchange successfully.
func (s *Server) succeed(username string, data []byte) ([]byte, bool, error) {
	s.state = stateDone
	s.username = username
	s.forget()
	return data, true, nil
}
