package session

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// run reads the stream: headers (again after each restart), negotiation,
// then stanzas. It returns nil when the peer closed the stream cleanly, and
// errParked when the connection parked. With resume, it continues a parked
// connection's element loop.
func (c *Conn) run(resume bool) error {
	for {
		if !resume {
			if err := c.openStream(); err != nil {
				return err
			}
		}
		resume = false
		restart, err := c.readElements()
		if err != nil {
			return err
		}
		if !restart {
			return nil
		}
	}
}

// openStream reads the client's stream header and answers with ours and the
// stream features for the current state.
func (c *Conn) openStream() error {
	h, err := c.dec.Header()
	if err != nil {
		return c.headerError(err)
	}
	if h.Name.Space != stream.NS || h.Name.Local != "stream" {
		return c.failOpen("", &stream.Error{Condition: stream.InvalidNamespace, Text: "expected a stream in " + stream.NS})
	}
	host := attr(h.Attr, "to")
	if host == "" && len(c.srv.Config.Hosts) > 0 {
		host = c.srv.Config.Hosts[0]
	}
	if j, err := jid.Parse(host); err == nil {
		host = j.Domainpart()
	}
	if h.DefaultNS != stanza.NSClient {
		return c.failOpen(host, &stream.Error{Condition: stream.InvalidNamespace, Text: "the default namespace must be jabber:client"})
	}
	i := slices.Index(c.srv.Config.Hosts, host)
	if i < 0 {
		return c.failOpen(firstHost(c.srv.Config.Hosts), &stream.Error{Condition: stream.HostUnknown, Text: "this server does not serve " + host})
	}
	host = c.srv.Config.Hosts[i] // shared: keeps nothing of the header alive
	if c.host != "" && host != c.host {
		return c.failOpen(c.host, &stream.Error{Condition: stream.HostUnknown, Text: "the host changed across a stream restart"})
	}
	c.host = host
	if v := attr(h.Attr, "version"); !versionOK(v) {
		return c.failOpen(host, &stream.Error{Condition: stream.UnsupportedVersion, Text: "XMPP 1.0 is required"})
	}
	// One buffer of the usual size for the header and the features,
	// instead of a chain of growing copies at each of a login's streams:
	// about 1.1 KiB over TLS before authentication (SASL2, FAST and
	// channel binding offered), under 512 bytes otherwise.
	size := 512
	if c.secure && !c.authed {
		size = 1536
	}
	b := stream.Header{NS: stanza.NSClient, From: host, ID: stream.NewID()}.AppendOpen(make([]byte, 0, size))
	b = c.appendFeatures(b)
	return c.writeNow(b)
}

func firstHost(h []string) string {
	if len(h) > 0 {
		return h[0]
	}
	return ""
}

// headerError handles an error while reading a stream header: a stream
// error must follow a stream header of ours (RFC 6120 §4.9.1.2).
func (c *Conn) headerError(err error) error {
	var syn *xml.SyntaxError
	if errors.As(err, &syn) {
		return c.failOpen(firstHost(c.srv.Config.Hosts), stream.FromSyntax(syn))
	}
	return err
}

// failOpen sends our stream header followed by a stream error.
func (c *Conn) failOpen(from string, e *stream.Error) error {
	b := stream.Header{NS: stanza.NSClient, From: from, ID: stream.NewID()}.AppendOpen(nil)
	_ = c.writeNow(b)
	return e
}

func versionOK(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	return major != "" && major != "0" && len(major) < 4
}

