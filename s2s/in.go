package s2s

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("s2s: server closed")

// Serve accepts incoming server streams on l (STARTTLS; directTLS: TLS
// from the first byte, XEP-0368) until Shutdown.
func (s *Service) Serve(l net.Listener, directTLS bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	a := wire.Acceptor{Listener: l, Closing: s.isClosing, Log: s.log}
	for {
		nc, err := a.Accept()
		if errors.Is(err, wire.ErrClosing) {
			return ErrServerClosed
		}
		if err != nil {
			return err
		}
		ip := wire.AddrOf(nc.RemoteAddr())
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if !s.perIP.Add(ip, s.cfg.MaxConnectionsPerIP) {
			s.mu.Unlock()
			s.log.Warn("incoming connection refused: too many from this address", "direction", "in", "ip", ip)
			nc.Close()
			continue
		}
		i := newInStream(s, nc, ip)
		s.in[i] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			i.serve(directTLS)
			s.mu.Lock()
			delete(s.in, i)
			s.perIP.Done(ip)
			s.mu.Unlock()
		}()
	}
}

func (s *Service) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// inStream is one incoming server stream.
type inStream struct {
	s      *Service
	c      *conn
	ip     netip.Addr
	since  time.Time
	ctx    context.Context // ends with the stream: dialback verifications stop
	cancel context.CancelFunc

	// Reader-goroutine state.
	id     string    // our current stream ID
	local  string    // the header's 'to'
	from   string    // the header's 'from' (optional)
	certOK bool      // the peer's certificate validates for from
	tokens float64   // stanza rate limit: tokens left
	filled time.Time // when tokens were last refilled

	mu        sync.Mutex // guards the fields below
	verifying int        // dialback verifications running
	authed    map[string]bool
	auth      string
	tls       string
	ended     bool
}

func newInStream(s *Service, nc net.Conn, ip netip.Addr) *inStream {
	ctx, cancel := context.WithCancel(context.Background())
	return &inStream{
		s: s, c: newConn(nc, s.cfg.MaxStanzaSize, writeTimeout), ip: ip, since: time.Now(),
		ctx: ctx, cancel: cancel, authed: map[string]bool{},
	}
}

func (i *inStream) log() *slog.Logger {
	return i.s.log.With("direction", "in", "ip", i.ip, "domain", i.from, "local", i.local)
}

func (i *inStream) info() StreamInfo {
	i.mu.Lock()
	defer i.mu.Unlock()
	ds := make([]string, 0, len(i.authed))
	for d := range i.authed {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	remote := strings.Join(ds, ",")
	if remote == "" {
		remote = i.from
	}
	return StreamInfo{Direction: "in", Local: i.local, Remote: remote, Auth: i.auth, TLS: i.tls, Since: i.since, Addr: i.c.nc.RemoteAddr().String()}
}

// stop ends the stream with system-shutdown (Shutdown).
func (i *inStream) stop() {
	i.closeWith(&stream.Error{Condition: stream.SystemShutdown, Text: "the server is shutting down"})
	_ = i.c.nc.SetReadDeadline(time.Now().Add(closeWait))
}

// write writes b unless the stream has ended.
func (i *inStream) write(b []byte) error {
	i.mu.Lock()
	ended := i.ended
	i.mu.Unlock()
	if ended {
		return errStreamClosed
	}
	return i.c.write(b)
}

// closeWith writes a stream error (if e) and our closing tag, once.
func (i *inStream) closeWith(e *stream.Error) {
	i.mu.Lock()
	if i.ended {
		i.mu.Unlock()
		return
	}
	i.ended = true
	i.mu.Unlock()
	var b []byte
	if e != nil {
		b = e.AppendXML(b)
		i.log().Info("closing incoming stream", "condition", string(e.Condition), "text", e.Text)
	}
	b = append(b, stream.Close...)
	_ = i.c.write(b)
}

func (i *inStream) serve(directTLS bool) {
	_ = i.c.nc.SetReadDeadline(i.since.Add(i.s.cfg.ConnectTimeout))
	err := i.run(directTLS)
	i.cancel()
	var se *stream.Error
	var syn *xml.SyntaxError
	switch {
	case errors.Is(err, errClosedByPeer), errors.Is(err, errStreamClosed):
		i.closeWith(nil)
	case errors.As(err, &se):
		if !i.headerSent() {
			_ = i.c.write(appendHeader(nil, i.local, "", stream.NewID()))
		}
		i.closeWith(se)
	case errors.As(err, &syn):
		i.closeWith(stream.FromSyntax(syn))
	case errors.Is(err, os.ErrDeadlineExceeded):
		if i.authCount() == 0 {
			i.closeWith(&stream.Error{Condition: stream.ConnectionTimeout, Text: "the stream did not authenticate in time"})
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		i.log().Debug("incoming stream ended", "err", err)
	}
	i.c.close()
	i.log().Info("incoming stream closed", "auth", i.info().Auth)
}

func (i *inStream) headerSent() bool { return i.id != "" }

func (i *inStream) authCount() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.authed)
}

