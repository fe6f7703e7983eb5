package vcard_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/vcard"
)

var ctx = context.Background()

const alice = "alice@example.org/phone"

const (
	aliceCard = `<vCard xmlns='vcard-temp'><FN>Alice</FN><N><GIVEN>Alice</GIVEN></N>` +
		`<DESC xml:lang='en'>a &amp; b &lt;c&gt;</DESC><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>`
	bobCard = `<vCard xmlns='vcard-temp'><FN>Bob</FN></vCard>`
)

func errorXML(cond, typ, text string) string {
	s := `<error type='` + typ + `'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`
	if text != "" {
		s += `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text>`
	}
	return s + `</error>`
}

// memStore is an in-memory vcard.Store.
type memStore struct {
	mu    sync.Mutex
	cards map[string][]byte
}

func (m *memStore) VCard(_ context.Context, user string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cards[user]
	if !ok {
		return nil, vcard.ErrNotFound
	}
	return c, nil
}

func (m *memStore) SetVCard(_ context.Context, user string, card []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cards[user] = slices.Clone(card)
	return nil
}

func TestVCard(t *testing.T) {
	big := `<vCard xmlns='vcard-temp'><PHOTO><BINVAL>` + strings.Repeat("A", 2000) + `</BINVAL></PHOTO></vCard>`
	// Each step runs on the same server, in order.
	steps := []struct {
		in, want string
	}{
		0: { // own, none stored: an empty vCard
			in:   `<iq type='get' id='v0'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='result' id='v0' to='alice@example.org/phone'><vCard xmlns='vcard-temp'/></iq>`,
		},
		1: { // another's, none stored
			in:   `<iq type='get' id='v1' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='error' id='v1' from='bob@example.org' to='alice@example.org/phone'><vCard xmlns='vcard-temp'/>` + errorXML("item-not-found", "cancel", "") + `</iq>`,
		},
		2: { // set own, no 'to'
			in:   `<iq type='set' id='v2'>` + aliceCard + `</iq>`,
			want: `<iq type='result' id='v2' to='alice@example.org/phone'/>`,
		},
		3: { // get own, no 'to'
			in:   `<iq type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='result' id='v3' to='alice@example.org/phone'>` + aliceCard + `</iq>`,
		},
		4: { // get own, to the bare JID
			in:   `<iq type='get' id='v4' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='result' id='v4' from='alice@example.org' to='alice@example.org/phone'>` + aliceCard + `</iq>`,
		},
		5: { // set another's
			in: `<iq type='set' id='v5' to='bob@example.org'>` + bobCard + `</iq>`,
			want: `<iq type='error' id='v5' from='bob@example.org' to='alice@example.org/phone'>` + bobCard +
				errorXML("forbidden", "auth", "only the owner may change a vCard") + `</iq>`,
		},
		6: { // too large
			in: `<iq type='set' id='v6' to='alice@example.org'>` + big + `</iq>`,
			want: `<iq type='error' id='v6' from='alice@example.org' to='alice@example.org/phone'>` + big +
				errorXML("not-acceptable", "modify", "the vCard is larger than 1024 bytes") + `</iq>`,
		},
		7: { // the old one is kept
			in:   `<iq type='get' id='v7'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='result' id='v7' to='alice@example.org/phone'>` + aliceCard + `</iq>`,
		},
		8: { // replace it, set to the own bare JID
			in:   `<iq type='set' id='v8' to='alice@example.org'><vCard xmlns='vcard-temp'><FN>Alice B.</FN></vCard></iq>`,
			want: `<iq type='result' id='v8' from='alice@example.org' to='alice@example.org/phone'/>`,
		},
		9: {
			in:   `<iq type='get' id='v9'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='result' id='v9' to='alice@example.org/phone'><vCard xmlns='vcard-temp'><FN>Alice B.</FN></vCard></iq>`,
		},
		10: { // another's, stored (bob's is set below, before the steps)
			in:   `<iq type='get' id='v10' to='carol@example.org'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='result' id='v10' from='carol@example.org' to='alice@example.org/phone'><vCard xmlns='vcard-temp'><FN>Carol</FN></vCard></iq>`,
		},
		11: { // no such account
			in:   `<iq type='get' id='v11' to='nobody@example.org'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='error' id='v11' from='nobody@example.org' to='alice@example.org/phone'><vCard xmlns='vcard-temp'/>` + errorXML("item-not-found", "cancel", "") + `</iq>`,
		},
		12: { // the server has no vCard
			in:   `<iq type='get' id='v12' to='example.org'><vCard xmlns='vcard-temp'/></iq>`,
			want: `<iq type='error' id='v12' from='example.org' to='alice@example.org/phone'><vCard xmlns='vcard-temp'/>` + errorXML("service-unavailable", "cancel", "") + `</iq>`,
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			store := b.new(t)
			if err := store.SetVCard(ctx, "carol@example.org", []byte(`<vCard xmlns='vcard-temp'><FN>Carol</FN></vCard>`)); err != nil {
				t.Fatal(err)
			}
			h := routertest.New(t)
			vcard.New(vcard.Config{MaxSize: 1024}, store, nil).Register(h.Mux)
			h.Bind(alice)
			for i, tc := range steps {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					routertest.WantXML(t, h.In(t).IQ(alice, tc.in), tc.want)
				})
			}
		})
	}
}

