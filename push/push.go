package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Defaults.
const (
	DefaultMaxDevices     = 5
	DefaultCoalesce       = time.Second
	DefaultMaxErrors      = 16
	DefaultPublishTimeout = 30 * time.Second
	DefaultMaxHibernation = 72 * time.Hour
	// MaxBackoff bounds the wait before retrying a device whose app
	// server answered with a temporary error.
	MaxBackoff = 10 * time.Minute
	// maxSeen bounds the stanza keys remembered per device to count each
	// stanza once.
	maxSeen = 1024
	// maxCachedAccounts bounds the accounts whose registrations are kept
	// in memory; beyond it, accounts without registrations are forgotten.
	maxCachedAccounts = 100000
)

// Config configures the service. The zero value is usable.
type Config struct {
	// MaxDevices is the number of registrations per account; enabling one
	// more replaces the oldest. Default DefaultMaxDevices.
	MaxDevices int
	// Coalesce is the coalescing window. Default DefaultCoalesce.
	Coalesce time.Duration
	// CSIInactive also wakes devices whose live session is CSI-inactive.
	CSIInactive bool
	// IncludeSender and IncludeBody let the summary form carry the
	// sender's JID and the message text.
	IncludeSender, IncludeBody bool
	// MaxErrors disables a registration after this many consecutive
	// temporary errors. Default DefaultMaxErrors.
	MaxErrors int
	// PublishTimeout bounds the wait for the app server's answer. Default
	// DefaultPublishTimeout.
	PublishTimeout time.Duration
	// MaxHibernation is how long a session of a device with push enabled
	// stays resumable (XEP-0198), see ResumePolicy. Default
	// DefaultMaxHibernation.
	MaxHibernation time.Duration
	// Clock is the time source of coalescing and backoff. Default: the
	// system clock.
	Clock Clock
	// Metrics, if set, receives publish outcomes and latencies.
	Metrics Metrics
}

// Clock is the time source of the coalescing and backoff timers
// (internal/xmpptest.FakeClock in tests).
type Clock = router.Clock

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Metrics receives the service's measurements; *metrics.Metrics
// implements it.
type Metrics interface {
	// PushSent: a publish left for the app server, latency after the
	// stanza that caused it arrived.
	PushSent(latency time.Duration)
	// PushOutcome counts a publish by outcome (the Outcome* constants).
	PushOutcome(outcome string)
}

type noMetrics struct{}

func (noMetrics) PushSent(time.Duration) {}
func (noMetrics) PushOutcome(string)     {}

// Publish outcomes, the label of push_publishes_total.
const (
	OutcomeOK                   = "ok"                      // the app server accepted it
	OutcomeRejected             = "rejected"                // item-not-found, not-authorized, forbidden, registration-required: disabled
	OutcomeWait                 = "wait"                    // an error of type wait: retried
	OutcomeTimeout              = "timeout"                 // no answer in time: retried
	OutcomeRemoteServerNotFound = "remote-server-not-found" // unreachable app server (no s2s yet): retried
	OutcomeError                = "error"                   // any other error: retried
)

// Router is what the service needs of the router: sending the publish and
// asking whether a device's session is bound.
type Router interface {
	SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)
	Resource(full jid.JID) (router.Resource, bool)
}

// Service is the push notification service. Its methods are safe for
// concurrent use.
type Service struct {
	cfg   Config
	store Store
	r     Router
	log   *slog.Logger
	clock Clock
	m     Metrics

	ctx    context.Context // for publishes; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// writeMu serializes the client's changes (store write, then cache
	// refresh), so that the cache ends up as the store is.
	writeMu sync.Mutex

	mu sync.Mutex
	// accounts are the accounts' registrations by bare JID, read from the
	// store once; an account without any maps to none, so that the many
	// accounts that never enable push (every session that hibernates or
	// enables resumption looks its account up) cost a map entry each.
	// Guarded by mu.
	accounts map[string]*account
	none     *account        // the shared entry of accounts without registrations: loaded, no devices; never changed
	asleep   map[string]bool // full JIDs of hibernated sessions; guarded by mu
	closed   bool            // guarded by mu
}

// account is one account's registrations as the service knows them.
type account struct {
	ready   chan struct{} // closed when devices are loaded
	err     error         // the load failed (set before ready closes)
	devices []*device     // guarded by Service.mu after ready
}

func (a *account) loaded() bool {
	select {
	case <-a.ready:
		return a.err == nil
	default:
		return false
	}
}

