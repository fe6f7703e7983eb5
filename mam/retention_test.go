package mam_test

import (
	"context"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
)

func TestRetention(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		e.online("bob@localhost/phone")
		e.online("carol@localhost/x")
		// Day 0..9: one message a day alice→bob and bob→carol.
		for day := range 10 {
			e.clock.set(epoch.Add(time.Duration(day) * 24 * time.Hour))
			e.send(aliceDesk, `<message type='chat' to='bob@localhost'><body>a</body></message>`)
			e.send("bob@localhost/phone", `<message type='chat' to='carol@localhost'><body>b</body></message>`)
		}
		count := func() (a, b, c int) {
			return len(e.archive("alice@localhost")), len(e.archive("bob@localhost")), len(e.archive("carol@localhost"))
		}
		if a, b, c := count(); a != 10 || b != 20 || c != 10 {
			t.Fatalf("archives %d %d %d", a, b, c)
		}
		// Virtual time: on day 12, keep 5 days: days 0..6 go (before
		// day 7 exclusive).
		e.clock.set(epoch.Add(12 * 24 * time.Hour))
		n, err := e.svc.RunRetention(e.ctx, 5*24*time.Hour)
		if err != nil || n != 7*4 {
			t.Errorf("RunRetention = %d, %v; want %d", n, err, 7*4)
		}
		if a, b, c := count(); a != 3 || b != 6 || c != 3 {
			t.Errorf("after retention: %d %d %d, want 3 6 3", a, b, c)
		}
		// The oldest message left is from day 7.
		f := e.query(aliceDesk, "", rsm("<max>1</max>"))
		if len(f.results) != 1 || f.results[0].stamp != mam.FormatStamp(epoch.Add(7*24*time.Hour)) {
			t.Errorf("oldest left: %+v", f.results)
		}
		// Purge one user's archive only.
		n, err = e.svc.Purge(e.ctx, epoch.Add(9*24*time.Hour), "bob@localhost")
		if err != nil || n != 4 {
			t.Errorf("Purge(bob) = %d, %v; want 4", n, err)
		}
		if a, b, c := count(); a != 3 || b != 2 || c != 3 {
			t.Errorf("after purge of bob: %d %d %d, want 3 2 3", a, b, c)
		}
		if _, err := e.svc.RunRetention(e.ctx, 0); err == nil {
			t.Error("RunRetention with maxAge 0 succeeded")
		}
		// Deleting an archive removes the messages and the preferences.
		e.iq(aliceDesk, `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>`)
		if err := e.svc.DeleteArchive(e.ctx, mustJID(t, "alice@localhost")); err != nil {
			t.Fatal(err)
		}
		if a, _, _ := count(); a != 0 {
			t.Errorf("after DeleteArchive: %d messages", a)
		}
		def, _, _ := prefsOf(t, e.iq(aliceDesk, `<iq type='get' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>`))
		if def != "always" {
			t.Errorf("prefs after DeleteArchive: default %q", def)
		}
	})
}

// chunkStore records the limits DeleteBefore is called with.
type chunkStore struct {
	mam.Store
	left   int
	limits []int
}

func (s *chunkStore) DeleteBefore(_ context.Context, _ time.Time, _ string, limit int) (int, error) {
	s.limits = append(s.limits, limit)
	n := min(limit, s.left)
	s.left -= n
	return n, nil
}

func TestPurgeChunks(t *testing.T) {
	store, _ := newStore(t, memBackend)
	cs := &chunkStore{Store: store, left: 2*mam.PurgeChunk + 5}
	e := newEnvStore(t, memBackend, cs, nil, mam.Config{})
	n, err := e.svc.Purge(e.ctx, epoch, "")
	if err != nil || n != 2*mam.PurgeChunk+5 {
		t.Errorf("Purge = %d, %v", n, err)
	}
	if len(cs.limits) != 3 || cs.limits[0] != mam.PurgeChunk {
		t.Errorf("DeleteBefore calls: %v", cs.limits)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	cs.left = 10 * mam.PurgeChunk
	if _, err := e.svc.Purge(ctx, epoch, ""); err == nil {
		t.Error("Purge with a cancelled context succeeded")
	}
}

func TestValidateDefault(t *testing.T) {
	for d, ok := range map[string]bool{"": true, "always": true, "roster": true, "never": true, "Always": false, "x": false} {
		if err := mam.ValidateDefault(d); (err == nil) != ok {
			t.Errorf("ValidateDefault(%q) = %v", d, err)
		}
	}
}