func (i *inStream) run(directTLS bool) error {
	if directTLS {
		ctx, cancel := context.WithTimeout(i.ctx, i.s.cfg.ConnectTimeout)
		err := i.c.startTLS(ctx, i.s.serverTLS(true), false)
		cancel()
		if err != nil {
			i.s.stats.failures[ReasonTLS].Add(1)
			return err
		}
		i.tlsUp()
	}
	for {
		restart, err := i.open()
		if err != nil {
			return err
		}
		for !restart {
			el, err := i.c.next()
			if errors.Is(err, os.ErrDeadlineExceeded) && i.closeIdle() {
				continue // the peer's closing tag, or stanzas sent meanwhile
			}
			if err != nil {
				return err
			}
			i.extendIdle()
			if restart, err = i.element(el); err != nil {
				return err
			}
		}
	}
}

// tlsUp records TLS and checks the peer's certificate for the domain it
// claims (once known).
func (i *inStream) tlsUp() {
	i.mu.Lock()
	i.tls = i.c.tlsState()
	i.mu.Unlock()
}

// open reads the peer's stream header and answers with ours and the
// stream features.
func (i *inStream) open() (bool, error) {
	h, err := i.c.dec.Header()
	if err != nil {
		return false, err
	}
	to, ok := canonicalDomain(h.AttrValue("to"))
	if !ok || !i.s.r.Serves(to) {
		return false, &stream.Error{Condition: stream.HostUnknown, Text: "this server does not serve " + h.AttrValue("to")}
	}
	if i.local != "" && to != i.local {
		return false, &stream.Error{Condition: stream.HostUnknown, Text: "the stream restarted for another domain"}
	}
	i.local = to
	if v := h.AttrValue("from"); v != "" {
		from, ok := canonicalDomain(v)
		if !ok || (i.from != "" && from != i.from) {
			return false, &stream.Error{Condition: stream.InvalidFrom, Text: "invalid 'from' in the stream header"}
		}
		i.from = from
	}
	i.id = stream.NewID()
	if err := checkHeader(h); err != nil {
		return false, err
	}
	b := appendHeader(nil, i.local, i.from, i.id)
	b = append(b, "<stream:features>"...)
	switch {
	case i.c.tls == nil:
		b = append(b, "<starttls xmlns='"+stream.NSTLS+"'><required/></starttls>"...)
	case i.authCount() == 0 || i.info().Auth == AuthDialback:
		if i.from != "" && !i.certOK {
			i.certOK = verifyPeer(i.c.tls.ConnectionState(), i.s.cfg.RootCAs, i.from) == nil
		}
		if i.certOK && i.authCount() == 0 {
			b = append(b, "<mechanisms xmlns='"+stream.NSSASL+"'><mechanism>EXTERNAL</mechanism></mechanisms>"...)
		}
		b = append(b, "<dialback xmlns='"+NSDialbackFeature+"'><errors/></dialback>"...)
	}
	b = append(b, "</stream:features>"...)
	return false, i.write(b)
}

// element handles one top-level element; restart: a new stream header
// follows.
func (i *inStream) element(el *xml.Element) (bool, error) {
	switch el.Name.Space {
	case stream.NSTLS:
		return i.starttls(el)
	case stream.NSSASL:
		return i.sasl(el)
	case NSDialback:
		return false, i.dialback(el)
	case stanza.NSServer:
		switch el.Name.Local {
		case "message", "presence", "iq":
			return false, i.stanza(el)
		}
	}
	return false, &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unsupported element {" + el.Name.Space + "}" + el.Name.Local}
}

func (i *inStream) starttls(el *xml.Element) (bool, error) {
	if el.Name.Local != "starttls" || i.c.tls != nil {
		return false, &stream.Error{Condition: stream.PolicyViolation, Text: "unexpected TLS negotiation"}
	}
	if err := i.write([]byte("<proceed xmlns='" + stream.NSTLS + "'/>")); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(i.ctx, i.s.cfg.ConnectTimeout)
	defer cancel()
	if err := i.c.startTLS(ctx, i.s.serverTLS(false), false); err != nil {
		i.s.stats.failures[ReasonTLS].Add(1)
		i.mu.Lock()
		i.ended = true // no stream error in the middle of a failed handshake
		i.mu.Unlock()
		return false, err
	}
	i.tlsUp()
	return true, nil
}

