package session

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

type nopRouter struct{}

func (nopRouter) BindReplacing(context.Context, jid.JID, stanza.Target) stanza.Target { return nil }
func (nopRouter) Unbind(context.Context, jid.JID, stanza.Target) bool                 { return true }
func (nopRouter) Route(context.Context, *stanza.Stanza)                               {}

// BenchmarkDeliver measures the outbound hot path of a live session
// (Deliver, queue, batch write to a discarding peer), without and with
// XEP-0198 (queue until acknowledged, <r/> every 5 stanzas, the client
// acknowledging every 100).
func BenchmarkDeliver(b *testing.B) {
	for _, withSM := range []bool{false, true} {
		name := "plain"
		if withSM {
			name = "sm"
		}
		b.Run(name, func(b *testing.B) {
			srv := &Server{Router: nopRouter{}}
			srv.init()
			a, z := net.Pipe()
			go io.Copy(io.Discard, z)
			defer a.Close()
			c := newConn(srv, a, netip.Addr{}, false)
			full := jid.MustParse("alice@example.org/phone")
			s := newSession(srv, c, full)
			if withSM {
				s.sm, s.id, s.timeout = true, "id", srv.Config.SM.ResumeTimeout
			}
			st := stanza.Build(stanza.KindMessage, stanza.TypeChat, "m1", jid.MustParse("bob@example.org/pc"), full)
			st.El.AddChild(xml.NewElement(stanza.NSClient, "body").AddText("The quick brown fox jumps over the lazy dog."))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if !s.Deliver(st) {
					b.Fatal("refused")
				}
				if n++; withSM && n%100 == 0 {
					s.mu.Lock()
					h := s.acked + uint32(s.out.len())
					s.mu.Unlock()
					if err := s.ack(h); err != nil {
						b.Fatal(err)
					}
				}
				if n%512 == 0 {
					// Let the writer keep up, as a reading client would.
					for done := c.q.Idle(); done != nil; done = c.q.Idle() {
						<-done
					}
				}
			}
		})
	}
}
