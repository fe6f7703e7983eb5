package routertest_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const (
	phone  = "alice@example.org/phone"
	laptop = "alice@example.org/laptop"
)

// echo registers a server IQ handler for <echo xmlns='urn:example'/> that
// answers with a copy of the payload.
func echo(h *routertest.Harness) {
	h.Mux.HandleIQ(router.ToServer, "urn:example", "echo", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(iq.Payload().Copy()), nil
	})
}

// hookLog records the resources a lifecycle hook ran for.
type hookLog struct {
	mu   sync.Mutex
	jids []string
}

func (l *hookLog) record(_ context.Context, full jid.JID) {
	l.mu.Lock()
	l.jids = append(l.jids, full.String())
	l.mu.Unlock()
}

func (l *hookLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.jids)
}

// fakeT records the failures of a helper under test. Run the helper with
// run: Fatalf ends its goroutine as testing.T's does.
type fakeT struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.fatal = true
	f.mu.Unlock()
	runtime.Goexit()
}

// run runs f in a goroutine of its own and returns the failures it
// reported and whether one was fatal.
func (f *fakeT) run(fn func()) ([]string, bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	errs, fatal := f.errors, f.fatal
	f.errors, f.fatal = nil, false
	return errs, fatal
}

func TestIQ(t *testing.T) {
	h := routertest.New(t)
	echo(h)
	alice := h.Bind(phone)
	if alice.JID.String() != phone {
		t.Errorf("recorder JID %s, want %s", alice.JID.String(), phone)
	}
	// Send stamps 'from'; the reply goes back to the sender's recorder.
	reply := h.IQ(phone, `<iq type='get' id='e1' to='example.org'><echo xmlns='urn:example'><x/></echo></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='e1' from='example.org' to='alice@example.org/phone'><echo xmlns='urn:example'><x/></echo></iq>`)
	if got := routertest.ErrorCondition(reply); got != "" {
		t.Errorf("ErrorCondition of a result = %q", got)
	}
	reply = h.IQ(phone, `<iq type='get' id='e2' to='example.org'><other xmlns='urn:example'/></iq>`)
	if got := routertest.ErrorCondition(reply); got != string(stanza.ServiceUnavailable) {
		t.Errorf("ErrorCondition = %q, want service-unavailable (%v)", got, reply)
	}
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("left over: %v", got)
	}
}

func TestHosts(t *testing.T) {
	h := routertest.New(t)
	if !h.Router.IsLocal(routertest.Host) || h.Router.IsLocal("localhost") {
		t.Errorf("the default harness serves %s only", routertest.Host)
	}
	h = routertest.New(t, "localhost", "example.net")
	if !h.Router.IsLocal("localhost") || !h.Router.IsLocal("example.net") || h.Router.IsLocal(routertest.Host) {
		t.Errorf("the harness does not serve the hosts it was given")
	}
	if h.Router.Mux() != h.Mux {
		t.Errorf("h.Mux is not the router's")
	}
}

func TestOnline(t *testing.T) {
	h := routertest.New(t)
	var available hookLog
	h.Mux.OnAvailable(available.record)
	h.Online(phone, 5)
	res, ok := h.Router.Resource(jid.MustParse(phone))
	if lp := res.LastPresence(jid.JID{}); !ok || !res.Available || res.Priority != 5 || lp == nil || lp.From.String() != phone {
		t.Errorf("after Online: %+v, %v; want available with priority 5, presence from %s", res, ok, phone)
	}
	h.Bind(laptop)
	h.SetPresence(laptop, `<presence><show>away</show></presence>`)
	res, _ = h.Router.Resource(jid.MustParse(laptop))
	if lp := res.LastPresence(jid.JID{}); !res.Available || lp == nil || lp.El.ChildText(stanza.NSClient, "show") != "away" || lp.From.String() != laptop {
		t.Errorf("after SetPresence: %+v", res)
	}
	if got := available.get(); !slices.Equal(got, []string{phone, laptop}) {
		t.Errorf("OnAvailable ran for %v", got)
	}

	ft := &fakeT{TB: t}
	if errs, fatal := ft.run(func() { h.In(ft).SetPresence("bob@example.org/x", `<presence/>`) }); !fatal || len(errs) != 1 {
		t.Errorf("SetPresence of an unbound resource: %v, fatal %v", errs, fatal)
	}
}

