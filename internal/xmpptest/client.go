// Package xmpptest is a small, strict XMPP client for tests and the load
// tool: it speaks the wire protocol itself (STARTTLS or direct TLS, SASL
// SCRAM through mellium.im/sasl's client, resource binding) so tests drive
// the server over real sockets exactly as a client would.
package xmpptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/sasl"
)

// Options for Dial.
type Options struct {
	Addr      string // host:port
	Domain    string // stream 'to'
	User      string // localpart
	Password  string
	Resource  string // "" lets the server choose
	DirectTLS bool   // XEP-0368 instead of STARTTLS
	// Secure: the connection Dial opens is secure already (XMPP over a
	// WebSocket over HTTPS, RFC 7395): no TLS negotiation.
	Secure    bool
	TLS       *tls.Config // nil: InsecureSkipVerify with ServerName = Domain
	Mechanism string      // "SCRAM-SHA-256" (default), "SCRAM-SHA-1", "PLAIN"
	NoBind    bool        // stop after authentication
	noAuth    bool        // stop after TLS
	Timeout   time.Duration

	// SM enables XEP-0198 with resumption after binding (<enable
	// resume='true'/>, with max='SMMax' if SMMax > 0); Dial fails if the
	// server does not answer <enabled/>.
	SM    bool
	SMMax int
	// Resume resumes that session instead of binding (see Resume).
	Resume *SMState
	// SASL2, if set, logs in with XEP-0388 (and Bind 2, inline
	// resumption, FAST as it says) instead of RFC 6120 SASL and bind.
	SASL2 *SASL2Options
	// SCRAM, if set, uses the client's own SCRAM (for -PLUS mechanisms,
	// tampering and XEP-0474 checks) with Mechanism.
	SCRAM *SCRAMOptions
	// Dial, if set, opens the TCP connection (to wrap or delay it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a connected test client. Its methods are not safe for
// concurrent use, except Send.
type Client struct {
	Conn     net.Conn
	Raw      net.Conn // the TCP connection under Conn
	Dec      *xml.Decoder
	JID      string // bound full JID
	Features *xml.Element
	// SM is the client side of XEP-0198 once enabled or resumed (nil
	// otherwise). Next counts the stanzas it returns, answers the server's
	// <r/> and processes its <a/> (neither is returned) unless ManualSM is
	// set.
	SM       *SMState
	ManualSM bool
	// After a SASL2 login: the <success/> element, the FAST token it
	// carried, and the <failed/> of an inline resumption.
	Success       *xml.Element
	Token         *FastToken
	ResumeFailure *ResumeFailed
	wmu           sync.Mutex
	frozen        bool // guarded by wmu: SendStanzaPartial was called, writes fail
	timeout       time.Duration
	pending       []*xml.Element // read during negotiation, returned first by Next
}

// Dial connects, negotiates TLS, authenticates and binds.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Mechanism == "" {
		o.Mechanism = "SCRAM-SHA-256"
	}
	tcfg := o.TLS
	if tcfg == nil {
		tcfg = &tls.Config{InsecureSkipVerify: true, ServerName: o.Domain, MinVersion: tls.VersionTLS12}
	}
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	c := &Client{Conn: nc, Raw: nc, timeout: o.Timeout}
	if o.DirectTLS {
		tc := tls.Client(nc, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		c.Conn = tc
	}
	c.Dec = xml.NewDecoder(c.Conn, xml.Limits{})
	fail := func(err error) (*Client, error) { c.Conn.Close(); return nil, err }
	if err := c.Open(o.Domain); err != nil {
		return fail(err)
	}
	if !o.DirectTLS && !o.Secure {
		if c.Features.Child(stream.NSTLS, "starttls") == nil {
			return fail(errors.New("xmpptest: no STARTTLS offered"))
		}
		if err := c.SendRaw("<starttls xmlns='" + stream.NSTLS + "'/>"); err != nil {
			return fail(err)
		}
		el, err := c.Next()
		if err != nil {
			return fail(err)
		}
		if el.Name.Local != "proceed" {
			return fail(fmt.Errorf("xmpptest: starttls: got %s", el))
		}
		tc := tls.Client(nc, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		c.Conn = tc
		c.Dec.Reset(tc)
		if err := c.Open(o.Domain); err != nil {
			return fail(err)
		}
	}
	if o.noAuth {
		return c, nil
	}
	if o.SASL2 != nil {
		if err := c.AuthSASL2(o); err != nil {
			var af *AuthFailure
			if errors.As(err, &af) {
				return c, err // the stream goes on
			}
			return fail(err)
		}
		return c, nil
	}
	if o.SCRAM != nil {
		if err := c.AuthSCRAM(o); err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				return c, err // the stream goes on
			}
			return fail(err)
		}
	} else if err := c.Auth(o.Mechanism, o.User, o.Password); err != nil {
		return fail(err)
	}
	if err := c.Open(o.Domain); err != nil {
		return fail(err)
	}
	if o.Resume != nil {
		if err := c.resume(o.Resume); err != nil {
			var rf *ResumeFailed
			if errors.As(err, &rf) {
				return c, err // the stream goes on: the caller may bind
			}
			return fail(err)
		}
		return c, nil
	}
	if o.NoBind {
		return c, nil
	}
	if err := c.Bind(o.Resource); err != nil {
		return fail(err)
	}
	if o.SM {
		if err := c.EnableSM(true, o.SMMax); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// DialTLSOnly connects and negotiates STARTTLS but does not authenticate
// (for XEP-0077 registration tests).
func DialTLSOnly(ctx context.Context, o Options) (*Client, error) {
	o.noAuth = true
	return Dial(ctx, o)
}

// Open sends a stream header and reads the server's header and features.
func (c *Client) Open(domain string) error {
	if err := c.SendRaw("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" + domain + "' version='1.0'>"); err != nil {
		return err
	}
	c.deadline()
	if _, err := c.Dec.Header(); err != nil {
		return err
	}
	f, err := c.Next()
	if err != nil {
		return err
	}
	if f.Name.Space != stream.NS || f.Name.Local != "features" {
		return fmt.Errorf("xmpptest: expected features, got %s", f)
	}
	c.Features = f
	return nil
}

// AuthError is a SASL failure.
type AuthError struct{ Condition string }

func (e *AuthError) Error() string { return "xmpptest: sasl failure: " + e.Condition }

// newNegotiator starts a mellium.im/sasl client exchange of mech and
// returns its first message.
func newNegotiator(mech, user, password string) (*sasl.Negotiator, []byte, error) {
	var m sasl.Mechanism
	switch mech {
	case "SCRAM-SHA-256":
		m = sasl.ScramSha256
	case "SCRAM-SHA-1":
		m = sasl.ScramSha1
	case "PLAIN":
		m = sasl.Plain
	default:
		return nil, nil, fmt.Errorf("xmpptest: unknown mechanism %s", mech)
	}
	neg := sasl.NewClient(m, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), nil
	}))
	_, resp, err := neg.Step(nil)
	return neg, resp, err
}