// sasl handles SASL EXTERNAL (RFC 6120 §6, RFC 6120 §13.8.3 for servers):
// the peer's certificate must validate for the domain of its stream
// header; the authorization identity may be absent ("=" or empty) or that
// domain.
func (i *inStream) sasl(el *xml.Element) (bool, error) {
	if el.Name.Local != "auth" {
		return false, &stream.Error{Condition: stream.PolicyViolation, Text: "unexpected SASL element " + el.Name.Local}
	}
	failure := func(cond, text string) (bool, error) {
		i.s.stats.failures[ReasonAuth].Add(1)
		i.log().Warn("SASL EXTERNAL refused", "reason", text)
		b := []byte("<failure xmlns='" + stream.NSSASL + "'><" + cond + "/><text xml:lang='en'>")
		b = xml.AppendEscapedText(b, text)
		b = append(b, "</text></failure>"...)
		return false, i.write(b)
	}
	if i.c.tls == nil || i.authCount() > 0 {
		return false, &stream.Error{Condition: stream.PolicyViolation, Text: "SASL is not offered now"}
	}
	if el.AttrValue("mechanism") != "EXTERNAL" {
		return failure("invalid-mechanism", "only EXTERNAL is offered")
	}
	if i.from == "" || !i.certOK {
		return failure("not-authorized", "the certificate does not validate for the stream's 'from' domain")
	}
	if !i.s.allowed(i.from) {
		return failure("not-authorized", "federation with "+i.from+" is not allowed here")
	}
	authz := strings.TrimSpace(el.Text())
	if authz != "" && authz != "=" {
		b, err := base64.StdEncoding.DecodeString(authz)
		if err != nil {
			return failure("incorrect-encoding", "the authorization identity is not base64")
		}
		if d, ok := canonicalDomain(string(b)); !ok || d != i.from {
			return failure("invalid-authzid", "the authorization identity is not the stream's 'from' domain")
		}
	}
	if err := i.write([]byte("<success xmlns='" + stream.NSSASL + "'/>")); err != nil {
		return false, err
	}
	i.authenticated(i.from, AuthExternal)
	i.c.restart()
	return true, nil
}

// authenticated records that the stream may carry stanzas from domain.
func (i *inStream) authenticated(domain, method string) {
	i.mu.Lock()
	i.authed[domain] = true
	i.auth = method
	i.mu.Unlock()
	i.extendIdle()
	i.log().Info("incoming stream authenticated", "authenticated", domain, "auth", method, "tls", i.c.tlsState())
}

// extendIdle moves the read deadline of an authenticated stream to
// IdleTimeout from now (before authentication, the deadline is
// ConnectTimeout from the connection's start), unless the stream is
// ending. Only elements count as activity: whitespace keepalives keep a
// connection alive (RFC 6120 §4.6.1) but do not keep a stream nobody uses
// open, as on outgoing streams, which close after IdleTimeout without
// stanzas.
func (i *inStream) extendIdle() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.authed) > 0 && !i.ended {
		_ = i.c.nc.SetReadDeadline(time.Now().Add(i.s.cfg.IdleTimeout))
	}
}

// closeIdle closes an authenticated stream whose read deadline passed:
// idle. Like an outgoing idle stream, it ends with our closing tag and no
// stream error (the peer opens a new stream when it has something to
// send); the reader then waits closeWait for the peer's closing tag,
// routing what the peer sent meanwhile. False: not an idle close (before
// authentication, or the stream is already ending).
func (i *inStream) closeIdle() bool {
	i.mu.Lock()
	idle := len(i.authed) > 0 && !i.ended
	i.mu.Unlock()
	if !idle {
		return false
	}
	i.log().Info("incoming stream idle: closing", "idle_timeout", i.s.cfg.IdleTimeout)
	i.closeWith(nil)
	_ = i.c.nc.SetReadDeadline(time.Now().Add(closeWait))
	return true
}

func (i *inStream) isAuthed(domain string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.authed[domain]
}

