package upload

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// NS is the XEP-0363 namespace.
const NS = "urn:xmpp:http:upload:0"

const nsData = "jabber:x:data"

// Config configures the service. Zero values take the defaults.
type Config struct {
	// Domain is the service's address (upload.example.org). Required.
	Domain string
	// MaxFileSize is the largest file in bytes. Default 100 MiB.
	MaxFileSize int64
	// Quota is the total size of one account's files; 0: none.
	Quota int64
	// ExpireAfter deletes files this old (StartExpiry); 0 keeps them.
	ExpireAfter time.Duration
	// SlotTTL is how long a PUT URL is valid (the PUT must start within
	// it). Default 60 s (XEP-0363 §7).
	SlotTTL time.Duration
	// Secret keys the slot signatures (the server secret). Required.
	Secret []byte
	// BaseURL returns the HTTPS listener's public base URL for an
	// account's domain (no trailing slash). Required.
	BaseURL func(domain string) string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Router is how the service answers.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
	IsLocal(domain string) bool
}

// Service is the upload service: slots over XMPP (HandleStanza) and the
// files over HTTP (Handler).
type Service struct {
	cfg   Config
	key   []byte
	store Store
	r     Router
	log   *slog.Logger
	self  jid.JID

	mu    sync.Mutex
	usage map[string]int64 // bytes stored and being uploaded, by owner
}

// New returns the service; it reads the store's files to account quotas.
func New(ctx context.Context, cfg Config, store Store, r Router, log *slog.Logger) (*Service, error) {
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = 100 << 20
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Secret) == 0 || cfg.BaseURL == nil {
		return nil, errors.New("upload: Secret and BaseURL are required")
	}
	self, err := jid.Parse(cfg.Domain)
	if err != nil || self.Localpart() != "" || self.Resourcepart() != "" {
		return nil, fmt.Errorf("upload: invalid domain %q", cfg.Domain)
	}
	// A key of its own, derived from the server secret.
	m := hmac.New(sha256.New, cfg.Secret)
	m.Write([]byte("dormouse upload slots v1"))
	s := &Service{cfg: cfg, key: m.Sum(nil), store: store, r: r, log: log, self: self, usage: map[string]int64{}}
	err = store.List(ctx, func(m Meta) error {
		s.usage[m.Owner] += m.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload: reading the store: %w", err)
	}
	return s, nil
}

// Register routes the service's domain to it.
func (s *Service) Register(rt *router.Router) error {
	return rt.AddService(s.cfg.Domain, "HTTP File Upload", s)
}

