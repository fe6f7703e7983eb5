package router_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// echoService is the minimal in-process service of the router's package
// documentation: it lives at its own domain, answers its own service
// discovery, echoes the text of <echo xmlns='urn:example:echo'/> IQs,
// answers messages with a message, and refuses everything else.
type echoService struct {
	r      *router.Router
	domain jid.JID
}

const nsEcho = "urn:example:echo"

func (s *echoService) HandleStanza(ctx context.Context, st *stanza.Stanza) error {
	switch st.Kind {
	case stanza.KindIQ:
		if st.Type != stanza.TypeGet && st.Type != stanza.TypeSet {
			return nil // results and errors for requests we did not make
		}
		p := st.Payload()
		switch {
		case p != nil && p.Name.Space == router.NSDiscoInfo:
			s.r.Route(ctx, router.DiscoInfo(st,
				[]router.Identity{{Category: "component", Type: "generic", Name: "Echo"}},
				[]string{router.NSDiscoInfo, nsEcho}))
			return nil
		case p != nil && p.Name.Space == nsEcho:
			s.r.Route(ctx, st.Result(xml.NewElement(nsEcho, "echo").AddText(p.Text())))
			return nil
		}
		return stanza.NewError(stanza.ServiceUnavailable, "")
	case stanza.KindMessage:
		if st.Type == stanza.TypeError {
			return nil
		}
		reply := stanza.Build(stanza.KindMessage, stanza.TypeChat, "", st.To, st.From)
		reply.El.AddChild(xml.NewElement(stanza.NSClient, "body").AddText("echo: " + st.Body()))
		s.r.Route(ctx, reply)
		return nil
	}
	return nil // presence: ignored
}

func TestServiceExample(t *testing.T) {
	h := routertest.New(t)
	svc := &echoService{r: h.Router, domain: jid.MustParse("echo.example.org")}
	if err := h.Router.AddService("echo.example.org", "Echo", svc); err != nil {
		t.Fatal(err)
	}
	if err := h.Router.AddService("echo.example.org", "Again", svc); !errors.Is(err, router.ErrDomainTaken) {
		t.Errorf("second AddService: %v, want ErrDomainTaken", err)
	}
	if err := h.Router.AddService(routertest.Host, "Host", svc); !errors.Is(err, router.ErrDomainTaken) {
		t.Errorf("AddService at a served host: %v, want ErrDomainTaken", err)
	}
	if got := h.Router.Services(); len(got) != 1 || got[0] != (router.ServiceEntry{Domain: "echo.example.org", Name: "Echo"}) {
		t.Errorf("Services() = %v", got)
	}
	h.Bind("alice@example.org/phone")

	reply := h.IQ("alice@example.org/phone", `<iq type='get' id='d1' to='echo.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='d1' from='echo.example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='component' type='generic' name='Echo'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:example:echo'/></query></iq>`)

	reply = h.IQ("alice@example.org/phone", `<iq type='get' id='e1' to='room@echo.example.org'><echo xmlns='urn:example:echo'>hi</echo></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='e1' from='room@echo.example.org' to='alice@example.org/phone'><echo xmlns='urn:example:echo'>hi</echo></iq>`)

	reply = h.IQ("alice@example.org/phone", `<iq type='get' id='v1' to='echo.example.org'><query xmlns='jabber:iq:version'/></iq>`)
	if c := routertest.ErrorCondition(reply); c != "service-unavailable" {
		t.Errorf("unknown IQ: %s, want service-unavailable", reply)
	}

	h.Send("alice@example.org/phone", `<message type='chat' id='m1' to='bot@echo.example.org'><body>hello</body></message>`)
	got := h.Recorder("alice@example.org/phone").One(t)
	if got.Body() != "echo: hello" || !got.From.Equal(jid.MustParse("bot@echo.example.org")) {
		t.Errorf("message reply: %s", got)
	}

	h.Router.RemoveService("echo.example.org", svc)
	reply = h.IQ("alice@example.org/phone", `<iq type='get' id='e2' to='echo.example.org'><echo xmlns='urn:example:echo'>hi</echo></iq>`)
	if c := routertest.ErrorCondition(reply); c != "remote-server-not-found" {
		t.Errorf("after RemoveService: %s", reply)
	}
}

// answering is a component that answers IQ requests as told.
type answering struct {
	r      *router.Router
	answer func(st *stanza.Stanza) *stanza.Stanza // nil: no answer
}

func (a *answering) Deliver(st *stanza.Stanza) bool {
	if st.Kind == stanza.KindIQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		if reply := a.answer(st); reply != nil {
			go a.r.Route(context.Background(), reply) // as the component's reader would
		}
	}
	return true
}

