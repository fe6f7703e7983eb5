package wire

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// sink records what a Queue writes.
type sink struct {
	mu    sync.Mutex
	buf   strings.Builder
	err   error
	ended chan error
}

func newQueue(s *sink) *Queue {
	s.ended = make(chan error, 1)
	q := &Queue{}
	q.Init(QueueConfig{
		NS: stanza.NSClient,
		Write: func(b []byte) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.err != nil {
				return s.err
			}
			s.buf.Write(b)
			return nil
		},
		End: func(err error) { s.ended <- err },
	})
	return q
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func wait(t *testing.T, q *Queue) {
	t.Helper()
	for done := q.Idle(); done != nil; done = q.Idle() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("writer did not finish")
		}
	}
}

func msg(id string) *stanza.Stanza {
	return stanza.Build(stanza.KindMessage, stanza.TypeChat, id, jid.MustParse("a@x/r"), jid.MustParse("b@x/r"))
}

func TestQueueOrderBoundClose(t *testing.T) {
	s := &sink{}
	q := newQueue(s)
	q.Hold()
	if !q.Push(Item{Raw: []byte("<a/>")}, 1) || !q.Push(Item{St: msg("1")}, 2) || !q.Push(Item{St: msg("2")}, 3) {
		t.Fatal("refused below the bound")
	}
	if q.Push(Item{St: msg("3")}, 3) {
		t.Error("accepted a stanza over the bound")
	}
	if !q.Push(Item{St: msg("4"), Force: true}, 3) {
		t.Error("refused a forced stanza")
	}
	if s.String() != "" {
		t.Fatalf("wrote while held: %q", s.String())
	}
	if !q.Release(Item{Raw: []byte("<first/>")}) {
		t.Fatal("release refused")
	}
	wait(t, q)
	got := s.String()
	for i, want := range []string{"<first/>", "<a/>", "id='1'", "id='2'", "id='4'"} {
		j := strings.Index(got, want)
		if j < 0 {
			t.Fatalf("%d: %q missing from %q", i, want, got)
		}
		got = got[j:]
	}
	if !q.Push(Item{Raw: []byte("</end>"), Close: true}, 0) {
		t.Fatal("close item refused")
	}
	if err := <-s.ended; err != nil {
		t.Errorf("ended with %v", err)
	}
	if q.Push(Item{Raw: []byte("<late/>")}, 10) || q.Release(Item{}) {
		t.Error("accepted after close")
	}
	if !strings.HasSuffix(s.String(), "</end>") {
		t.Errorf("wrote %q", s.String())
	}
}

func TestQueueWriteError(t *testing.T) {
	s := &sink{err: errors.New("broken pipe")}
	q := newQueue(s)
	q.Push(Item{St: msg("1")}, 10)
	if err := <-s.ended; err == nil {
		t.Fatal("ended without the write error")
	}
	if q.Push(Item{St: msg("2")}, 10) {
		t.Error("accepted after a failed write")
	}
	if q.Close() != nil {
		t.Error("a writer still runs")
	}
	q.Free()
}
