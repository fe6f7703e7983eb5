package appserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/stanza"
)

// successWriteEvery is how stale a device's recorded last success may get.
const successWriteEvery = time.Minute

// deviceState is the per-device rate limit: when the last notification
// went out, and the one coalesced for the end of the interval.
type deviceState struct {
	last    time.Time
	pending *pendingPush
	stop    func() bool // cancels the pending flush
}

type pendingPush struct {
	la  *liveApp
	reg Registration
	n   provider.Notification
}

// merge folds a later notification into a pending one: the newest data,
// and the strongest importance.
func (p *pendingPush) merge(n *provider.Notification) {
	imp, call := p.n.Important || n.Important, p.n.Call || n.Call
	p.n = *n
	p.n.Important, p.n.Call = imp, call
}

// handlePublish checks a publish and sends its notification.
func (s *Service) handlePublish(iq *stanza.Stanza, pub publish) {
	ctx := s.ctx
	reg, err := s.store.Registration(ctx, pub.node)
	switch {
	case errors.Is(err, ErrNotFound) && pub.pushModule != "":
		// Token-in-node (fpush style): the node is the device token and
		// the pushModule option names the app; no registration step.
		la := s.apps.current().get(pub.pushModule)
		if la == nil {
			s.replyErr(iq, stanza.NewError(stanza.ItemNotFound, "unknown pushModule"))
			return
		}
		now := s.clock.Now()
		reg, err = s.store.Register(ctx, Registration{Node: pub.node, Token: pub.node, App: la.app.Name,
			Device: "token:" + pub.node, Domain: iq.From.Domainpart(), Created: now, LastUsed: now})
		if err != nil {
			s.replyErr(iq, err)
			return
		}
	case errors.Is(err, ErrNotFound):
		s.replyErr(iq, stanza.NewError(stanza.ItemNotFound, "no such node"))
		return
	case err != nil:
		s.log.Error("look up registration", "err", err)
		s.replyErr(iq, err)
		return
	case reg.Secret != "":
		if subtle.ConstantTimeCompare([]byte(pub.secret), []byte(reg.Secret)) != 1 {
			s.replyErr(iq, stanza.NewError(stanza.NotAuthorized, "wrong or missing secret"))
			return
		}
		if iq.From.Domainpart() != reg.Domain {
			s.replyErr(iq, stanza.NewError(stanza.Forbidden, "this node was registered through another server"))
			return
		}
	}
	la := s.apps.current().get(reg.App)
	if la == nil {
		s.replyErr(iq, stanza.NewError(stanza.ItemNotFound, "the device's app is gone"))
		return
	}
	n := pub.notif
	n.Token, n.TTL = reg.Token, s.cfg.TTL
	n.CollapseKey = "xmpp"
	if n.Call {
		n.CollapseKey = "xmpp-call"
	}
	if s.coalesce(iq, la, reg, &n) {
		return
	}
	s.finish(iq, la, reg, s.deliver(la, &n))
}

// coalesce applies the per-device rate limit. It reports whether n was
// folded into a pending notification (and the publish answered).
func (s *Service) coalesce(iq *stanza.Stanza, la *liveApp, reg Registration, n *provider.Notification) bool {
	rate := s.cfg.DeviceRate
	if rate < 0 {
		return false
	}
	now := s.clock.Now()
	s.mu.Lock()
	d := s.devices[reg.Node]
	if d == nil || now.Sub(d.last) >= rate || s.closed {
		if d == nil {
			d = &deviceState{}
			s.devices[reg.Node] = d
		}
		d.last = now
		s.mu.Unlock()
		return false
	}
	if d.pending == nil {
		d.pending = &pendingPush{la: la, reg: reg, n: *n}
		node := reg.Node
		d.stop = s.clock.AfterFunc(d.last.Add(rate).Sub(now), func() { s.flush(node) })
	} else {
		d.pending.la, d.pending.reg = la, reg
		d.pending.merge(n)
	}
	s.mu.Unlock()
	s.m.Coalesced(la.app.Name)
	s.reply(iq.Result(nil))
	return true
}

