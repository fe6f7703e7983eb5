package upload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// fakeRouter records the service's answers.
type fakeRouter struct {
	mu  sync.Mutex
	out []*stanza.Stanza
}

func (r *fakeRouter) Route(_ context.Context, st *stanza.Stanza) {
	r.mu.Lock()
	r.out = append(r.out, st)
	r.mu.Unlock()
}

func (r *fakeRouter) IsLocal(d string) bool { return d == "example.org" }

func (r *fakeRouter) last() *stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out[len(r.out)-1]
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	svc *Service
	r   *fakeRouter
	clk *clock
	srv *httptest.Server
	dir string
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{r: &fakeRouter{}, clk: &clock{now: time.Unix(1.7e9, 0)}, dir: t.TempDir()}
	h.srv = httptest.NewUnstartedServer(nil)
	cfg := Config{
		Domain: "upload.example.org", MaxFileSize: 1 << 20, Quota: 4 << 20, ExpireAfter: 24 * time.Hour,
		Secret:  []byte("secret"),
		BaseURL: func(string) string { return "http://" + h.srv.Listener.Addr().String() },
		Now:     h.clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(context.Background(), cfg, DiskStore{Dir: h.dir}, h.r, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	h.srv.Config.Handler = svc.Handler()
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// slot requests a slot as from.
func (h *harness) slot(_ testing.TB, from, name string, size int, ctype string) (put, get string, err error) {
	iq := stanza.Build(stanza.KindIQ, stanza.TypeGet, "r", jid.MustParse(from), jid.MustParse("upload.example.org"))
	iq.El.AddChild(xml.NewElement(NS, "request", "filename", name, "size", fmt.Sprint(size), "content-type", ctype))
	if err := h.svc.HandleStanza(context.Background(), iq); err != nil {
		return "", "", err
	}
	s := h.r.last().Payload()
	return s.Child(NS, "put").AttrValue("url"), s.Child(NS, "get").AttrValue("url"), nil
}

func put(t *testing.T, u string, body []byte, ctype string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestExpiredAndForgedSlots(t *testing.T) {
	h := newHarness(t, nil)
	p, _, err := h.slot(t, "alice@example.org/a", "x.txt", 3, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p)
	for _, tc := range []struct{ key, val string }{
		{"owner", "mallory@example.org"}, {"type", "text/html"}, {"expires", "9999999999"}, {"sig", "AAAA"},
	} {
		q := u.Query()
		q.Set(tc.key, tc.val)
		v := *u
		v.RawQuery = q.Encode()
		if code := put(t, v.String(), []byte("abc"), "text/plain"); code != http.StatusForbidden {
			t.Errorf("%s changed: %d", tc.key, code)
		}
	}
	// Another path (id or name) breaks the signature too.
	if code := put(t, strings.Replace(p, "/x.txt", "/y.txt", 1), []byte("abc"), "text/plain"); code != http.StatusForbidden {
		t.Errorf("name changed: %d", code)
	}
	h.clk.add(6 * time.Minute)
	if code := put(t, p, []byte("abc"), "text/plain"); code != http.StatusForbidden {
		t.Errorf("expired: %d", code)
	}
}

func TestSlotRequestErrors(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxFileSize = 100; c.Quota = 150 })
	tests := []struct {
		from, name string
		size       int
		cond       stanza.Condition
	}{
		{"alice@other.org/a", "x", 1, stanza.NotAllowed},
		{"example.org", "x", 1, stanza.NotAllowed},
		{"alice@example.org/a", "", 1, stanza.BadRequest},
		{"alice@example.org/a", "a/b", 1, stanza.BadRequest},
		{"alice@example.org/a", "..", 1, stanza.BadRequest},
		{"alice@example.org/a", "a\x01", 1, stanza.BadRequest},
		{"alice@example.org/a", "x", 0, stanza.BadRequest},
		{"alice@example.org/a", "x", 101, stanza.NotAcceptable},
	}
	for _, tt := range tests {
		_, _, err := h.slot(t, tt.from, tt.name, tt.size, "text/plain")
		if se := stanza.AsError(err); err == nil || se.Condition != tt.cond {
			t.Errorf("%s %q %d: %v, want %s", tt.from, tt.name, tt.size, err, tt.cond)
		}
	}
}

// TestConcurrentUploads: parallel uploads of one account all land, and the
// quota counts every byte once.
func TestConcurrentUploads(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Quota = 10 * 1000 })
	var wg sync.WaitGroup
	gets := make([]string, 20)
	codes := make([]int, 20)
	for i := range gets {
		p, g, err := h.slot(t, "alice@example.org/a", fmt.Sprintf("f%d", i), 1000, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		gets[i] = g
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = put(t, p, bytes.Repeat([]byte{byte(i)}, 1000), "application/octet-stream")
		}()
	}
	wg.Wait()
	created := 0
	for i, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
			resp, err := http.Get(gets[i])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 1000)) {
				t.Errorf("file %d corrupted", i)
			}
		case http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("upload %d: %d", i, c)
		}
	}
	if created != 10 || h.svc.Usage("alice@example.org") != 10*1000 {
		t.Errorf("created %d, usage %d; want 10 and 10000", created, h.svc.Usage("alice@example.org"))
	}
	// A restarted service counts the same usage from the store.
	svc, err := New(context.Background(), h.svc.cfg, DiskStore{Dir: h.dir}, h.r, slog.New(slog.DiscardHandler))
	if err != nil || svc.Usage("alice@example.org") != 10*1000 {
		t.Errorf("after restart: %d %v", svc.Usage("alice@example.org"), err)
	}
}