// dialback handles db:verify (this server is the authoritative server)
// and db:result (the peer asks us to verify its key with its
// authoritative server), XEP-0220 §2.
func (i *inStream) dialback(el *xml.Element) error {
	if i.c.tls == nil {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "TLS is required before dialback"}
	}
	if el.Name.Local == "verify" {
		b := i.s.answerVerify(el)
		if b == nil {
			return &stream.Error{Condition: stream.BadFormat, Text: "malformed db:verify"}
		}
		return i.write(b)
	}
	d, err := parseDialback(el)
	if err != nil || d.Verify || d.Type != "" {
		return &stream.Error{Condition: stream.BadFormat, Text: "malformed db:result"}
	}
	if !i.s.r.Serves(d.To) {
		return i.write(dialbackError(d, "cancel", "item-not-found"))
	}
	if !i.s.allowed(d.From) {
		i.log().Warn("dialback refused: domain not allowed", "from", d.From)
		return i.write(dialbackError(d, "cancel", "policy-violation"))
	}
	certOK := verifyPeer(i.c.tls.ConnectionState(), i.s.cfg.RootCAs, d.From) == nil
	if !certOK && !i.s.isInsecure(d.From) {
		i.s.stats.failures[ReasonCertificate].Add(1)
		i.log().Warn("dialback refused: the certificate does not validate for the domain (list it in insecure_domains to allow dialback)", "from", d.From)
		return i.write(dialbackError(d, "auth", "not-authorized"))
	}
	i.mu.Lock()
	busy := i.verifying >= maxVerifications
	if !busy {
		i.verifying++
	}
	i.mu.Unlock()
	if busy {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "too many dialback requests at once"}
	}
	id := i.id
	i.s.wg.Add(1)
	go func() {
		defer i.s.wg.Done()
		defer func() {
			i.mu.Lock()
			i.verifying--
			i.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(i.ctx, i.s.cfg.ConnectTimeout)
		defer cancel()
		ok, err := i.s.verifyDialback(ctx, d.To, d.From, id, d.Key)
		typ := "invalid"
		switch {
		case err != nil:
			i.s.stats.failures[reason(err)].Add(1)
			i.log().Warn("dialback verification failed", "from", d.From, "reason", ReasonNames[reason(err)], "err", err)
			_ = i.write(dialbackError(d, "cancel", "remote-connection-failed"))
			return
		case ok:
			typ = "valid"
			i.authenticated(d.From, AuthDialback)
		default:
			i.s.stats.failures[ReasonAuth].Add(1)
			i.log().Warn("dialback key invalid", "from", d.From)
		}
		_ = i.write(appendDialback(nil, dbElement{From: d.To, To: d.From, Type: typ}))
	}()
	return nil
}

// maxVerifications bounds the dialback verifications one incoming stream
// may have running (each opens a connection to the claimed domain).
const maxVerifications = 4

// dialbackError is a db:result of type error (XEP-0220 §2.4).
func dialbackError(d dbElement, typ, cond string) []byte {
	b := appendDialback(nil, dbElement{From: d.To, To: d.From, Type: "error"})
	b = b[:len(b)-2] // reopen: "/>"
	b = append(b, "><error type='"+typ+"'><"+cond+" xmlns='"+stanza.NSStanzas+"'/></error></db:result>"...)
	return b
}

// stanza checks a stanza's addresses against the stream (RFC 6120 §4.9.3,
// §8.1.1.1, §8.1.2.1) and routes it.
func (i *inStream) stanza(el *xml.Element) error {
	if i.authCount() == 0 {
		return &stream.Error{Condition: stream.NotAuthorized, Text: "the stream is not authenticated"}
	}
	st, err := stanza.New(el)
	if err != nil {
		return &stream.Error{Condition: stream.ImproperAddressing, Text: "malformed 'to' or 'from' address"}
	}
	switch {
	case st.From.Domainpart() == "" || st.To.Domainpart() == "":
		return &stream.Error{Condition: stream.ImproperAddressing, Text: "a server must set 'from' and 'to' on every stanza"}
	case !i.isAuthed(st.From.Domainpart()):
		return &stream.Error{Condition: stream.InvalidFrom, Text: "the stream is not authenticated for " + st.From.Domainpart()}
	case !i.s.r.Serves(st.To.Domainpart()):
		return &stream.Error{Condition: stream.HostUnknown, Text: "this server does not serve " + st.To.Domainpart()}
	}
	i.s.stats.stanzasIn.Add(1)
	i.s.r.Route(i.ctx, st)
	i.rateLimit()
	return nil
}

// rateLimit blocks the reader while the peer exceeds StanzaRate: reading
// slower pushes back on the peer (TCP flow control) without dropping
// anything.
func (i *inStream) rateLimit() {
	rate, burst := float64(i.s.cfg.StanzaRate), float64(i.s.cfg.StanzaBurst)
	now := time.Now()
	if i.filled.IsZero() {
		i.tokens = burst
	} else {
		i.tokens = min(burst, i.tokens+now.Sub(i.filled).Seconds()*rate)
	}
	i.filled = now
	if i.tokens >= 1 {
		i.tokens--
		return
	}
	wait := time.Duration((1 - i.tokens) / rate * float64(time.Second))
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-i.ctx.Done():
	}
	t.Stop()
	i.filled, i.tokens = time.Now(), 0
}