func TestExpect(t *testing.T) {
	h := routertest.New(t)
	a, b := h.Online(phone, 0), h.Online(laptop, 0)
	conf := h.Component("conference.example.org")
	if conf.JID.String() != "conference.example.org" || h.Recorder("conference.example.org") != conf || h.Recorder(phone) != a {
		t.Errorf("Recorder does not find what Bind and Component made")
	}
	msg := `<message type='chat' id='m' from='bob@example.org/pc' to='alice@example.org'><body>hi</body></message>`
	h.Route(msg)
	h.Send(phone, `<message type='chat' id='c' to='room@conference.example.org'/>`)
	h.Expect(map[string][]string{
		phone:                    {msg},
		laptop:                   {msg},
		"conference.example.org": {`<message type='chat' id='c' from='alice@example.org/phone' to='room@conference.example.org'/>`},
	})
	if len(a.Take())+len(b.Take())+len(conf.Take()) != 0 {
		t.Errorf("Expect did not take the stanzas")
	}

	ft := &fakeT{TB: t}
	hf := h.In(ft)
	for i, tc := range []struct {
		route string
		want  map[string][]string
		fatal bool
	}{
		0: {msg, map[string][]string{phone: {msg}}, false},                     // the laptop got one too
		1: {msg, map[string][]string{phone: {msg}, laptop: {msg, msg}}, false}, // one too few
		2: {msg, map[string][]string{phone: {msg}, laptop: {`<message/>`}}, false},
		3: {"", map[string][]string{"bob@example.org/pc": {msg}}, false}, // no such recorder
		4: {"", map[string][]string{"Alice@example.org/phone": nil}, true},
	} {
		if tc.route != "" {
			h.Route(tc.route)
		}
		errs, fatal := ft.run(func() { hf.Expect(tc.want) })
		if len(errs) != 1 || fatal != tc.fatal {
			t.Errorf("%d: Expect reported %q (fatal %v), want one failure (fatal %v)", i, errs, fatal, tc.fatal)
		}
	}
	if got := h.TakeAll(); len(got) != 0 {
		t.Errorf("left over: %v", got)
	}
}

func TestOne(t *testing.T) {
	h := routertest.New(t)
	alice := h.Bind(phone)
	ft := &fakeT{TB: t}
	if errs, fatal := ft.run(func() { alice.One(ft) }); !fatal || len(errs) != 1 {
		t.Errorf("One of nothing: %q, fatal %v", errs, fatal)
	}
	// A message to a full JID is delivered to it, available or not.
	h.Route(`<message type='chat' id='1' from='bob@example.org/pc' to='alice@example.org/phone'/>`)
	h.Route(`<message type='chat' id='2' from='bob@example.org/pc' to='alice@example.org/phone'/>`)
	if errs, fatal := ft.run(func() { alice.One(ft) }); !fatal || len(errs) != 1 {
		t.Errorf("One of two: %q, fatal %v", errs, fatal)
	}
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("One left %v", got)
	}
	if errs, _ := ft.run(func() { h.In(ft).IQ("bob@example.org/pc", `<iq type='get' id='x'/>`) }); len(errs) != 1 {
		t.Errorf("IQ from an unbound resource: %q", errs)
	}
}

func TestLimit(t *testing.T) {
	var r routertest.Recorder
	st := routertest.Parse(t, `<message id='1'/>`)
	if !r.Deliver(st) || !r.Deliver(st) {
		t.Fatal("a zero recorder refused a stanza")
	}
	r.Limit(1)
	if !r.Deliver(st) || r.Deliver(st) {
		t.Error("Limit(1) does not take exactly one more")
	}
	if got := r.Take(); len(got) != 3 {
		t.Errorf("recorded %d, want 3", len(got))
	}
}