func TestExpiryAndDeleteOwner(t *testing.T) {
	h := newHarness(t, nil)
	upload := func(owner, name string) string {
		p, g, err := h.slot(t, owner+"/r", name, 3, "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		if c := put(t, p, []byte("abc"), "text/plain"); c != http.StatusCreated {
			t.Fatalf("PUT %d", c)
		}
		return g
	}
	old := upload("alice@example.org", "old")
	h.clk.add(23 * time.Hour)
	young := upload("alice@example.org", "young")
	bobs := upload("bob@example.org", "bob")
	h.clk.add(2 * time.Hour)
	// Leftover of a crashed upload: removed when stale.
	junk := filepath.Join(h.dir, strings.Repeat("ab", 16))
	if err := os.Mkdir(junk, 0o750); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(junk, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour))
	n, err := h.svc.RunExpiry(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("expiry: %d %v", n, err)
	}
	status := func(u string) int {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status(old) != 404 || status(young) != 200 || status(bobs) != 200 {
		t.Errorf("after expiry: %d %d %d", status(old), status(young), status(bobs))
	}
	if _, err := os.Stat(junk); !os.IsNotExist(err) {
		t.Errorf("stale upload kept: %v", err)
	}
	if n, err := h.svc.DeleteOwner(context.Background(), "bob@example.org"); n != 1 || err != nil {
		t.Errorf("delete owner: %d %v", n, err)
	}
	if status(bobs) != 404 || status(young) != 200 || h.svc.Usage("bob@example.org") != 0 || h.svc.Usage("alice@example.org") != 3 {
		t.Errorf("after DeleteOwner: %d %d usage %d %d", status(bobs), status(young), h.svc.Usage("bob@example.org"), h.svc.Usage("alice@example.org"))
	}
}

func TestCORSPreflight(t *testing.T) {
	h := newHarness(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, h.srv.URL+"/upload/"+strings.Repeat("0", 32)+"/x", nil)
	req.Header.Set("Origin", "https://chat.example.net")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight %v", resp.Header)
	}
}

