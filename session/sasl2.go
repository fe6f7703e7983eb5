package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"slices"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// CarbonsEnabler enables XEP-0280 carbons for a bound resource; Bind 2
// (XEP-0386) calls it for an inline <enable xmlns='urn:xmpp:carbons:2'/>.
type CarbonsEnabler interface {
	EnableCarbons(ctx context.Context, full jid.JID) error
}

// FASTConfig configures XEP-0484 tokens. The zero value of each field is
// replaced by the documented default.
type FASTConfig struct {
	// Expiry is how long a token is valid after it is issued. Default 14
	// days.
	Expiry time.Duration
	// RotateAfter: a FAST login with a token older than this gets a new
	// token in <success/> (the old one stays valid until the new one is
	// used). Default 1 day.
	RotateAfter time.Duration
}

// sasl2Offered reports whether XEP-0388 is offered on this stream: only
// over TLS.
func (c *Conn) sasl2Offered() bool { return c.secure && !c.authed }

// fastOffered reports whether XEP-0484 tokens are offered.
func (c *Conn) fastOffered() bool {
	return c.srv.Tokens != nil && len(c.srv.Config.AuthSecret) > 0
}

// appendSASL2 appends the XEP-0388 <authentication/> feature with the
// inline features that work: Bind 2 (with SM, CSI and, if the server has
// a CarbonsEnabler, carbons), inline SM resumption and FAST.
func (c *Conn) appendSASL2(b []byte) []byte {
	b = append(b, "<authentication xmlns='"+NSSASL2+"'>"...)
	for _, m := range c.mechanisms(true) {
		b = append(b, "<mechanism>"...)
		b = append(b, m...)
		b = append(b, "</mechanism>"...)
	}
	b = append(b, "<inline><bind xmlns='"+NSBind2+"'><inline>"...)
	if c.srv.Carbons != nil {
		b = append(b, "<feature var='"+nsCarbons+"'/>"...)
	}
	b = append(b, "<feature var='"+NSCSI+"'/><feature var='"+NSSM+"'/></inline></bind><sm xmlns='"+NSSM+"'/>"...)
	if c.fastOffered() {
		b = append(b, "<fast xmlns='"+NSFAST+"'>"...)
		for _, m := range auth.TokenMechanisms(c.channelBindings()) {
			b = append(b, "<mechanism>"...)
			b = append(b, m...)
			b = append(b, "</mechanism>"...)
		}
		b = append(b, "</fast>"...)
	}
	return append(b, "</inline></authentication>"...)
}

// sasl2 handles a top-level element of XEP-0388. Success does not restart
// the stream (§2.6.1): the element loop goes on, bound if Bind 2 or an
// inline resumption was asked for.
func (c *Conn) sasl2(el *xml.Element) error {
	if c.authed {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "already authenticated"}
	}
	if !c.secure {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "SASL2 is offered only over TLS"}
	}
	switch el.Name.Local {
	case "authenticate":
	case "next":
		// §2.6.3: tasks are chosen from those the server offered in
		// <continue/>; this server offers none.
		return c.saslFailure(NSSASL2, auth.ConditionMalformedRequest, "feature-not-implemented: no tasks are offered")
	default:
		// <response/> or <abort/> outside an exchange.
		return c.saslFailure(NSSASL2, auth.ConditionAborted, "")
	}
	req, perr := parseAuthenticate(el)
	if perr != nil {
		return c.saslFailure(NSSASL2, perr.cond, perr.text)
	}
	var (
		final []byte
		used  *auth.FastToken
		err   error
	)
	if _, ht := auth.TokenBinding(req.mech); ht {
		var ok bool
		final, used, ok, err = c.fastLogin(req)
		if !ok {
			return err
		}
	} else {
		srv, fail := c.newAuthServer(req.mech, true)
		if fail != "" {
			return c.saslFailure(NSSASL2, fail, "")
		}
		var ok bool
		if final, ok, err = c.exchange(NSSASL2, srv, req.initial); !ok {
			return err
		}
	}
	if req.software != "" || req.device != "" {
		c.log().Info("user agent", "software", req.software, "device", req.device)
	}
	return c.sasl2Success(req, final, used)
}