// failureCondition is the condition of a SASL <failure/>.
func failureCondition(el *xml.Element) string {
	if f := el.FirstChild(); f != nil {
		return f.Name.Local
	}
	return ""
}

// Auth runs a SASL exchange.
func (c *Client) Auth(mech, user, password string) error {
	neg, resp, err := newNegotiator(mech, user, password)
	if err != nil {
		return err
	}
	if err := c.SendRaw("<auth xmlns='" + stream.NSSASL + "' mechanism='" + mech + "'>" + base64.StdEncoding.EncodeToString(resp) + "</auth>"); err != nil {
		return err
	}
	for {
		el, err := c.Next()
		if err != nil {
			return err
		}
		switch el.Name.Local {
		case "challenge":
			ch, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return err
			}
			_, resp, err := neg.Step(ch)
			if err != nil {
				return err
			}
			if err := c.SendRaw("<response xmlns='" + stream.NSSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>"); err != nil {
				return err
			}
		case "success":
			if t := el.Text(); t != "" && neg.State()&sasl.StepMask != sasl.ValidServerResponse {
				ch, err := base64.StdEncoding.DecodeString(t)
				if err != nil {
					return err
				}
				if _, _, err := neg.Step(ch); err != nil {
					return fmt.Errorf("xmpptest: server signature: %w", err)
				}
			}
			c.Dec.Reset(c.Conn)
			return nil
		case "failure":
			return &AuthError{Condition: failureCondition(el)}
		default:
			return fmt.Errorf("xmpptest: unexpected %s", el)
		}
	}
}

// AuthSCRAM runs an RFC 6120 SASL exchange with the client's own SCRAM
// (o.Mechanism, o.SCRAM), checking XEP-0474 against c.Features.
func (c *Client) AuthSCRAM(o Options) error {
	sc, err := newSCRAM(o.Mechanism, o.User, o.Password, c.Conn, c.Features, false, o.SCRAM)
	if err != nil {
		return err
	}
	if err := c.SendRaw("<auth xmlns='" + stream.NSSASL + "' mechanism='" + o.Mechanism + "'>" + base64.StdEncoding.EncodeToString(sc.initial()) + "</auth>"); err != nil {
		return err
	}
	for {
		el, err := c.Next()
		if err != nil {
			return err
		}
		var data []byte
		if el.Name.Local == "challenge" || el.Name.Local == "success" {
			if data, err = base64.StdEncoding.DecodeString(el.Text()); err != nil {
				return err
			}
		}
		switch el.Name.Local {
		case "challenge":
			resp, err := sc.final(data)
			if err != nil {
				return err
			}
			if err := c.SendRaw("<response xmlns='" + stream.NSSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>"); err != nil {
				return err
			}
		case "success":
			if err := sc.verify(data); err != nil {
				return err
			}
			c.Dec.Reset(c.Conn)
			return nil
		case "failure":
			return &AuthError{Condition: failureCondition(el)}
		default:
			return fmt.Errorf("xmpptest: unexpected %s", el)
		}
	}
}