// flush sends a device's coalesced notification.
func (s *Service) flush(node string) {
	s.mu.Lock()
	d := s.devices[node]
	if d == nil || d.pending == nil || s.closed {
		s.mu.Unlock()
		return
	}
	p := d.pending
	d.pending, d.stop = nil, nil
	d.last = s.clock.Now()
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.finish(nil, p.la, p.reg, s.deliver(p.la, &p.n))
	}()
}

// sweepDevices forgets rate-limit state older than the rate.
func (s *Service) sweepDevices() {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for node, d := range s.devices {
		if d.pending == nil && now.Sub(d.last) >= s.cfg.DeviceRate {
			delete(s.devices, node)
		}
	}
}

// deliver sends n through la's provider, retrying temporary failures with
// exponential backoff (or the provider's Retry-After) a bounded number of
// times, behind the app's circuit breaker.
func (s *Service) deliver(la *liveApp, n *provider.Notification) provider.Result {
	app, platform := la.app.Name, string(la.app.Platform)
	for attempt := 0; ; attempt++ {
		if !la.breaker.allow(s.clock.Now()) {
			s.m.ProviderRequest(app, platform, "circuit_open", 0)
			return provider.Result{Outcome: provider.ProviderError, Reason: "circuit breaker open"}
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.SendTimeout)
		r := la.prov.Send(ctx, n)
		cancel()
		s.m.ProviderRequest(app, platform, r.Outcome.String(), time.Since(start))
		la.breaker.done(s.clock.Now(), r.Temporary())
		if !r.Temporary() || attempt >= s.cfg.MaxRetries || s.ctx.Err() != nil {
			return r
		}
		delay := s.cfg.RetryBase << attempt
		if r.RetryAfter > 0 {
			delay = r.RetryAfter
		}
		if delay > s.cfg.RetryMax {
			return r
		}
		s.log.Debug("provider request failed, retrying", "app", app, "outcome", r.Outcome.String(),
			"status", r.Status, "reason", r.Reason, "in", delay)
		if !s.sleep(delay) {
			return r
		}
	}
}

// sleep waits d on the service's clock; false if the service closed.
func (s *Service) sleep(d time.Duration) bool {
	done := make(chan struct{})
	stop := s.clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-s.ctx.Done():
		stop()
		return false
	}
}

// finish records a notification's outcome and answers the publish (iq nil
// for a coalesced notification, already answered).
func (s *Service) finish(iq *stanza.Stanza, la *liveApp, reg Registration, r provider.Result) {
	ctx := s.ctx
	now := s.clock.Now()
	var answer error
	switch r.Outcome {
	case provider.Sent:
		// A device's success is written at most once a minute (unless it
		// follows an error): a busy device costs no write per push.
		if now.Sub(reg.LastSuccess) >= successWriteEvery || !reg.LastError.Before(reg.LastSuccess) {
			if err := s.store.RecordResult(ctx, reg.Node, now, ""); err != nil && ctx.Err() == nil {
				s.log.Warn("record push result", "err", err)
			}
		}
	case provider.Unregistered:
		// The token is dead: forget the device, and tell the user's
		// server so that it disables push for it (XEP-0357 §7).
		if err := s.store.DeleteRegistration(ctx, reg.Node); err != nil && ctx.Err() == nil {
			s.log.Warn("delete registration", "err", err)
		}
		s.log.Info("device unregistered by the provider", "registration", reg, "reason", r.Reason)
		answer = stanza.NewError(stanza.ItemNotFound, "the device is no longer registered")
	default:
		text := fmt.Sprintf("%s: %s (%d %s)", la.app.Platform, r.Outcome, r.Status, r.Reason)
		if err := s.store.RecordResult(ctx, reg.Node, now, text); err != nil && ctx.Err() == nil {
			s.log.Warn("record push result", "err", err)
		}
		s.log.Warn("push failed", "registration", reg, "outcome", r.Outcome.String(), "status", r.Status, "reason", r.Reason)
		typ := stanza.Cancel
		if r.Temporary() || r.Reason == "circuit breaker open" {
			typ = stanza.Wait
		}
		answer = &stanza.Error{Type: typ, Condition: stanza.InternalServerError, Text: text}
	}
	if iq == nil {
		return
	}
	if answer != nil {
		s.replyErr(iq, answer)
		return
	}
	s.reply(iq.Result(nil))
}
