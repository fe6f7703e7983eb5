package session

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// TestLogAttrs: connection and session records carry who they are about,
// as it becomes known, without a preformatted logger per connection.
func TestLogAttrs(t *testing.T) {
	var buf bytes.Buffer
	srv := &Server{Router: nopRouter{}, Log: slog.New(slog.NewTextHandler(&buf, nil)).With("xep", "c2s")}
	srv.init()
	a, z := net.Pipe()
	defer a.Close()
	defer z.Close()
	c := newConn(srv, a, netip.Addr{}, false)
	full := jid.MustParse("alice@example.org/phone")
	steps := []struct {
		do   func()
		log  func()
		want []string
		not  []string
	}{
		0: {func() {}, func() { c.log().Info("m0") }, []string{"xep=c2s", "conn=", "remote=pipe", "msg=m0"}, []string{"user=", "jid="}},
		1: {func() { c.setWho("user", "alice@example.org") }, func() { c.log().Info("m1", "k", 1) }, []string{"user=alice@example.org", "k=1"}, []string{"jid="}},
		2: {func() {
			s := newSession(srv, c, full)
			c.sess.Store(s)
			c.who.Store(nil)
		}, func() { c.log().With("w", 2).Info("m2") }, []string{"jid=alice@example.org/phone", "w=2"}, []string{"user="}},
		3: {func() {}, func() { c.sess.Load().log().Warn("m3") }, []string{"jid=alice@example.org/phone", "level=WARN", "xep=c2s"}, []string{"conn="}},
	}
	for i, st := range steps {
		buf.Reset()
		st.do()
		st.log()
		line := buf.String()
		for _, w := range st.want {
			if !strings.Contains(line, w) {
				t.Errorf("%d: %q lacks %q", i, line, w)
			}
		}
		for _, w := range st.not {
			if strings.Contains(line, w) {
				t.Errorf("%d: %q has %q", i, line, w)
			}
		}
	}
}