// sasl2Success sends <success/> with the results of the inline requests:
// a FAST token, an inline resumption (then the queued stanzas follow at
// once) or, if there is none or it failed, Bind 2.
func (c *Conn) sasl2Success(req *authRequest, final []byte, used *auth.FastToken) error {
	head := []byte("<success xmlns='" + NSSASL2 + "'>")
	if len(final) > 0 {
		head = append(head, "<additional-data>"...)
		head = base64.StdEncoding.AppendEncode(head, final)
		head = append(head, "</additional-data>"...)
	}
	tok, err := c.fastAfterLogin(req, used)
	if err != nil {
		c.log().Error("FAST token storage failed", "err", err)
	}
	head = append(head, tok...)
	c.cb = nil // authenticated: the channel-binding data is not needed
	var smFailed []byte
	if r := req.resume; r != nil {
		ok, failed, err := c.resumeSession(r.previd, r.h, func(full jid.JID) ([]byte, []byte) {
			b := appendAuthzID(slices.Clip(head), full.String())
			return b, c.appendAuthedFeatures([]byte("</success>"), true)
		})
		if ok || err != nil {
			return err
		}
		smFailed = failed
	}
	head = append(head, smFailed...)
	if req.bind != nil {
		return c.bind2(req, head)
	}
	bare := c.user + "@" + c.host
	b := appendAuthzID(head, bare)
	b = append(b, "</success>"...)
	c.enqueue(wire.Item{Raw: c.appendAuthedFeatures(b, false)}) // XEP-0388: features follow, no restart
	return nil
}

func appendAuthzID(b []byte, id string) []byte {
	b = append(b, "<authorization-identifier>"...)
	b = xml.AppendEscapedText(b, id)
	return append(b, "</authorization-identifier>"...)
}

// bind2 binds a resource inside SASL2 (XEP-0386) with the inline features
// asked for, and sends <success/> (head is its beginning) with <bound/>.
func (c *Conn) bind2(req *authRequest, head []byte) error {
	b := req.bind
	full, err := jid.New(c.user, c.host, c.bind2Resource(b.tag, req.uaID))
	if err != nil {
		// A tag that is no valid resource prefix is left out.
		full, err = jid.New(c.user, c.host, c.bind2Resource("", req.uaID))
	}
	if err != nil {
		return &stream.Error{Condition: stream.InternalServerError, Text: "cannot make a resource"}
	}
	s := newSession(c.srv, c, full)
	s.inactive = b.inactive || c.csiInactive
	c.jid, c.bound = full, true
	c.sess.Store(s)
	c.who.Store(nil) // the session names it now (log.go)
	out := appendAuthzID(head, full.String())
	out = append(out, "<bound xmlns='"+NSBind2+"'>"...)
	if b.sm {
		out = append(out, s.enable(b.smResume, b.smMax, false)...)
	}
	out = append(out, "</bound></success>"...)
	out = c.appendAuthedFeatures(out, true)
	// Queued before the resource becomes routable, so nothing routed to
	// it can overtake <success/>.
	c.enqueue(wire.Item{Raw: out})
	if old := c.srv.Router.BindReplacing(c.rctx, full, s); old != nil {
		if oc, ok := old.(interface{ CloseWithError(*stream.Error) }); ok {
			oc.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "replaced by a new session with the same resource"})
		}
	}
	if b.carbons && c.srv.Carbons != nil {
		if err := c.srv.Carbons.EnableCarbons(c.rctx, full); err != nil {
			c.log().Warn("inline carbons enable failed", "err", err)
		}
	}
	c.log().Info("resource bound", "bind2", true, "sm", b.sm, "carbons", b.carbons, "inactive", s.inactive)
	return nil
}

// bind2Resource makes a Bind 2 resource: the client's tag (or "client")
// as the prefix, then a dot and a short suffix. With a user-agent id the
// suffix is derived from it (keyed by the server secret), so a device gets
// the same resource at every login and replaces its own stale session;
// without one it is random.
func (c *Conn) bind2Resource(tag, uaID string) string {
	if tag == "" {
		tag = "client"
	}
	var sum []byte
	if uaID != "" {
		m := hmac.New(sha256.New, c.srv.Config.AuthSecret)
		m.Write([]byte("dormouse bind2 resource\x00" + c.user + "@" + c.host + "\x00" + uaID))
		sum = m.Sum(nil)
	} else {
		sum = make([]byte, 5)
		_, _ = rand.Read(sum)
	}
	return tag + "." + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:5])
}