// device is one registration and its notification state. reg and options
// are replaced only under Service.mu; the rest is guarded by Service.mu.
type device struct {
	reg     Registration
	full    jid.JID      // account/resource
	app     jid.JID      // the app server
	options *xml.Element // parsed reg.Options, nil if none

	sum      summary   // since the device was last online
	pending  bool      // something to publish
	since    time.Time // arrival of the oldest unpublished stanza
	inflight int       // publishes waiting for an answer
	nextAt   time.Time // no ordinary publish before this
	stop     func() bool
	errors   int // consecutive temporary errors
	seen     map[string]struct{}
	seenFIFO []string
	gone     bool // disabled: forget it
}

// New returns a push service on store, publishing through r. log may be
// nil.
func New(cfg Config, store Store, r Router, log *slog.Logger) *Service {
	if cfg.MaxDevices <= 0 {
		cfg.MaxDevices = DefaultMaxDevices
	}
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = DefaultCoalesce
	}
	if cfg.MaxErrors <= 0 {
		cfg.MaxErrors = DefaultMaxErrors
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.MaxHibernation <= 0 {
		cfg.MaxHibernation = DefaultMaxHibernation
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	m := cfg.Metrics
	if m == nil {
		m = noMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	none := &account{ready: make(chan struct{})}
	close(none.ready)
	return &Service{
		none: none,
		cfg:  cfg, store: store, r: r, clock: cfg.Clock, m: m,
		log:      log.With("xep", "0357"),
		ctx:      ctx,
		cancel:   cancel,
		accounts: map[string]*account{},
		asleep:   map[string]bool{},
	}
}

// Register adds the enable/disable handler, the OnAvailable and OnGone
// hooks and the account's disco#info features to m.
func (s *Service) Register(m *router.Mux) {
	m.HandleIQ(router.ToAccount, NS, "", s.handleIQ)
	m.OnAvailable(s.online)
	m.OnGone(s.gone)
	m.AddFeature(router.ToAccount, NS, NSEncrypt, NSEncryptAES128GCM)
}

// Close stops the timers, cancels the publishes in flight and waits for
// them.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, a := range s.accounts {
		if a.loaded() {
			for _, d := range a.devices {
				s.stopTimerLocked(d)
			}
		}
	}
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done: // finished as well: not late
			return nil
		case <-time.After(10 * time.Millisecond):
		}
		return fmt.Errorf("push: close: %w", ctx.Err())
	}
}

// goTracked runs f on a goroutine Close waits for, unless closed.
func (s *Service) goTracked(f func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.goTrackedLocked(f)
}

func (s *Service) goTrackedLocked(f func(ctx context.Context)) bool {
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
	return true
}