// TestStored checks what is stored: the element with its namespace, which
// xml.Parse(data, "") reads back.
func TestStored(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testStored(t, b.new(t)) })
	}
}

func testStored(t *testing.T, store vcard.Store) {
	h := routertest.New(t)
	vcard.New(vcard.Config{}, store, nil).Register(h.Mux)
	rec := h.Bind(alice)
	iq := routertest.Parse(t, `<iq type='set' id='s' from='alice@example.org/phone'>`+aliceCard+`</iq>`)
	h.Router.Route(h.Ctx, iq)
	if st := rec.One(t); st.Type != "result" {
		t.Fatalf("got %s", st)
	}
	data, err := store.VCard(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if want := string(iq.Payload().AppendXML(nil, "")); string(data) != want {
		t.Errorf("stored %s, want %s", data, want)
	}
	if !strings.HasPrefix(string(data), `<vCard xmlns='vcard-temp'>`) {
		t.Errorf("stored %s without its namespace", data)
	}
}

func TestFeatures(t *testing.T) {
	mux := router.NewMux()
	vcard.New(vcard.Config{}, nil, nil).Register(mux)
	for _, to := range []router.Addressee{router.ToServer, router.ToAccount} {
		if !slices.Contains(mux.Features(to), vcard.NS) {
			t.Errorf("features(%d) %v lack %s", to, mux.Features(to), vcard.NS)
		}
	}
}

// failing is a store whose every call fails.
type failing struct{}

func (failing) VCard(context.Context, string) ([]byte, error)  { return nil, errors.New("disk on fire") }
func (failing) SetVCard(context.Context, string, []byte) error { return errors.New("disk on fire") }

// corrupt is a store holding data that does not parse.
type corrupt struct{ failing }

func (corrupt) VCard(context.Context, string) ([]byte, error) { return []byte("<vCard"), nil }

func TestStoreErrors(t *testing.T) {
	get := `<iq type='get' id='e' from='alice@example.org/phone'><vCard xmlns='vcard-temp'/></iq>`
	set := `<iq type='set' id='e' from='alice@example.org/phone'><vCard xmlns='vcard-temp'/></iq>`
	for _, tc := range []struct {
		store vcard.Store
		in    string
	}{
		{failing{}, get},
		{failing{}, set},
		{corrupt{}, get}, // stored data that does not parse
	} {
		h := routertest.New(t)
		vcard.New(vcard.Config{}, tc.store, nil).Register(h.Mux)
		h.Bind(alice)
		routertest.WantXML(t, h.IQ(alice, tc.in), `<iq type='error' id='e' from='example.org' to='alice@example.org/phone'><vCard xmlns='vcard-temp'/>`+
			errorXML("internal-server-error", "cancel", "")+`</iq>`)
	}
}