// HandleStanza implements router.Service.
func (s *Service) HandleStanza(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind != stanza.KindIQ || st.IsError() || st.Type == stanza.TypeResult {
		if st.Kind == stanza.KindPresence || st.IsError() || st.Type == stanza.TypeResult {
			return nil
		}
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	p := st.Payload()
	if p == nil || st.To.Localpart() != "" || st.To.Resourcepart() != "" {
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	switch {
	case st.Type == stanza.TypeGet && p.Name.Space == router.NSDiscoInfo && p.Name.Local == "query":
		s.r.Route(ctx, s.discoInfo(st))
	case st.Type == stanza.TypeGet && p.Name.Space == router.NSDiscoItems && p.Name.Local == "query":
		s.r.Route(ctx, st.Result(xml.NewElement(router.NSDiscoItems, "query")))
	case st.Type == stanza.TypeGet && p.Name.Space == NS && p.Name.Local == "request":
		res, err := s.request(st, p)
		if err != nil {
			return err
		}
		s.r.Route(ctx, res)
	default:
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return nil
}

func (s *Service) discoInfo(iq *stanza.Stanza) *stanza.Stanza {
	res := router.DiscoInfo(iq,
		[]router.Identity{{Category: "store", Type: "file", Name: "HTTP File Upload"}},
		[]string{router.NSDiscoInfo, NS})
	x := xml.NewElement(nsData, "x", "type", "result")
	ft := xml.NewElement(nsData, "field", "var", "FORM_TYPE", "type", "hidden")
	ft.AddChild(xml.NewElement(nsData, "value").AddText(NS))
	x.AddChild(ft)
	mf := xml.NewElement(nsData, "field", "var", "max-file-size")
	mf.AddChild(xml.NewElement(nsData, "value").AddText(strconv.FormatInt(s.cfg.MaxFileSize, 10)))
	x.AddChild(mf)
	res.Payload().AddChild(x)
	return res
}

// TooLarge is the XEP-0363 §4.1 error for a file over the limit.
func (s *Service) tooLarge() *stanza.Error {
	app := xml.NewElement(NS, "file-too-large")
	app.AddChild(xml.NewElement(NS, "max-file-size").AddText(strconv.FormatInt(s.cfg.MaxFileSize, 10)))
	e := stanza.NewError(stanza.NotAcceptable, "File too large. The maximum file size is "+strconv.FormatInt(s.cfg.MaxFileSize, 10)+" bytes")
	e.App = app
	return e
}

// request answers a slot request (XEP-0363 §4).
func (s *Service) request(iq *stanza.Stanza, p *xml.Element) (*stanza.Stanza, error) {
	from := iq.From
	if from.Localpart() == "" || !s.r.IsLocal(from.Domainpart()) {
		return nil, stanza.NewError(stanza.NotAllowed, "only accounts of this server may upload")
	}
	name, ok := cleanName(p.AttrValue("filename"))
	if !ok {
		return nil, stanza.NewError(stanza.BadRequest, "a file name is required (no slashes, no control characters)")
	}
	size, err := strconv.ParseInt(p.AttrValue("size"), 10, 64)
	if err != nil || size <= 0 {
		return nil, stanza.NewError(stanza.BadRequest, "a positive size in bytes is required")
	}
	if size > s.cfg.MaxFileSize {
		return nil, s.tooLarge()
	}
	ctype := p.AttrValue("content-type")
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if len(ctype) > 255 || strings.ContainsAny(ctype, "\r\n") {
		return nil, stanza.NewError(stanza.BadRequest, "invalid content type")
	}
	owner := from.Bare().String()
	if s.cfg.Quota > 0 {
		s.mu.Lock()
		used := s.usage[owner]
		s.mu.Unlock()
		if used+size > s.cfg.Quota {
			return nil, stanza.NewError(stanza.ResourceConstraint, fmt.Sprintf("upload quota exceeded: %d of %d bytes used", used, s.cfg.Quota))
		}
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	sl := slot{
		ID: hex.EncodeToString(id[:]), Name: name, Type: ctype, Owner: owner, Size: size,
		Expires: s.cfg.Now().Add(s.cfg.SlotTTL).Unix(),
	}
	get := s.cfg.BaseURL(from.Domainpart()) + "/upload/" + sl.ID + "/" + url.PathEscape(name)
	q := url.Values{}
	q.Set("size", strconv.FormatInt(size, 10))
	q.Set("type", ctype)
	q.Set("owner", owner)
	q.Set("expires", strconv.FormatInt(sl.Expires, 10))
	q.Set("sig", s.sign(sl))
	put := get + "?" + q.Encode()

	el := xml.NewElement(NS, "slot")
	el.AddChild(xml.NewElement(NS, "put", "url", put))
	el.AddChild(xml.NewElement(NS, "get", "url", get))
	return iq.Result(el), nil
}

// cleanName returns the file name fit for a URL path segment and a
// Content-Disposition header, or false if none is left. Format characters
// (Unicode category Cf: the bidi controls U+202A–U+202E, U+2066–U+2069,
// U+200E, U+200F, U+061C, and the invisible ones such as U+00AD, U+2060,
// U+FEFF and the tag characters) are removed, so that a name cannot be
// shown reordered ("invoice\u202Efdp.exe" as "invoiceexe.pdf") or hide
// text; the joiners U+200C and U+200D, which scripts and emoji sequences
// need and which reorder nothing, stay. Line and paragraph separators
// become spaces. Other control characters, slashes, "." and ".." are
// refused; a name over 200 bytes is shortened, keeping its extension.
func cleanName(n string) (string, bool) {
	if !utf8.ValidString(n) {
		return "", false
	}
	n = strings.TrimSpace(strings.Map(nameRune, n))
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	if len(n) > 200 {
		// Keep the extension.
		ext := ""
		if i := strings.LastIndexByte(n, '.'); i >= 0 && len(n)-i <= 16 {
			ext = n[i:]
		}
		cut := 200 - len(ext)
		for cut > 0 && !utf8.RuneStart(n[cut]) {
			cut--
		}
		n = strings.TrimSpace(n[:cut] + ext)
	}
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\") {
		return "", false
	}
	return n, true
}

// nameRune maps a rune of a file name for cleanName: -1 drops it.
func nameRune(r rune) rune {
	switch {
	case r == '\u200C' || r == '\u200D':
		return r
	case unicode.Is(unicode.Cf, r):
		return -1
	case unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
		return ' '
	}
	return r
}

// slot is what a PUT URL authorizes.
type slot struct {
	ID, Name, Type, Owner string
	Size, Expires         int64
}

// sign returns the slot's signature: HMAC-SHA256 over its fields.
func (s *Service) sign(sl slot) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\x00%s\x00%s\x00%s\x00%d\x00%d", sl.ID, sl.Name, sl.Type, sl.Owner, sl.Size, sl.Expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks sig against sl in constant time.
func (s *Service) verify(sl slot, sig string) bool {
	return hmac.Equal([]byte(s.sign(sl)), []byte(sig))
}

// reserve counts size against owner's quota; false if it does not fit.
func (s *Service) reserve(owner string, size int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Quota > 0 && s.usage[owner]+size > s.cfg.Quota {
		return false
	}
	s.usage[owner] += size
	return true
}

// release gives size back to owner's quota.
func (s *Service) release(owner string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usage[owner] -= size; s.usage[owner] <= 0 {
		delete(s.usage, owner)
	}
}

// Usage returns the bytes owner's files take.
func (s *Service) Usage(owner string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage[owner]
}