// load returns the account's devices, reading the store once.
func (s *Service) load(ctx context.Context, bare string) (*account, error) {
	s.mu.Lock()
	a := s.accounts[bare]
	if a != nil {
		s.mu.Unlock()
		select {
		case <-a.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if a.err != nil {
			return nil, a.err
		}
		return a, nil
	}
	a = &account{ready: make(chan struct{})}
	if len(s.accounts) >= maxCachedAccounts {
		s.evictLocked()
	}
	s.accounts[bare] = a
	s.mu.Unlock()

	regs, err := s.store.Registrations(ctx, bare)
	s.mu.Lock()
	switch {
	case err != nil:
		a.err = fmt.Errorf("push: registrations of %s: %w", bare, err)
		if s.accounts[bare] == a {
			delete(s.accounts, bare)
		}
	case len(regs) == 0:
		// The waiters get a, loaded and empty; later lookups the
		// shared entry.
		if s.accounts[bare] == a {
			s.accounts[bare] = s.none
		}
	default:
		a.devices = s.devicesLocked(nil, regs)
	}
	close(a.ready)
	s.mu.Unlock()
	if err != nil {
		return nil, a.err
	}
	return a, nil
}

// evictLocked forgets accounts without registrations.
func (s *Service) evictLocked() {
	for k, a := range s.accounts {
		if a.loaded() && len(a.devices) == 0 {
			delete(s.accounts, k)
		}
	}
}

// devicesLocked builds the device list for regs, keeping the state of
// devices in old that are still registered.
func (s *Service) devicesLocked(old []*device, regs []Registration) []*device {
	out := make([]*device, 0, len(regs))
	for _, reg := range regs {
		var d *device
		for _, o := range old {
			if o.reg.JID == reg.JID && o.reg.Node == reg.Node {
				d = o
				break
			}
		}
		if d == nil || !d.reg.Since.Equal(reg.Since) {
			if d == nil {
				d = &device{}
			}
			d.errors = reg.Errors // enabled again: a fresh start
		}
		d.reg = reg
		d.full, _ = jid.Parse(reg.Account + "/" + reg.Resource)
		d.app, _ = jid.Parse(reg.JID)
		d.options = nil
		if reg.Options != nil {
			if x, err := xml.Parse(reg.Options, ""); err == nil {
				d.options = x
			} else {
				s.log.Warn("stored publish-options form unreadable; publishing without it", "registration", reg, "err", err)
			}
		}
		out = append(out, d)
	}
	for _, o := range old {
		if !slices.Contains(out, o) {
			o.gone = true
			s.stopTimerLocked(o)
		}
	}
	return out
}

func (s *Service) stopTimerLocked(d *device) {
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
}

// Hibernated implements session.Events. Only sessions that may have push
// enabled are remembered: hibernated sessions stay cheap. The stanzas the
// client had not acknowledged when its connection was lost may never have
// reached it: the important ones wake it (once, like any burst).
func (s *Service) Hibernated(_ context.Context, full jid.JID, unacked []*stanza.Stanza) {
	s.mu.Lock()
	if a := s.accounts[full.Bare().String()]; a != nil && a.loaded() && !hasResource(a.devices, full.Resourcepart()) {
		s.mu.Unlock()
		return
	}
	s.asleep[full.String()] = true
	s.mu.Unlock()
	for _, st := range unacked {
		s.stanza(full.Bare(), full.Resourcepart(), st)
	}
}

func hasResource(ds []*device, resource string) bool {
	for _, d := range ds {
		if d.reg.Resource == resource {
			return true
		}
	}
	return false
}

// Resumed implements session.Events: the device is online again.
func (s *Service) Resumed(ctx context.Context, full jid.JID) {
	s.mu.Lock()
	delete(s.asleep, full.String())
	s.mu.Unlock()
	s.online(ctx, full)
}

// TimedOut implements session.Events.
func (s *Service) TimedOut(_ context.Context, full jid.JID, _ int) {
	s.mu.Lock()
	delete(s.asleep, full.String())
	s.mu.Unlock()
}

// gone forgets that a resource's session was hibernated: it is unbound
// (timed out, or replaced by a new session of the same resource, which
// sends no event of its own).
func (s *Service) gone(_ context.Context, full jid.JID) {
	s.mu.Lock()
	delete(s.asleep, full.String())
	s.mu.Unlock()
}

// StanzaQueued implements session.Events: st was queued for a hibernated
// session.
func (s *Service) StanzaQueued(_ context.Context, full jid.JID, st *stanza.Stanza) {
	s.stanza(full.Bare(), full.Resourcepart(), st)
}

// InactiveStanza implements session.Events: with Config.CSIInactive, st
// queued for a CSI-inactive session wakes its device.
func (s *Service) InactiveStanza(_ context.Context, full jid.JID, st *stanza.Stanza) {
	if s.cfg.CSIInactive {
		s.stanza(full.Bare(), full.Resourcepart(), st)
	}
}

// MessageStored implements offline.Events: st went to offline storage, so
// it wakes the devices that have no live session.
func (s *Service) MessageStored(_ context.Context, user jid.JID, st *stanza.Stanza) {
	s.stanza(user.Bare(), "", st)
}

// online resets the counters of the devices of full's resource: it is
// online again (initial presence or resumption) and reads what arrived.
func (s *Service) online(_ context.Context, full jid.JID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[full.Bare().String()]
	if a == nil || !a.loaded() {
		return
	}
	for _, d := range a.devices {
		if d.reg.Resource == full.Resourcepart() {
			d.sum = summary{}
			d.pending = false
			d.seen, d.seenFIFO = nil, nil
			if d.errors == 0 {
				// What arrives next starts a new burst: it publishes at
				// once (a backoff stays).
				d.nextAt = time.Time{}
			}
			s.stopTimerLocked(d)
		}
	}
}

// event is a wake-worthy stanza for one account.
type event struct {
	resource string // the session it was queued for; "" for offline storage
	key      string // stanzaKey
	last     latest
	at       time.Time
}

// stanza handles a stanza for user: queued for its resource, or stored
// offline when resource is "".
func (s *Service) stanza(user jid.JID, resource string, st *stanza.Stanza) {
	bare := user.String()
	s.mu.Lock()
	a := s.accounts[bare]
	none := a != nil && a.loaded() && len(a.devices) == 0
	s.mu.Unlock()
	if none {
		return
	}
	k, m := Wake(st, user)
	if k == None {
		return
	}
	ev := event{resource: resource, key: stanzaKey(st, user), last: newLatest(k, st, m), at: s.clock.Now()}
	if a != nil && a.loaded() {
		s.mu.Lock()
		s.noteLocked(a, ev)
		s.mu.Unlock()
		return
	}
	s.goTracked(func(ctx context.Context) {
		a, err := s.load(ctx, bare)
		if err != nil {
			s.log.Error("cannot read push registrations; no notification", "account", bare, "err", err)
			return
		}
		s.mu.Lock()
		s.noteLocked(a, ev)
		s.mu.Unlock()
	})
}

// noteLocked counts ev for each device it concerns and publishes or
// schedules.
func (s *Service) noteLocked(a *account, ev event) {
	for _, d := range a.devices {
		if d.gone {
			continue
		}
		if ev.resource != "" {
			if d.reg.Resource != ev.resource {
				continue
			}
		} else if s.liveLocked(d) {
			continue // its live session reads it (or will)
		}
		if ev.key != "" {
			if _, dup := d.seen[ev.key]; dup {
				continue
			}
			if d.seen == nil {
				d.seen = map[string]struct{}{}
			}
			if len(d.seenFIFO) >= maxSeen {
				delete(d.seen, d.seenFIFO[0])
				d.seenFIFO = d.seenFIFO[1:]
			}
			d.seen[ev.key] = struct{}{}
			d.seenFIFO = append(d.seenFIFO, ev.key)
		}
		if ev.last.kind == Subscribe {
			d.sum.subscriptions++
		} else {
			d.sum.messages++
		}
		d.sum.last = ev.last
		if !d.pending {
			d.pending, d.since = true, ev.at
		}
		s.scheduleLocked(d, ev.last.kind == Call)
	}
}

// liveLocked reports whether the device's session is bound and not
// hibernated.
func (s *Service) liveLocked(d *device) bool {
	if _, ok := s.r.Resource(d.full); !ok {
		return false
	}
	return !s.asleep[d.full.String()]
}

// scheduleLocked publishes now (urgent, or the leading edge of a window)
// or makes sure a timer publishes when the window ends.
func (s *Service) scheduleLocked(d *device, urgent bool) {
	now := s.clock.Now()
	if urgent || (d.inflight == 0 && !now.Before(d.nextAt)) {
		s.startLocked(d, now)
		return
	}
	if d.inflight == 0 && d.stop == nil {
		d.stop = s.clock.AfterFunc(d.nextAt.Sub(now), func() { s.fire(d) })
	}
}

// fire is the end of a device's window (or backoff).
func (s *Service) fire(d *device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.stop = nil
	if d.gone || !d.pending || s.closed {
		return
	}
	s.scheduleLocked(d, false)
}

// startLocked starts a publish of the device's pending summary.
func (s *Service) startLocked(d *device, now time.Time) {
	s.stopTimerLocked(d)
	sum, since, reg := d.sum, d.since, d.reg
	d.pending = false
	if next := now.Add(s.cfg.Coalesce); next.After(d.nextAt) {
		d.nextAt = next
	}
	if s.goTrackedLocked(func(ctx context.Context) { s.publish(ctx, d, reg, sum, since) }) {
		d.inflight++
	}
}

// publish sends one notification and acts on the app server's answer.
func (s *Service) publish(ctx context.Context, d *device, reg Registration, sum summary, since time.Time) {
	from, _ := jid.Parse(reg.Account)
	s.mu.Lock()
	iq, err := publishIQ(from, d.app, d, sum, policy{includeSender: s.cfg.IncludeSender, includeBody: s.cfg.IncludeBody})
	s.mu.Unlock()
	var outcome string
	if err == nil {
		s.m.PushSent(s.clock.Now().Sub(since))
		tctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
		_, err = s.r.SendIQ(tctx, iq)
		cancel()
		if ctx.Err() != nil {
			// Shutting down: no verdict on the app server.
			s.mu.Lock()
			d.inflight--
			s.mu.Unlock()
			return
		}
	}
	outcome = classify(err)
	s.m.PushOutcome(outcome)
	now := s.clock.Now()
	disable := false
	s.mu.Lock()
	d.inflight--
	switch outcome {
	case OutcomeOK:
		d.errors = 0
	case OutcomeRejected:
		disable = true
	default:
		d.errors++
		if d.errors >= s.cfg.MaxErrors {
			disable = true
			break
		}
		// Retry what was not delivered, after a backoff.
		if !d.pending {
			d.pending, d.since = true, since
		}
		if next := now.Add(backoff(s.cfg.Coalesce, d.errors)); next.After(d.nextAt) {
			d.nextAt = next
		}
	}
	errs := d.errors
	if disable {
		d.gone = true
		s.stopTimerLocked(d)
	} else if d.pending && !d.gone {
		s.scheduleLocked(d, false)
	}
	s.mu.Unlock()

	o := Outcome{At: now}
	if err != nil {
		o.Err = errText(err)
	}
	if rerr := s.store.Record(ctx, reg.Account, reg.JID, reg.Node, o); rerr != nil && !errors.Is(rerr, ErrNotFound) {
		s.log.Warn("cannot record push outcome", "registration", reg, "err", rerr)
	}
	switch {
	case disable:
		s.disable(ctx, reg, outcome, errs, err)
	case outcome == OutcomeRemoteServerNotFound && errs == 1:
		s.log.Warn("push app server unreachable (no server-to-server connections): notifications are not delivered", "registration", reg, "err", err)
	case outcome != OutcomeOK && errs == 1:
		s.log.Info("push app server error; retrying with backoff", "registration", reg, "outcome", outcome, "err", err)
	}
}

// disable removes a registration its app server refused or that failed
// too often.
func (s *Service) disable(ctx context.Context, reg Registration, outcome string, errs int, cause error) {
	if _, err := s.store.Disable(ctx, reg.Account, reg.JID, reg.Node); err != nil {
		s.log.Error("cannot disable push registration", "registration", reg, "err", err)
	}
	s.mu.Lock()
	if a := s.accounts[reg.Account]; a != nil && a != s.none && a.loaded() {
		a.devices = deleteDevice(a.devices, reg.JID, reg.Node)
		if len(a.devices) == 0 {
			s.accounts[reg.Account] = s.none
		}
	}
	s.mu.Unlock()
	s.log.Warn("push registration disabled", "registration", reg, "outcome", outcome, "errors", errs, "err", cause)
}

func deleteDevice(ds []*device, jid, node string) []*device {
	out := ds[:0:0]
	for _, d := range ds {
		if d.reg.JID == jid && d.reg.Node == node {
			d.gone = true
			continue
		}
		out = append(out, d)
	}
	return out
}

// backoff is the wait before retry n (1, 2, ...): base·2ⁿ, at most
// MaxBackoff.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// classify maps a publish's error to its outcome.
func classify(err error) string {
	if err == nil {
		return OutcomeOK
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return OutcomeTimeout
	}
	var se *stanza.Error
	if !errors.As(err, &se) {
		return OutcomeError
	}
	switch se.Condition {
	case stanza.ItemNotFound, stanza.NotAuthorized, stanza.Forbidden, stanza.RegistrationRequired:
		return OutcomeRejected
	case stanza.RemoteServerNotFound:
		return OutcomeRemoteServerNotFound
	}
	if se.Type == stanza.Wait {
		return OutcomeWait
	}
	return OutcomeError
}

// errText is what Registration.LastErrorText keeps.
func errText(err error) string {
	var se *stanza.Error
	if errors.As(err, &se) {
		return string(se.Condition)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

// ResumePolicy is a session.ResumePolicy: a session of a resource that has
// push enabled stays resumable for Config.MaxHibernation (or what the
// client asked for, if less but more than configured), so the phone can be
// woken and resume instead of losing its session. Push enabled later in
// the same session applies from the next <enable/>: the time announced in
// <enabled max/> is the one applied.
func (s *Service) ResumePolicy(ctx context.Context, full jid.JID, requested, configured time.Duration) time.Duration {
	a, err := s.load(ctx, full.Bare().String())
	if err != nil {
		s.log.Warn("cannot read push registrations for the resumption time", "jid", full, "err", err)
		return configured
	}
	s.mu.Lock()
	registered := hasResource(a.devices, full.Resourcepart())
	s.mu.Unlock()
	if !registered {
		return configured
	}
	if requested > 0 {
		return max(configured, min(requested, s.cfg.MaxHibernation))
	}
	return max(configured, s.cfg.MaxHibernation)
}
