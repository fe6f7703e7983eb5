package register_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/auth/authtest"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/register"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

var ctx = context.Background()

const phone = "alice@example.org/phone"

func newAccounts(t *testing.T, names ...string) *authtest.MemStore {
	t.Helper()
	a := &authtest.MemStore{}
	for _, n := range names {
		if err := a.CreateAccount(ctx, n, mustCredentials(t, "old password")); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func mustCredentials(t *testing.T, pw string) auth.Credentials {
	t.Helper()
	c, err := auth.NewCredentials(pw, 1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// session is a recorder that can be closed like a session.Conn.
type session struct {
	*routertest.Recorder
	mu     sync.Mutex
	closed *stream.Error
}

// bindSession binds full to a closable session whose stanzas h records
// at full.
func bindSession(h *routertest.Harness, full string) *session {
	s := &session{Recorder: h.Bind(full)}
	h.Router.Bind(s.JID, s) // the session in place of its bare recorder
	return s
}

func (s *session) CloseWithError(e *stream.Error) {
	s.mu.Lock()
	s.closed = e
	s.mu.Unlock()
}

func (s *session) closedWith() *stream.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// setup returns a harness with the register service and alice bound as a
// closable session.
func setup(t *testing.T, cfg register.Config, accounts auth.Store) (*routertest.Harness, *session) {
	t.Helper()
	h := routertest.New(t)
	register.New(cfg, accounts, h.Router, nil).Register(h.Mux)
	return h, bindSession(h, phone)
}

func stanzaError(cond, typ, text string) string {
	s := `<error type='` + typ + `'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`
	if text != "" {
		s += `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text>`
	}
	return s + `</error>`
}

func change(id, to, username, password string) string {
	s := `<iq type='set' id='` + id + `' from='alice@example.org/phone'`
	if to != "" {
		s += ` to='` + to + `'`
	}
	s += `><query xmlns='jabber:iq:register'>`
	if username != "-" {
		s += `<username>` + username + `</username>`
	}
	if password != "-" {
		s += `<password>` + password + `</password>`
	}
	return s + `</query></iq>`
}

func TestPasswordChange(t *testing.T) {
	sh := newShared(t)
	for i, tc := range []struct {
		cfg     register.Config
		in      string
		want    string
		changed bool
	}{
		0: {
			cfg:     register.Config{AllowPasswordChange: true},
			in:      change("c0", "example.org", "alice", "new password"),
			want:    `<iq type='result' id='c0' from='example.org' to='alice@example.org/phone'/>`,
			changed: true,
		},
		1: { // no 'to', the username as a bare JID, in another case
			cfg:     register.Config{AllowPasswordChange: true},
			in:      change("c1", "", "Alice@Example.org", "new password"),
			want:    `<iq type='result' id='c1' to='alice@example.org/phone'/>`,
			changed: true,
		},
		2: { // to the own bare JID
			cfg:     register.Config{AllowPasswordChange: true},
			in:      change("c2", "alice@example.org", "alice", "new password"),
			want:    `<iq type='result' id='c2' from='alice@example.org' to='alice@example.org/phone'/>`,
			changed: true,
		},
		3: { // someone else's: the error does not echo the request
			cfg:  register.Config{AllowPasswordChange: true},
			in:   change("c3", "example.org", "bob", "new password"),
			want: `<iq type='error' id='c3' from='example.org' to='alice@example.org/phone'>` + stanzaError("forbidden", "auth", "you can only change your own password") + `</iq>`,
		},
		4: {
			cfg:  register.Config{AllowPasswordChange: true},
			in:   change("c4", "bob@example.org", "bob", "new password"),
			want: `<iq type='error' id='c4' from='bob@example.org' to='alice@example.org/phone'>` + stanzaError("forbidden", "auth", "an account is managed by its owner") + `</iq>`,
		},
		5: { // no username
			cfg:  register.Config{AllowPasswordChange: true},
			in:   change("c5", "example.org", "-", "new password"),
			want: `<iq type='error' id='c5' from='example.org' to='alice@example.org/phone'>` + stanzaError("bad-request", "modify", "a password change needs username and password") + `</iq>`,
		},
		6: { // empty password (§3.3: keep the old one)
			cfg:  register.Config{AllowPasswordChange: true},
			in:   change("c6", "example.org", "alice", ""),
			want: `<iq type='error' id='c6' from='example.org' to='alice@example.org/phone'>` + stanzaError("not-acceptable", "modify", "the password must have at least 6 characters") + `</iq>`,
		},
		7: { // too short
			cfg:  register.Config{AllowPasswordChange: true, MinPasswordLength: 10},
			in:   change("c7", "example.org", "alice", "123456789"),
			want: `<iq type='error' id='c7' from='example.org' to='alice@example.org/phone'>` + stanzaError("not-acceptable", "modify", "the password must have at least 10 characters") + `</iq>`,
		},
		8: { // long enough in characters, not in bytes
			cfg:     register.Config{AllowPasswordChange: true, MinPasswordLength: 3},
			in:      change("c8", "example.org", "alice", "ééé"),
			want:    `<iq type='result' id='c8' from='example.org' to='alice@example.org/phone'/>`,
			changed: true,
		},
		9: { // disabled, with registration enabled
			cfg:  register.Config{Enabled: true},
			in:   change("c9", "example.org", "alice", "new password"),
			want: `<iq type='error' id='c9' from='example.org' to='alice@example.org/phone'>` + stanzaError("not-allowed", "cancel", "password changes are disabled") + `</iq>`,
		},
		10: { // both disabled
			cfg:  register.Config{},
			in:   change("c10", "example.org", "alice", "new password"),
			want: `<iq type='error' id='c10' from='example.org' to='alice@example.org/phone'>` + stanzaError("not-allowed", "cancel", "in-band registration is disabled") + `</iq>`,
		},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			sh.forEach(t, nil, []string{"alice@example.org", "bob@example.org"}, func(t *testing.T, accounts auth.Store) {
				h, _ := setup(t, tc.cfg, accounts)
				routertest.WantXML(t, h.IQ(phone, tc.in), tc.want)
				c, _ := accounts.Credentials(ctx, "alice@example.org")
				pw := "new password"
				if i == 8 {
					pw = "ééé"
				}
				if got := c.SHA256.VerifyPassword(sha256.New, pw); got != tc.changed {
					t.Errorf("password changed: %v, want %v", got, tc.changed)
				}
				if !tc.changed && !c.SHA256.VerifyPassword(sha256.New, "old password") {
					t.Error("the old password no longer works")
				}
				b, _ := accounts.Credentials(ctx, "bob@example.org")
				if !b.SHA256.VerifyPassword(sha256.New, "old password") {
					t.Error("bob's password changed")
				}
			})
		})
	}
}

func TestGet(t *testing.T) {
	h, _ := setup(t, register.Config{AllowPasswordChange: true}, newAccounts(t, "alice@example.org"))
	routertest.WantXML(t, h.IQ(phone, `<iq type='get' id='g' from='alice@example.org/phone'><query xmlns='jabber:iq:register'/></iq>`), `<iq type='result' id='g' to='alice@example.org/phone'><query xmlns='jabber:iq:register'>
		<registered/><username>alice</username></query></iq>`)
}

func TestRemove(t *testing.T) {
	sh := newShared(t)
	for i, tc := range []struct {
		accounts []string
		cfg      *register.Config // default: password changes allowed
		fail     error
		in       string
		want     string
		removed  bool
	}{
		0: {
			accounts: []string{"alice@example.org"},
			in:       `<iq type='set' id='r0' from='alice@example.org/phone'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			want:     `<iq type='result' id='r0' to='alice@example.org/phone'/>`,
			removed:  true,
		},
		1: { // not registered (any more)
			in:   `<iq type='set' id='r1' from='alice@example.org/phone'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			want: `<iq type='error' id='r1' to='alice@example.org/phone'>` + stanzaError("registration-required", "auth", "") + `</iq>`,
		},
		2: { // remove is not alone
			accounts: []string{"alice@example.org"},
			in:       `<iq type='set' id='r2' from='alice@example.org/phone'><query xmlns='jabber:iq:register'><remove/><username>alice</username></query></iq>`,
			want:     `<iq type='error' id='r2' to='alice@example.org/phone'>` + stanzaError("bad-request", "modify", "remove must be the only element") + `</iq>`,
		},
		3: { // someone else's account
			accounts: []string{"alice@example.org", "bob@example.org"},
			in:       `<iq type='set' id='r3' from='alice@example.org/phone' to='bob@example.org'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			want:     `<iq type='error' id='r3' from='bob@example.org' to='alice@example.org/phone'>` + stanzaError("forbidden", "auth", "an account is managed by its owner") + `</iq>`,
		},
		4: { // disabled
			accounts: []string{"alice@example.org"},
			cfg:      &register.Config{},
			in:       `<iq type='set' id='r4' from='alice@example.org/phone'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			want:     `<iq type='error' id='r4' to='alice@example.org/phone'>` + stanzaError("not-allowed", "cancel", "in-band registration is disabled") + `</iq>`,
		},
		5: {
			accounts: []string{"alice@example.org"},
			fail:     errors.New("disk on fire"),
			in:       `<iq type='set' id='r5' from='alice@example.org/phone'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			want:     `<iq type='error' id='r5' to='alice@example.org/phone'>` + stanzaError("internal-server-error", "cancel", "") + `</iq>`,
		},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			sh.forEach(t, tc.fail, tc.accounts, func(t *testing.T, accounts auth.Store) {
				cfg := register.Config{AllowPasswordChange: true}
				if tc.cfg != nil {
					cfg = *tc.cfg
				}
				h, alice := setup(t, cfg, accounts)
				laptop := bindSession(h, "alice@example.org/laptop")
				routertest.WantXML(t, h.IQ(phone, tc.in), tc.want)
				_, err := accounts.Credentials(ctx, "alice@example.org")
				if gone := errors.Is(err, auth.ErrNotFound); gone != (tc.removed || len(tc.accounts) == 0) {
					t.Errorf("account removed: %v, want %v", gone, tc.removed)
				}
				for _, s := range []*session{alice, laptop} {
					e := s.closedWith()
					switch {
					case tc.removed && (e == nil || e.Condition != stream.NotAuthorized):
						t.Errorf("%s closed with %v, want not-authorized", s.JID, e)
					case !tc.removed && e != nil:
						t.Errorf("%s closed with %v", s.JID, e)
					}
				}
			})
		})
	}
}

func TestFeatures(t *testing.T) {
	for i, tc := range []struct {
		cfg  register.Config
		want bool
	}{
		{register.Config{}, false},
		{register.Config{AllowPasswordChange: true}, true},
		{register.Config{Enabled: true}, true},
	} {
		h, _ := setup(t, tc.cfg, newAccounts(t))
		if got := slices.Contains(h.Mux.Features(router.ToServer), register.NS); got != tc.want {
			t.Errorf("%d: advertised %v, want %v", i, got, tc.want)
		}
	}
	want, _ := xml.Parse([]byte(`<register xmlns='http://jabber.org/features/iq-register'/>`), "")
	if f := register.StreamFeature(); !routertest.EqualXML(f, want) {
		t.Errorf("stream feature %s", f)
	}
}

// preAuth wraps an IQ as the session passes it: no 'from'.
func preAuth(t *testing.T, s string) *stanza.Stanza {
	t.Helper()
	st := routertest.Parse(t, s)
	st.SetFrom(jid.JID{})
	return st
}

func create(id, username, password string) string {
	return `<iq type='set' id='` + id + `'><query xmlns='jabber:iq:register'><username>` + username +
		`</username><password>` + password + `</password></query></iq>`
}

func TestPreAuth(t *testing.T) {
	sh := newShared(t)
	on := register.Config{Enabled: true}
	for i, tc := range []struct {
		cfg     register.Config
		fail    error
		in      string
		want    string // "" for no reply
		created string
	}{
		0: { // the fields
			cfg: on,
			in:  `<iq type='get' id='p0' to='example.org'><query xmlns='jabber:iq:register'/></iq>`,
			want: `<iq type='result' id='p0' from='example.org'><query xmlns='jabber:iq:register'>
				<instructions>` + register.DefaultInstructions + `</instructions><username/><password/></query></iq>`,
		},
		1: {
			cfg:     on,
			in:      create("p1", "Carol", "a good password"),
			want:    `<iq type='result' id='p1'/>`,
			created: "carol@example.org",
		},
		2: { // taken
			cfg:  on,
			in:   create("p2", "alice", "a good password"),
			want: `<iq type='error' id='p2'>` + stanzaError("conflict", "cancel", "the username is taken") + `</iq>`,
		},
		3: { // invalid usernames
			cfg:  on,
			in:   create("p3", "car@l", "a good password"),
			want: `<iq type='error' id='p3'>` + stanzaError("not-acceptable", "modify", "the username is not valid") + `</iq>`,
		},
		4: {
			cfg:  on,
			in:   create("p4", "", "a good password"),
			want: `<iq type='error' id='p4'>` + stanzaError("not-acceptable", "modify", "the username is not valid") + `</iq>`,
		},
		5: {
			cfg:  on,
			in:   create("p5", strings.Repeat("x", 1100), "a good password"),
			want: `<iq type='error' id='p5'>` + stanzaError("not-acceptable", "modify", "the username is not valid") + `</iq>`,
		},
		6: { // short password
			cfg:  on,
			in:   create("p6", "carol", "12345"),
			want: `<iq type='error' id='p6'>` + stanzaError("not-acceptable", "modify", "the password must have at least 6 characters") + `</iq>`,
		},
		7: { // disabled
			cfg:  register.Config{AllowPasswordChange: true},
			in:   create("p7", "carol", "a good password"),
			want: `<iq type='error' id='p7'>` + stanzaError("service-unavailable", "cancel", "") + `</iq>`,
		},
		8: { // another namespace
			cfg:  on,
			in:   `<iq type='get' id='p8'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: `<iq type='error' id='p8'>` + stanzaError("service-unavailable", "cancel", "") + `</iq>`,
		},
		9: { // removal needs an account
			cfg:  on,
			in:   `<iq type='set' id='p9'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			want: `<iq type='error' id='p9'>` + stanzaError("unexpected-request", "wait", "authenticate to remove an account") + `</iq>`,
		},
		10: { // results need no answer
			cfg: on,
			in:  `<iq type='result' id='p10'/>`,
		},
		11: {
			cfg:  on,
			fail: errors.New("disk on fire"),
			in:   create("p11", "carol", "a good password"),
			want: `<iq type='error' id='p11'>` + stanzaError("internal-server-error", "cancel", "") + `</iq>`,
		},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			sh.forEach(t, tc.fail, []string{"alice@example.org"}, func(t *testing.T, accounts auth.Store) {
				svc := register.New(tc.cfg, accounts, routertest.New(t).Router, nil)
				got := svc.PreAuth(ctx, routertest.Host, preAuth(t, tc.in))
				switch {
				case tc.want == "" && got != nil:
					t.Errorf("got %s, want no reply", got)
				case tc.want != "" && got == nil:
					t.Errorf("no reply, want %s", tc.want)
				case tc.want != "":
					routertest.WantXML(t, got, tc.want)
				}
				names, _ := accounts.Accounts(ctx, "")
				want := []string{"alice@example.org"}
				if tc.created != "" {
					want = append(want, tc.created)
					slices.Sort(want)
					c, _ := accounts.Credentials(ctx, tc.created)
					if !c.SHA256.VerifyPassword(sha256.New, "a good password") {
						t.Error("the new account does not have the password")
					}
				}
				if !slices.Equal(names, want) {
					t.Errorf("accounts %v, want %v", names, want)
				}
			})
		})
	}
}