// Bind binds a resource.
func (c *Client) Bind(resource string) error {
	r := ""
	if resource != "" {
		r = "<resource>" + resource + "</resource>"
	}
	if err := c.SendRaw("<iq type='set' id='bind1'><bind xmlns='" + stream.NSBind + "'>" + r + "</bind></iq>"); err != nil {
		return err
	}
	el, err := c.Next()
	if err != nil {
		return err
	}
	if el.AttrValue("type") != "result" {
		return fmt.Errorf("xmpptest: bind failed: %s", el)
	}
	c.JID = el.Child(stream.NSBind, "bind").ChildText(stream.NSBind, "jid")
	return nil
}

var errFrozen = errors.New("xmpptest: connection frozen by SendStanzaPartial")

// SendRaw writes raw XML.
func (c *Client) SendRaw(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.frozen {
		return errFrozen
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.Conn.Write([]byte(s))
	return err
}

// Sendf formats and writes raw XML.
func (c *Client) Sendf(format string, args ...any) error {
	return c.SendRaw(fmt.Sprintf(format, args...))
}

func (c *Client) deadline() { _ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout)) }

// Next reads the next top-level element (with the client's timeout). With
// XEP-0198 enabled it counts stanzas and, unless ManualSM, answers <r/>
// and processes <a/> without returning them.
func (c *Client) Next() (*xml.Element, error) {
	for {
		var el *xml.Element
		if len(c.pending) > 0 {
			el = c.pending[0]
			c.pending = c.pending[1:]
		} else {
			c.deadline()
			var err error
			if el, err = c.Dec.Next(); err != nil {
				return nil, err
			}
		}
		if c.SM == nil {
			return el, nil
		}
		if isStanza(el) {
			c.SM.received()
			return el, nil
		}
		if c.ManualSM || el.Name.Space != NSSM {
			return el, nil
		}
		switch el.Name.Local {
		case "r":
			if err := c.SendRaw(fmt.Sprintf("<a xmlns='%s' h='%d'/>", NSSM, c.SM.Received())); err != nil {
				return nil, err
			}
		case "a":
			h, err := strconv.ParseUint(el.AttrValue("h"), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("xmpptest: bad <a/>: %s", el)
			}
			if err := c.SM.acked(uint32(h)); err != nil {
				return nil, err
			}
		default:
			return el, nil
		}
	}
}

func isStanza(el *xml.Element) bool {
	return el.Name.Space == "jabber:client" && (el.Name.Local == "message" || el.Name.Local == "presence" || el.Name.Local == "iq")
}

// Expect reads elements until one satisfies match, returning it; other
// elements are returned in skipped. It fails after the timeout.
func (c *Client) Expect(match func(*xml.Element) bool) (el *xml.Element, skipped []*xml.Element, err error) {
	for {
		el, err := c.Next()
		if err != nil {
			return nil, skipped, err
		}
		if match(el) {
			return el, skipped, nil
		}
		skipped = append(skipped, el)
	}
}

// IQ sends an iq and waits for the response with the same id, skipping
// other elements.
func (c *Client) IQ(id, xmlText string) (*xml.Element, error) {
	if err := c.SendStanza(xmlText); err != nil {
		return nil, err
	}
	el, _, err := c.Expect(func(e *xml.Element) bool {
		return e.Name.Local == "iq" && e.AttrValue("id") == id &&
			(e.AttrValue("type") == "result" || e.AttrValue("type") == "error")
	})
	return el, err
}

// NoMore asserts that nothing arrives within d (it returns the element that
// did arrive, if any).
func (c *Client) NoMore(d time.Duration) *xml.Element {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	el, err := c.Dec.Next()
	if err != nil {
		return nil
	}
	return el
}

// Close ends the stream politely and closes the connection.
func (c *Client) Close() error {
	_ = c.SendRaw(stream.Close)
	return c.Conn.Close()
}

// ErrorCondition returns the stanza error condition of an error stanza.
func ErrorCondition(el *xml.Element) string {
	e := el.Child("jabber:client", "error")
	for _, c := range e.Elements() {
		if c.Name.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	return ""
}

// StreamErrorCondition returns the condition of a <stream:error/>.
func StreamErrorCondition(el *xml.Element) string {
	if el == nil || el.Name.Local != "error" || el.Name.Space != stream.NS {
		return ""
	}
	for _, c := range el.Elements() {
		if c.Name.Space == stream.NSErrors && c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	return ""
}

// Contains reports whether the serialized element contains s.
func Contains(el *xml.Element, s string) bool {
	return el != nil && bytes.Contains(el.AppendXML(nil, "jabber:client"), []byte(s))
}
