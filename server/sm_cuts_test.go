package server_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
)

var (
	smCuts = flag.Int("sm.cuts", 200, "connection cuts in TestSMRandomCuts")
	smSeed = flag.Uint64("sm.seed", 0, "random seed for TestSMRandomCuts (0: from the time)")
)

// received collects message numbers in arrival order.
type received struct {
	mu   sync.Mutex
	nums []int
	cond *sync.Cond
}

func newReceived() *received {
	r := &received{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *received) add(n int) {
	r.mu.Lock()
	r.nums = append(r.nums, n)
	r.cond.Broadcast()
	r.mu.Unlock()
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.nums)
}

// check reports whether the numbers are exactly 0..n-1 in order.
func (r *received) check(n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.nums) != n {
		return fmt.Errorf("%d messages, want %d", len(r.nums), n)
	}
	for i, x := range r.nums {
		if x != i {
			return fmt.Errorf("message %d is #%d (around: %v)", i, x, r.nums[max(0, i-5):min(len(r.nums), i+5)])
		}
	}
	return nil
}

// readMessages reads c until it fails, recording the number in the body of
// every message whose body starts with prefix; done is closed at the end.
func readMessages(c *xmpptest.Client, prefix string, r *received) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		for {
			el, err := c.Next()
			if err != nil {
				return
			}
			if el.Name.Local != "message" {
				continue
			}
			body := el.ChildText("jabber:client", "body")
			if n, err := strconv.Atoi(strings.TrimPrefix(body, prefix)); err == nil && strings.HasPrefix(body, prefix) {
				r.add(n)
			}
		}
	}()
	return done
}

// TestSMRandomCuts cuts alice's connection abruptly (a TCP reset or a FIN
// without </stream:stream>, sometimes in the middle of a stanza she is
// writing) at random moments of a two-way message stream with bob, resumes
// each time (over STARTTLS or direct TLS at random), and checks that every
// message in both directions arrives exactly once and in order.
// -sm.cuts=N runs more cuts; -sm.seed=S replays a run.
func TestSMRandomCuts(t *testing.T) {
	seed := *smSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -sm.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	// No archive: its disk writes (slow under -race) are not what this
	// test is about.
	ts := startSM(t, func(c *config.Config) { c.MAM.Default = "never" }, nil, nil)
	ts.users("alice", "bob")
	bob := ts.dialSM("bob", "pc")
	alice := ts.dialSM("alice", "phone")
	atBob, atAlice := newReceived(), newReceived()
	bobDone := readMessages(bob, "a", atBob)
	aliceDone := readMessages(alice, "b", atAlice)

	sentA, sentB := 0, 0
	toBob := func(n int) string {
		return fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='a%d'><body>a%d</body></message>", n, n)
	}
	toAlice := func(n int) string {
		return fmt.Sprintf("<message to='alice@localhost/phone' type='chat' id='b%d'><body>b%d</body></message>", n, n)
	}
	start := time.Now()
	var resets, fins, halves int
	for cut := range *smCuts {
		for range rng.IntN(12) {
			if rng.IntN(2) == 0 {
				if err := alice.SendStanza(toBob(sentA)); err != nil {
					t.Fatalf("cut %d: alice send: %v", cut, err)
				}
				sentA++
			} else {
				if err := bob.SendRaw(toAlice(sentB)); err != nil {
					t.Fatalf("cut %d: bob send: %v", cut, err)
				}
				sentB++
			}
			if rng.IntN(5) == 0 {
				alice.RequestAck()
			}
		}
		switch rng.IntN(4) {
		case 0: // in the middle of a stanza
			st := toBob(sentA)
			alice.SendStanzaPartial(st, 1+rng.IntN(len(st)-1))
			sentA++
			halves++
		case 1: // let the server get further first
			for range rng.IntN(50) {
				runtime.Gosched()
			}
		case 2:
			time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		}
		if rng.IntN(4) == 0 {
			alice.Drop()
			fins++
		} else {
			alice.Cut()
			resets++
		}
		<-aliceDone
		c, err := ts.resume("alice", alice.SM, rng.IntN(2) == 0)
		if err != nil {
			t.Fatalf("cut %d: resume: %v", cut, err)
		}
		alice = c
		aliceDone = readMessages(alice, "b", atAlice)
	}
	// Everything arrives.
	deadline := time.Now().Add(10 * time.Second)
	for (atBob.len() < sentA || atAlice.len() < sentB) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := atBob.check(sentA); err != nil {
		t.Errorf("alice → bob: %v", err)
	}
	if err := atAlice.check(sentB); err != nil {
		t.Errorf("bob → alice: %v", err)
	}
	// Nothing more (no duplicate at the end).
	time.Sleep(50 * time.Millisecond)
	if atBob.len() != sentA || atAlice.len() != sentB {
		t.Errorf("duplicates: bob %d/%d, alice %d/%d", atBob.len(), sentA, atAlice.len(), sentB)
	}
	t.Logf("%d cuts (%d resets, %d FINs, %d in mid-stanza) in %v; %d messages alice→bob, %d bob→alice",
		*smCuts, resets, fins, halves, time.Since(start).Round(time.Millisecond), sentA, sentB)
	st := ts.SessionsForTest().Stats()
	if st.Resumptions != uint64(*smCuts) || st.Timeouts != 0 || st.RescueErrors != 0 {
		t.Errorf("stats: %+v", st)
	}
	alice.Close()
	bob.Close()
	<-aliceDone
	<-bobDone
}