func TestBindAndUnbind(t *testing.T) {
	h := routertest.New(t)
	var gone hookLog
	h.Mux.OnGone(gone.record)
	old := h.Bind(phone)
	alice := h.Bind(phone) // replaces the old one
	if h.Recorder(phone) != alice {
		t.Error("Recorder does not return the latest recorder")
	}
	h.Route(`<message type='chat' id='1' from='bob@example.org/pc' to='alice@example.org/phone'/>`)
	if len(old.Take()) != 0 || len(alice.Take()) != 1 {
		t.Error("the stanza did not go to the new recorder only")
	}
	if !h.Unbind(phone) || h.Unbind(phone) {
		t.Error("Unbind does not unbind once")
	}
	if got := gone.get(); !slices.Equal(got, []string{phone}) {
		t.Errorf("OnGone ran for %v", got)
	}
	if _, ok := h.Router.Resource(jid.MustParse(phone)); ok {
		t.Error("still bound")
	}
}

// TestIn runs subtests on one harness, each failing its own t.
func TestIn(t *testing.T) {
	h := routertest.New(t)
	echo(h)
	h.Bind(phone)
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := h.In(t)
			if h.T != t || h.Router == nil {
				t.Fatal("In does not keep the router")
			}
			id := fmt.Sprint("i", i)
			reply := h.IQ(phone, `<iq type='get' id='`+id+`' to='example.org'><echo xmlns='urn:example'/></iq>`)
			if reply.ID != id || reply.Type != stanza.TypeResult {
				t.Errorf("reply %v", reply)
			}
		})
	}
}