func pingIQ(from, to string) *stanza.Stanza {
	iq := stanza.Build(stanza.KindIQ, stanza.TypeGet, "", jid.MustParse(from), jid.MustParse(to))
	iq.El.AddChild(xml.NewElement("urn:xmpp:ping", "ping"))
	return iq
}

func TestSendIQ(t *testing.T) {
	h := routertest.New(t)
	comp := &answering{r: h.Router}
	if err := h.Router.AddComponent("push.example.net", comp); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 100*time.Millisecond) }

	t.Run("result", func(t *testing.T) {
		comp.answer = func(st *stanza.Stanza) *stanza.Stanza { return st.Result(nil) }
		reply, err := h.Router.SendIQ(ctx, pingIQ("alice@example.org", "push.example.net"))
		if err != nil || reply.Type != stanza.TypeResult || !reply.From.Equal(jid.MustParse("push.example.net")) {
			t.Fatalf("SendIQ = %v, %v", reply, err)
		}
	})
	t.Run("error", func(t *testing.T) {
		comp.answer = func(st *stanza.Stanza) *stanza.Stanza {
			return st.ErrorReply(stanza.NewError(stanza.ItemNotFound, "no such node"))
		}
		reply, err := h.Router.SendIQ(ctx, pingIQ("alice@example.org", "push.example.net"))
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound || reply == nil || reply.Type != stanza.TypeError {
			t.Fatalf("SendIQ = %v, %v; want item-not-found", reply, err)
		}
	})
	t.Run("answer from another address is not an answer", func(t *testing.T) {
		comp.answer = func(st *stanza.Stanza) *stanza.Stanza {
			r := st.Result(nil)
			r.SetFrom(jid.MustParse("evil@push.example.net"))
			return r
		}
		c, cancel := short()
		defer cancel()
		if reply, err := h.Router.SendIQ(c, pingIQ("alice@example.org", "push.example.net")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SendIQ = %v, %v; want a timeout", reply, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		comp.answer = func(*stanza.Stanza) *stanza.Stanza { return nil }
		c, cancel := short()
		defer cancel()
		if _, err := h.Router.SendIQ(c, pingIQ("alice@example.org", "push.example.net")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SendIQ: %v, want a timeout", err)
		}
	})
	t.Run("unreachable domain", func(t *testing.T) {
		_, err := h.Router.SendIQ(ctx, pingIQ("alice@example.org", "push.elsewhere.example"))
		if !errors.Is(err, stanza.NewError(stanza.RemoteServerNotFound, "")) {
			t.Fatalf("SendIQ: %v, want remote-server-not-found", err)
		}
	})
	t.Run("from a service to a client", func(t *testing.T) {
		svc := router.ServiceFunc(func(context.Context, *stanza.Stanza) error {
			t.Error("the answer reached HandleStanza instead of SendIQ")
			return nil
		})
		if err := h.Router.AddService("svc.example.org", "", svc); err != nil {
			t.Fatal(err)
		}
		rec := h.Bind("bob@example.org/pc")
		done := make(chan error, 1)
		go func() {
			_, err := h.Router.SendIQ(ctx, pingIQ("svc.example.org", "bob@example.org/pc"))
			done <- err
		}()
		var req *stanza.Stanza
		for req == nil {
			if got := rec.Take(); len(got) > 0 {
				req = got[0]
			}
			time.Sleep(time.Millisecond)
		}
		reply := req.Result(nil)
		h.Router.Route(ctx, reply)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		h.Router.SetMaxPendingIQs(3)
		defer h.Router.SetMaxPendingIQs(0)
		comp.answer = func(*stanza.Stanza) *stanza.Stanza { return nil }
		c, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { h.Router.SendIQ(c, pingIQ("alice@example.org", "push.example.net")) })
		}
		for h.Router.PendingIQs() < 3 {
			time.Sleep(time.Millisecond)
		}
		_, err := h.Router.SendIQ(c, pingIQ("alice@example.org", "push.example.net"))
		cancel()
		wg.Wait()
		if !errors.Is(err, router.ErrTooManyRequests) {
			t.Fatalf("the fourth SendIQ: %v, want ErrTooManyRequests", err)
		}
		// Everything was cleaned up: requests go through again.
		if n := h.Router.PendingIQs(); n != 0 {
			t.Errorf("%d requests pending after cancel", n)
		}
		comp.answer = func(st *stanza.Stanza) *stanza.Stanza { return st.Result(nil) }
		for i := range 5 {
			if _, err := h.Router.SendIQ(ctx, pingIQ("alice@example.org", "push.example.net")); err != nil {
				t.Fatalf("request %d after cleanup: %v", i, err)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		comp.answer = func(st *stanza.Stanza) *stanza.Stanza { return st.Result(nil) }
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Go(func() {
				iq := pingIQ(fmt.Sprintf("u%d@example.org", i%5), "push.example.net")
				if _, err := h.Router.SendIQ(ctx, iq); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
