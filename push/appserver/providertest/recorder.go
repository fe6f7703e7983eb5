package providertest

import (
	"fmt"
	"sync"
	"time"
)

// Answer is how a fake answers one request.
type Answer struct {
	Status     int    // HTTP status; 0 means 200
	Reason     string // APNs reason / FCM error code (UNREGISTERED, QUOTA_EXCEEDED …)
	RetryAfter string // Retry-After header value, "" for none
}

// recorder keeps the requests a fake received and the answers it gives.
type recorder[R any] struct {
	mu      sync.Mutex
	cond    *sync.Cond
	reqs    []R
	answers map[string][]Answer // by device token: answers given in turn, the last one repeatedly
	def     Answer
}

func newRecorder[R any]() *recorder[R] {
	r := &recorder[R]{answers: map[string][]Answer{}}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// answer returns the answer for token and records req.
func (r *recorder[R]) record(token string, req R) Answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.cond.Broadcast()
	a := r.def
	if q := r.answers[token]; len(q) > 0 {
		a = q[0]
		if len(q) > 1 {
			r.answers[token] = q[1:]
		}
	}
	if a.Status == 0 {
		a.Status = 200
	}
	return a
}

func (r *recorder[R]) setAnswers(token string, a ...Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token == "" {
		if len(a) > 0 {
			r.def = a[0]
		}
		return
	}
	r.answers[token] = a
}

func (r *recorder[R]) requests() []R {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]R(nil), r.reqs...)
}

func (r *recorder[R]) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

// await waits until at least n requests arrived, or timeout.
func (r *recorder[R]) await(n int, timeout time.Duration) ([]R, error) {
	done := make(chan struct{})
	t := time.AfterFunc(timeout, func() {
		r.mu.Lock()
		close(done)
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer t.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.reqs) < n {
		select {
		case <-done:
			return append([]R(nil), r.reqs...), fmt.Errorf("providertest: %d requests after %s, want %d", len(r.reqs), timeout, n)
		default:
		}
		r.cond.Wait()
	}
	return append([]R(nil), r.reqs...), nil
}