func TestEqualXML(t *testing.T) {
	parse := func(s string) *xml.Element {
		el, err := xml.Parse([]byte(s), stanza.NSClient)
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	base := `<iq type='get' id='1'><q xmlns='urn:x'><a k='v'>text</a><b/></q></iq>`
	for i, tc := range []struct {
		other string
		want  bool
	}{
		{base, true},
		{`<iq id='1' type='get'><q xmlns='urn:x'><a k='v'>text</a><b/></q></iq>`, true}, // attribute order
		{"<iq type='get' id='1'>\n\t<q xmlns='urn:x'><a k='v'> text </a><b/></q>\n</iq>", true},
		{`<iq type='get' id='2'><q xmlns='urn:x'><a k='v'>text</a><b/></q></iq>`, false},
		{`<iq type='get' id='1' to='x'><q xmlns='urn:x'><a k='v'>text</a><b/></q></iq>`, false},
		{`<iq type='get' id='1'><q xmlns='urn:y'><a k='v'>text</a><b/></q></iq>`, false},
		{`<iq type='get' id='1'><q xmlns='urn:x'><b/><a k='v'>text</a></q></iq>`, false}, // child order
		{`<iq type='get' id='1'><q xmlns='urn:x'><a k='v'>other</a><b/></q></iq>`, false},
		{`<iq type='get' id='1'><q xmlns='urn:x'><a k='v'>text</a></q></iq>`, false},
		{`<message type='get' id='1'><q xmlns='urn:x'><a k='v'>text</a><b/></q></message>`, false},
	} {
		if got := routertest.EqualXML(parse(base), parse(tc.other)); got != tc.want {
			t.Errorf("%d: EqualXML(%s) = %v, want %v", i, tc.other, got, tc.want)
		}
	}

	ft := &fakeT{TB: t}
	st := routertest.Parse(t, base)
	if errs, _ := ft.run(func() { routertest.WantXML(ft, st, base) }); len(errs) != 0 {
		t.Errorf("WantXML of an equal stanza: %q", errs)
	}
	if errs, fatal := ft.run(func() { routertest.WantXML(ft, st, `<iq/>`) }); len(errs) != 1 || fatal {
		t.Errorf("WantXML of another stanza: %q, fatal %v", errs, fatal)
	}
}

func TestParse(t *testing.T) {
	st := routertest.Parse(t, `<presence type='subscribe' id='p' from='a@example.org/r' to='b@example.org'/>`)
	if st.Kind != stanza.KindPresence || st.Type != stanza.TypeSubscribe || st.ID != "p" ||
		st.From.String() != "a@example.org/r" || st.To.String() != "b@example.org" || st.El.Name.Space != stanza.NSClient {
		t.Errorf("Parse = %+v", st)
	}
	ft := &fakeT{TB: t}
	for _, bad := range []string{`<message`, `<query xmlns='urn:x'/>`, `<message to='@x'/>`} {
		if errs, fatal := ft.run(func() { routertest.Parse(ft, bad) }); !fatal || len(errs) != 1 {
			t.Errorf("Parse(%s): %q, fatal %v", bad, errs, fatal)
		}
	}
}

func TestWantSerialized(t *testing.T) {
	const want = `<message id='1'><body>hi</body></message>`
	ft := &fakeT{TB: t}
	st := routertest.Parse(t, want)
	if errs, _ := ft.run(func() { routertest.WantSerialized(ft, st, want) }); len(errs) != 0 {
		t.Errorf("WantSerialized of an equal stanza: %q", errs)
	}
	if errs, fatal := ft.run(func() { routertest.WantSerialized(ft, st, `<message id='2'><body>hi</body></message>`) }); len(errs) != 1 || fatal {
		t.Errorf("WantSerialized of another stanza: %q, fatal %v", errs, fatal)
	}
	// A vertical tab is trimmed as white space in memory, but XML cannot
	// carry it: it is written as U+FFFD, which is not.
	st.El.Child(stanza.NSClient, "body").Children[0].Text = "hi\v"
	if errs, _ := ft.run(func() { routertest.WantXML(ft, st, want) }); len(errs) != 0 {
		t.Errorf("WantXML: %q", errs)
	}
	if errs, fatal := ft.run(func() { routertest.WantSerialized(ft, st, want) }); len(errs) != 1 || fatal {
		t.Errorf("WantSerialized of a stanza that does not serialize as it is: %q, fatal %v", errs, fatal)
	}
}

func TestDiscard(t *testing.T) {
	var d routertest.Discard
	var _ stanza.Target = &d
	h := routertest.New(t)
	h.Router.Bind(jid.MustParse(phone), &d)
	h.Router.Bind(jid.MustParse(laptop), &d)
	h.Route(`<message type='chat' id='1' from='bob@example.org/pc' to='alice@example.org/phone'/>`)
	h.Route(`<message type='chat' id='2' from='bob@example.org/pc' to='alice@example.org/laptop'/>`)
	if got := d.Count(); got != 2 {
		t.Errorf("Count = %d, want 2", got)
	}
	d.Reset()
	if got := d.Count(); got != 0 {
		t.Errorf("Count after Reset = %d", got)
	}
}

func TestAccounts(t *testing.T) {
	h := routertest.New(t)
	h.Router.SetAccounts(routertest.Accounts{"alice@example.org": true, "carol@example.org": false})
	for _, tc := range []struct {
		j    string
		want bool
	}{
		{"alice@example.org", true},
		{"alice@example.org/phone", true},
		{"carol@example.org", false},
		{"bob@example.org", false},
	} {
		if ok, err := h.Router.AccountExists(h.Ctx, jid.MustParse(tc.j)); ok != tc.want || err != nil {
			t.Errorf("AccountExists(%s) = %v, %v; want %v", tc.j, ok, err, tc.want)
		}
	}
	// A message to a bare JID that is no account bounces.
	h.Bind(phone)
	h.Send(phone, `<message type='chat' id='m' to='bob@example.org'><body>hi</body></message>`)
	if got := routertest.ErrorCondition(h.Recorder(phone).One(t)); got != string(stanza.ServiceUnavailable) {
		t.Errorf("bounce %q, want service-unavailable", got)
	}
}