func attr(as []xml.Attr, local string) string {
	for _, a := range as {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (c *Conn) appendFeatures(b []byte) []byte {
	if c.authed { // over TLS or not: STARTTLS comes before SASL or never (RFC 6120 §5.3.1)
		return c.appendAuthedFeatures(b, c.bound)
	}
	b = append(b, "<stream:features>"...)
	switch {
	case !c.secure && !c.direct:
		b = append(b, "<starttls xmlns='"+stream.NSTLS+"'>"...)
		if c.srv.Config.RequireTLS {
			b = append(b, "<required/>"...)
		}
		b = append(b, "</starttls>"...)
		if !c.srv.Config.RequireTLS {
			b = c.appendMechanisms(b)
		}
	default: // secure, not authenticated
		b = c.appendMechanisms(b)
		if c.sasl2Offered() {
			b = c.appendSASL2(b)
		}
		b = c.appendSASLCB(b)
		for _, f := range c.srv.Config.PreAuthFeatures {
			b = f.AppendXML(b, "")
		}
	}
	return append(b, "</stream:features>"...)
}

// appendAuthedFeatures appends the features of an authenticated stream:
// after a restart, or right after a SASL2 <success/> (XEP-0388: no
// restart), where a resource bound by Bind 2 or an inline resumption
// (bound) leaves resource binding out.
func (c *Conn) appendAuthedFeatures(b []byte, bound bool) []byte {
	b = append(b, "<stream:features>"...)
	if !bound {
		b = append(b, "<bind xmlns='"+stream.NSBind+"'/><session xmlns='"+stream.NSSession+"'><optional/></session>"...)
	}
	b = append(b, "<sm xmlns='"+NSSM+"'/><csi xmlns='"+NSCSI+"'/>"...)
	for _, f := range c.srv.Config.Features {
		b = f.AppendXML(b, "")
	}
	return append(b, "</stream:features>"...)
}

// mechanisms returns the SASL mechanisms offered on this stream, for
// SASL2 (XEP-0388) or RFC 6120 SASL. Only SASL2 offers the -PLUS ones
// (first, when the connection has channel-binding data): clients that
// speak only RFC 6120 SASL, such as slixmpp 1.8, send the GS2 flag "y"
// (RFC 5802 §6: "I could bind, but the server cannot") even when -PLUS is
// offered, which the server must then refuse as a downgrade. Not claiming
// channel binding there keeps them working, and makes "y" legitimate.
func (c *Conn) mechanisms(sasl2 bool) []auth.Mechanism {
	var out []auth.Mechanism
	if sasl2 && len(c.channelBindings()) > 0 {
		out = append(out, auth.PlusMechanisms()...)
	}
	for _, m := range auth.Mechanisms() {
		if m == auth.Plain && !c.secure {
			continue // never offer PLAIN in the clear
		}
		out = append(out, m)
	}
	return out
}

func (c *Conn) appendMechanisms(b []byte) []byte {
	b = append(b, "<mechanisms xmlns='"+stream.NSSASL+"'>"...)
	for _, m := range c.mechanisms(false) {
		b = append(b, "<mechanism>"...)
		b = append(b, m...)
		b = append(b, "</mechanism>"...)
	}
	return append(b, "</mechanisms>"...)
}

// readElements processes top-level elements until the stream must restart
// (after STARTTLS or SASL success: restart=true), the peer closes it
// (restart=false, nil error), or an error.
func (c *Conn) readElements() (restart bool, err error) {
	for {
		el, err := c.dec.Next()
		if errors.Is(err, errLinger) {
			if err := c.park(); err != nil {
				return false, err // errParked
			}
			continue
		}
		if errors.Is(err, xml.ErrStreamEnd) {
			return false, errClosedByPeer
		}
		if err != nil {
			return false, err
		}
		switch {
		case el.Name.Space == stream.NSTLS && el.Name.Local == "starttls":
			if err := c.startTLS(); err != nil {
				return false, err
			}
			return true, nil
		case el.Name.Space == stream.NSSASL:
			done, err := c.sasl(el)
			if err != nil || done {
				return done, err
			}
		case el.Name.Space == NSSASL2:
			if err := c.sasl2(el); err != nil {
				return false, err
			}
		case el.Name.Space == NSSM:
			if err := c.smElement(el); err != nil {
				return false, err
			}
		case el.Name.Space == NSCSI && c.authed:
			if err := c.csiElement(el); err != nil {
				return false, err
			}
		case el.Name.Space == stanza.NSClient && (el.Name.Local == "iq" || el.Name.Local == "message" || el.Name.Local == "presence"):
			if err := c.stanza(el); err != nil {
				return false, err
			}
		case el.Name.Space == stanza.NSClient:
			return false, &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unknown element " + el.Name.Local}
		default:
			return false, &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unsupported element {" + el.Name.Space + "}" + el.Name.Local}
		}
	}
}

func (c *Conn) startTLS() error {
	if c.secure || c.authed {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "TLS is already negotiated"}
	}
	if err := c.writeNow([]byte("<proceed xmlns='" + stream.NSTLS + "'/>")); err != nil {
		return err
	}
	if err := c.handshake(); err != nil {
		c.log().Info("STARTTLS handshake failed", "err", err)
		c.nc.Close()
		return err
	}
	c.dec.Reset(deadlineReader{c})
	return nil
}

// sasl handles one SASL element; done reports success (stream restart).
func (c *Conn) sasl(el *xml.Element) (done bool, err error) {
	if c.authed {
		return false, &stream.Error{Condition: stream.PolicyViolation, Text: "already authenticated"}
	}
	if el.Name.Local != "auth" {
		// <response/> or <abort/> outside an exchange.
		return false, c.saslFailure(stream.NSSASL, "aborted", "")
	}
	if !c.secure && c.srv.Config.RequireTLS {
		return false, c.saslFailure(stream.NSSASL, "encryption-required", "use STARTTLS first")
	}
	mech := auth.Mechanism(el.AttrValue("mechanism"))
	srv, fail := c.newAuthServer(mech, false)
	if fail != "" {
		return false, c.saslFailure(stream.NSSASL, fail, "")
	}
	msg, ok := decodeSASL(el.Text())
	if !ok {
		return false, c.saslFailure(stream.NSSASL, "incorrect-encoding", "")
	}
	final, ok, err := c.exchange(stream.NSSASL, srv, msg)
	if !ok {
		return false, err
	}
	b := []byte("<success xmlns='" + stream.NSSASL + "'>")
	if len(final) > 0 {
		b = base64.StdEncoding.AppendEncode(b, final)
	}
	b = append(b, "</success>"...)
	c.cb = nil
	if err := c.writeNow(b); err != nil {
		return false, err
	}
	c.dec.Reset(deadlineReader{c})
	return true, nil
}

// newAuthServer starts an exchange of mech for SASL2 or RFC 6120 SASL;
// fail is the SASL condition if mech is not offered on this stream. The
// XEP-0474 hash covers the mechanisms of that profile (§5.1).
func (c *Conn) newAuthServer(mech auth.Mechanism, sasl2 bool) (*auth.Server, string) {
	mechs := c.mechanisms(sasl2)
	if !slices.Contains(mechs, mech) {
		return nil, auth.ConditionInvalidMechanism
	}
	var cb map[string][]byte // RFC 6120 SASL: no channel binding (see mechanisms)
	if sasl2 {
		cb = c.channelBindings()
	}
	var cbTypes []string // XEP-0474: nil when XEP-0440 advertised none
	if t := c.cbTypes(); len(t) > 0 {
		cbTypes = t
	}
	srv, err := auth.NewServer(mech, c.lookup, auth.Domain(c.host), auth.Secret(c.srv.Config.AuthSecret),
		auth.BeforeVerify(c.throttleWait), auth.ChannelBindings(cb),
		auth.DowngradeProtection(mechs, cbTypes))
	if err != nil {
		return nil, auth.ConditionInvalidMechanism
	}
	return srv, ""
}

// exchange runs a SASL exchange from the client's first message (nil: no
// initial response, RFC 6120 §6.4.2) to its end, with the challenge and
// response elements of namespace ns (legacy SASL or XEP-0388). ok reports
// success, final is then the additional data of success, and the login is
// recorded (metrics, throttle, c.authed, c.user). When !ok, the failure
// was sent and err says whether the stream goes on (nil) or ends.
func (c *Conn) exchange(ns string, srv *auth.Server, msg []byte) (final []byte, ok bool, err error) {
	for {
		chal, done, err := srv.Step(c.ctx, msg)
		if err != nil {
			return nil, false, c.authFailed(ns, srv.Authcid(), err)
		}
		if done {
			c.loggedIn(srv.Username(), srv.Mechanism())
			return chal, true, nil
		}
		b := []byte("<challenge xmlns='" + ns + "'>")
		b = base64.StdEncoding.AppendEncode(b, chal)
		b = append(b, "</challenge>"...)
		if msg, err = c.saslResponse(ns, b); err != nil || msg == nil {
			return nil, false, err
		}
	}
}

// loggedIn records a successful authentication as user.
func (c *Conn) loggedIn(user string, mech auth.Mechanism) {
	c.authed = true
	c.user = user
	c.srv.stats.logins.Add(1)
	if c.srv.Throttle != nil {
		c.srv.Throttle.Success(c.ip, c.user)
	}
	c.setWho("user", c.user+"@"+c.host)
	c.log().Info("authenticated", "mechanism", string(mech))
}

// saslResponse writes a challenge and reads the client's response. A nil
// message with a nil error means the exchange ended (aborted or failed) and
// the failure was sent.
func (c *Conn) saslResponse(ns string, challenge []byte) ([]byte, error) {
	if err := c.writeNow(challenge); err != nil {
		return nil, err
	}
	next, err := c.dec.Next()
	if err != nil {
		if errors.Is(err, xml.ErrStreamEnd) {
			return nil, errClosedByPeer
		}
		return nil, err
	}
	if next.Name.Space != ns {
		return nil, &stream.Error{Condition: stream.PolicyViolation, Text: "expected a SASL response"}
	}
	switch next.Name.Local {
	case "abort":
		return nil, c.saslFailure(ns, "aborted", "")
	case "response":
	default:
		return nil, c.saslFailure(ns, "malformed-request", "")
	}
	msg, ok := decodeSASL(next.Text())
	if !ok {
		return nil, c.saslFailure(ns, "incorrect-encoding", "")
	}
	if msg == nil {
		msg = []byte{}
	}
	return msg, nil
}

func decodeSASL(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "=" {
		return nil, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

// lookup ignores the SASL exchange's context: see Conn.rctx.
func (c *Conn) lookup(_ context.Context, username string) (auth.Credentials, error) {
	start := time.Now()
	cr, err := c.srv.Accounts.Credentials(c.rctx, username+"@"+c.host)
	serr := err
	if errors.Is(err, auth.ErrNotFound) {
		serr = nil // an unknown user is an answer, not a storage failure
	}
	c.srv.metrics.StorageDone("credentials", time.Since(start), serr)
	return cr, err
}

// throttleWait delays an attempt by the login throttle's penalty for this
// client and account (a brute-force loop slows down; others are unaffected).
func (c *Conn) throttleWait(ctx context.Context, user string) error {
	if c.srv.Throttle == nil {
		return nil
	}
	d := c.srv.Throttle.Delay(c.ip, user)
	if d <= 0 {
		return nil
	}
	c.log().Warn("login throttled after repeated failures", "ip", c.ip.String(), "user", user, "delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// authFailed reports a failed exchange of user (the authcid the client
// tried, "" if unknown) and counts it against the limits.
func (c *Conn) authFailed(ns, user string, err error) error {
	c.srv.stats.loginFailures.Add(1)
	cond := "not-authorized"
	text := ""
	var f *auth.Failure
	if errors.As(err, &f) {
		cond = f.Condition
		text = f.Text
	}
	account := ""
	if user != "" {
		account = user + "@" + c.host
	}
	if c.srv.Throttle != nil && cond == "not-authorized" {
		c.srv.Throttle.Failure(c.ip, user)
	}
	c.log().Warn("authentication failed", "condition", cond, "user", account, "ip", c.ip.String())
	return c.saslFailure(ns, cond, text)
}

// saslFailure sends <failure/> of legacy SASL or XEP-0388 (ns); after too
// many it ends the stream.
func (c *Conn) saslFailure(ns, cond, text string) error {
	b := []byte("<failure xmlns='" + ns + "'><" + cond)
	if ns != stream.NSSASL {
		b = append(b, " xmlns='"+stream.NSSASL+"'"...)
	}
	b = append(b, "/>"...)
	if text != "" {
		b = append(b, "<text xml:lang='en'>"...)
		b = xml.AppendEscapedText(b, text)
		b = append(b, "</text>"...)
	}
	b = append(b, "</failure>"...)
	if err := c.writeNow(b); err != nil {
		return err
	}
	if cond == "aborted" {
		return nil
	}
	c.authTries++
	if c.authTries >= c.srv.Config.MaxAuthTries {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}
