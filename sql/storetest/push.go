package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/sql"
)

func testPush(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	p := s.Push
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	regs := func(user string) []push.Registration {
		t.Helper()
		rs, err := p.Registrations(ctx, user)
		check(t, "Registrations", err)
		return rs
	}
	nodes := func(rs []push.Registration) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.JID+"#"+r.Node)
		}
		return out
	}
	wantNodes := func(what string, rs []push.Registration, want ...string) {
		t.Helper()
		got := nodes(rs)
		if len(got) != len(want) {
			t.Fatalf("%s: %q, want %q", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %q, want %q", what, got, want)
			}
		}
	}
	if rs := regs(user); len(rs) != 0 {
		t.Fatalf("Registrations of a new account = %v", rs)
	}

	// A full registration reads back as written (times to the microsecond).
	opts := []byte(`<x xmlns="jabber:x:data" type="submit"><field var="secret"><value>s3cr3t</value></field></x>`)
	key := bytes.Repeat([]byte{7}, 16)
	first := push.Registration{Account: user, Resource: "phone", JID: "push.example.net", Node: "tok-1",
		Options: opts, EncryptKey: key, EncryptMaxSize: 2000, Since: at(0)}
	removed, err := p.Enable(ctx, first, 3)
	check(t, "Enable", err)
	if len(removed) != 0 {
		t.Fatalf("Enable removed %v", removed)
	}
	rs := regs(user)
	if len(rs) != 1 {
		t.Fatalf("Registrations = %v", rs)
	}
	got := rs[0]
	if got.Account != user || got.Resource != "phone" || got.JID != "push.example.net" || got.Node != "tok-1" ||
		!bytes.Equal(got.Options, opts) || !bytes.Equal(got.EncryptKey, key) || got.EncryptMaxSize != 2000 ||
		!got.Since.Equal(at(0).Truncate(time.Microsecond)) || !got.LastSuccess.IsZero() || !got.LastError.IsZero() ||
		got.Errors != 0 || got.LastErrorText != "" {
		t.Fatalf("Registration = %+v, want %+v", got, first)
	}

	// Outcomes: errors count up, a success clears them.
	check(t, "Record error", p.Record(ctx, user, "push.example.net", "tok-1", push.Outcome{At: at(1), Err: "remote-server-not-found"}))
	check(t, "Record error", p.Record(ctx, user, "push.example.net", "tok-1", push.Outcome{At: at(2), Err: "timeout"}))
	got = regs(user)[0]
	if got.Errors != 2 || got.LastErrorText != "timeout" || !got.LastError.Equal(at(2).Truncate(time.Microsecond)) || !got.LastSuccess.IsZero() {
		t.Fatalf("after two errors: %+v", got)
	}
	check(t, "Record success", p.Record(ctx, user, "push.example.net", "tok-1", push.Outcome{At: at(3)}))
	got = regs(user)[0]
	if got.Errors != 0 || !got.LastSuccess.Equal(at(3).Truncate(time.Microsecond)) || got.LastErrorText != "timeout" {
		t.Fatalf("after a success: %+v", got)
	}
	err = p.Record(ctx, user, "push.example.net", "nope", push.Outcome{At: at(3)})
	if !errors.Is(err, push.ErrNotFound) {
		t.Fatalf("Record of an unknown registration: %v, want push.ErrNotFound", err)
	}

	// Enabling the same JID and node again replaces it (fresh counters,
	// new resource, no options).
	check(t, "Record error", p.Record(ctx, user, "push.example.net", "tok-1", push.Outcome{At: at(4), Err: "wait"}))
	_, err = p.Enable(ctx, push.Registration{Account: user, Resource: "phone2", JID: "push.example.net", Node: "tok-1", Since: at(5)}, 3)
	check(t, "Enable again", err)
	got = regs(user)[0]
	if got.Resource != "phone2" || got.Options != nil || got.EncryptKey != nil || got.Errors != 0 || !got.LastError.IsZero() || !got.LastSuccess.IsZero() {
		t.Fatalf("re-enabled: %+v", got)
	}

	// At most max per account: the oldest goes.
	for i, n := range []string{"tok-2", "tok-3"} {
		removed, err := p.Enable(ctx, push.Registration{Account: user, Resource: "r" + n, JID: "p2.example.org", Node: n, Since: at(6 + i)}, 3)
		check(t, "Enable", err)
		if len(removed) != 0 {
			t.Fatalf("Enable removed %v", removed)
		}
	}
	removed, err = p.Enable(ctx, push.Registration{Account: user, Resource: "r4", JID: "p2.example.org", Node: "tok-4", Since: at(9)}, 3)
	check(t, "Enable beyond max", err)
	wantNodes("removed", removed, "push.example.net#tok-1")
	wantNodes("Registrations", regs(user), "p2.example.org#tok-2", "p2.example.org#tok-3", "p2.example.org#tok-4")
	// The registration being enabled is never the one removed, even with
	// equal times.
	removed, err = p.Enable(ctx, push.Registration{Account: user, Resource: "r5", JID: "a.example.org", Node: "tok-5", Since: at(0)}, 3)
	check(t, "Enable an old one", err)
	wantNodes("removed", removed, "p2.example.org#tok-2")
	wantNodes("Registrations", regs(user), "a.example.org#tok-5", "p2.example.org#tok-3", "p2.example.org#tok-4")

	_, err = p.Enable(ctx, push.Registration{Account: other, Resource: "x", JID: "p2.example.org", Node: "tok-3", Since: at(0)}, 3)
	check(t, "Enable for another user", err)

	// Disable one node, then every node of a JID.
	gone, err := p.Disable(ctx, user, "p2.example.org", "tok-3")
	check(t, "Disable", err)
	wantNodes("disabled", gone, "p2.example.org#tok-3")
	gone, err = p.Disable(ctx, user, "p2.example.org", "tok-3")
	check(t, "Disable again", err)
	wantNodes("disabled again", gone)
	_, err = p.Enable(ctx, push.Registration{Account: user, Resource: "r6", JID: "p2.example.org", Node: "tok-6", Since: at(10)}, 3)
	check(t, "Enable", err)
	gone, err = p.Disable(ctx, user, "p2.example.org", "")
	check(t, "Disable all at a JID", err)
	if len(gone) != 2 {
		t.Fatalf("Disable all at p2.example.org removed %v", nodes(gone))
	}
	wantNodes("Registrations", regs(user), "a.example.org#tok-5")
	wantNodes("other's", regs(other), "p2.example.org#tok-3")
}