// FuzzCleanName: names are never unsafe as a path segment or header
// value, and carry no character that reorders or hides text (bidi
// controls, other format characters but the joiners, line and paragraph
// separators).
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a.jpg", "../x", "a/b", "ü" + strings.Repeat("x", 300) + ".jpeg", "\x00", " ",
		"invoice\u202Efdp.exe", ".\u200E.", "\u2066x\u2069", "a\u2028b", "\U000E0041x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := cleanName(s)
		if !ok {
			return
		}
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\r\n\x00") || !utf8.ValidString(n) || len(n) > 216 ||
			strings.TrimSpace(n) != n {
			t.Fatalf("%q → %q", s, n)
		}
		for _, r := range n {
			if unicode.IsControl(r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) ||
				unicode.Is(unicode.Cf, r) && r != '\u200C' && r != '\u200D' {
				t.Fatalf("%q → %q: %U kept", s, n, r)
			}
		}
	})
}

// TestCleanName: bidi controls and other invisible format characters are
// removed from file names (they could make "invoice\u202Efdp.exe" show
// as "invoiceexe.pdf" in a client or a Content-Disposition), line and
// paragraph separators become spaces; the rest of the name is kept.
func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"photo.jpg", "photo.jpg", true},
		{" Zürich 2026.jpg ", "Zürich 2026.jpg", true},
		{"فایل.pdf", "فایل.pdf", true},
		{"invoice\u202Efdp.exe", "invoicefdp.exe", true},
		{"\u202A\u202B\u202C\u202D\u202Ea.txt", "a.txt", true},
		{"\u2066a\u2067b\u2068c\u2069.txt", "abc.txt", true},
		{"a\u200Eb\u200Fc\u061Cd.txt", "abcd.txt", true},
		{"\uFEFFbom\u00AD\u2060.txt", "bom.txt", true},
		{"tag\U000E0041\U000E007F.txt", "tag.txt", true},
		{"line\u2028para\u2029.txt", "line para .txt", true},
		{"\U0001F468\u200D\U0001F469.txt", "\U0001F468\u200D\U0001F469.txt", true}, // the joiner builds an emoji
		{"\u0645\u06cc\u200C\u062E\u0648\u0627\u0647\u0645.txt", "\u0645\u06cc\u200C\u062E\u0648\u0627\u0647\u0645.txt", true},
		{".\u200E.", "", false},
		{"\u202E", "", false},
		{"\u2028", "", false},
		{"a\x01", "", false},
		{"a/b", "", false},
	} {
		got, ok := cleanName(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanName(%+q) = %+q, %v; want %+q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSlotNameBidi: the slot's URLs and the download's
// Content-Disposition carry the cleaned name.
func TestSlotNameBidi(t *testing.T) {
	h := newHarness(t, nil)
	p, g, err := h.slot(t, "alice@example.org/a", "invoice\u202Efdp.exe", 3, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{p, g} {
		if strings.Contains(u, "%E2%80%AE") || !strings.Contains(u, "/invoicefdp.exe") {
			t.Errorf("URL %s", u)
		}
	}
	if code := put(t, p, []byte("abc"), "text/plain"); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	resp, err := http.Get(g)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := resp.Header.Get("Content-Disposition"); !strings.Contains(d, "invoicefdp.exe") || strings.Contains(d, "%E2%80%AE") || strings.ContainsRune(d, '\u202E') {
		t.Errorf("Content-Disposition %q", d)
	}
}

// FuzzPUT: no PUT the service did not sign stores anything, and no request
// line or query makes the handler panic.
func FuzzPUT(f *testing.F) {
	f.Add(strings.Repeat("a", 32), "x.txt", "size=3&type=text%2Fplain&owner=alice%40example.org&expires=9999999999&sig=AAAA", "text/plain")
	f.Add("../../etc", "passwd", "size=-1&expires=x", "")
	f.Fuzz(func(t *testing.T, id, name, query, ctype string) {
		h := newHarness(t, nil)
		u := "/upload/" + url.PathEscape(id) + "/" + url.PathEscape(name) + "?" + query
		req, err := http.NewRequest(http.MethodPut, u, strings.NewReader("abc"))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		h.svc.Handler().ServeHTTP(w, req)
		if w.Code == http.StatusCreated {
			t.Fatalf("unsigned PUT %s stored", u)
		}
		if h.svc.Usage("alice@example.org") != 0 {
			t.Fatal("quota charged")
		}
	})
}
