package appserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Config configures the app server. Zero fields get the defaults noted.
type Config struct {
	// Domain is the app server's JID (push.example.org).
	Domain string
	// DeviceRate is the shortest interval between two notifications to one
	// device; more within it are coalesced into one sent at its end.
	// Default 5s; negative: no limit.
	DeviceRate time.Duration
	// TTL is how long providers keep an undelivered notification. Default 72h.
	TTL time.Duration
	// SendTimeout bounds one provider request. Default 10s.
	SendTimeout time.Duration
	// MaxRetries is how often a request failing temporarily (429, 5xx,
	// transport error) is retried, after RetryBase, 2×RetryBase … (or the
	// provider's Retry-After), at most RetryMax. Defaults 3, 500ms, 30s; a
	// Retry-After beyond RetryMax is not waited for.
	MaxRetries int
	RetryBase  time.Duration
	RetryMax   time.Duration
	// BreakerThreshold consecutive temporary failures open an app's
	// circuit breaker for BreakerCooldown. Defaults 5 and 30s.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// MaxInFlight bounds concurrent requests being handled (sends and
	// registrations); more are refused with resource-constraint. Default 1024.
	MaxInFlight int
	// ReloadEvery is how often the apps' generation is polled, so that
	// credentials changed by `dormouse push app` apply without a restart.
	// Default 5s.
	ReloadEvery time.Duration
	// Endpoints of the providers.
	Endpoints Endpoints
	// Clock, for tests; nil: the system clock.
	Clock Clock
	// NewProvider builds an app's provider client; nil: NewProvider.
	NewProvider func(context.Context, App) (provider.Provider, error)
}

// Clock is the time source of rate limits, retries and the breaker
// (router.Clock's shape: xmpptest.FakeClock serves in tests).
type Clock = router.Clock

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DeviceRate, 5*time.Second)
	def(&c.TTL, 72*time.Hour)
	def(&c.SendTimeout, 10*time.Second)
	def(&c.RetryBase, 500*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.BreakerCooldown, 30*time.Second)
	def(&c.ReloadEvery, 5*time.Second)
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = 5
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
}

// Sender sends the app server's stanzas: Router.Route in process, the
// component connection standalone. From is set to the app server's JID.
type Sender interface {
	Send(ctx context.Context, st *stanza.Stanza) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, st *stanza.Stanza) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, st *stanza.Stanza) error { return f(ctx, st) }

// Metrics receives the app server's measurements. server connects it to
// package metrics; nil discards.
type Metrics interface {
	// ProviderRequest records one request to a provider: platform is fcm
	// or apns, outcome a provider.Outcome's String, d its duration.
	ProviderRequest(app, platform, outcome string, d time.Duration)
	// Coalesced counts a notification folded into a pending one by the
	// per-device rate limit.
	Coalesced(app string)
	// Registrations sets the number of registrations of app.
	Registrations(app string, n int)
	// Breaker sets the state of app's circuit breaker (a BreakerState).
	Breaker(app string, state int)
}

type nopMetrics struct{}

func (nopMetrics) ProviderRequest(string, string, string, time.Duration) {}
func (nopMetrics) Coalesced(string)                                      {}
func (nopMetrics) Registrations(string, int)                             {}
func (nopMetrics) Breaker(string, int)                                   {}

// Service is the app server. Its HandleStanza serves it in process
// (router.Service) or behind a component connection.
type Service struct {
	cfg   Config
	jid   jid.JID
	store Store
	send  Sender
	m     Metrics
	log   *slog.Logger
	apps  apps
	clock Clock

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the service starts
	sem    chan struct{}  // MaxInFlight tokens

	mu      sync.Mutex // guards devices and closed
	devices map[string]*deviceState
	closed  bool
}

// New returns an app server. Call Start before serving stanzas.
func New(cfg Config, store Store, keys *Keyring, send Sender, m Metrics, log *slog.Logger) (*Service, error) {
	cfg.setDefaults()
	j, err := jid.Parse(cfg.Domain)
	if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
		return nil, fmt.Errorf("appserver: invalid domain %q", cfg.Domain)
	}
	if m == nil {
		m = nopMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if keys == nil {
		keys = &Keyring{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, jid: j, store: store, send: send, m: m, log: log.With("service", "appserver", "domain", cfg.Domain),
		clock: cfg.Clock, ctx: ctx, cancel: cancel, sem: make(chan struct{}, cfg.MaxInFlight), devices: map[string]*deviceState{}}
	newP := cfg.NewProvider
	if newP == nil {
		newP = func(ctx context.Context, a App) (provider.Provider, error) { return NewProvider(ctx, a, cfg.Endpoints) }
	}
	s.apps = apps{store: store, keys: keys, newP: newP, cur: &appSet{gen: -1}, newB: func(name string) *breaker {
		return &breaker{threshold: cfg.BreakerThreshold, cooldown: cfg.BreakerCooldown,
			onChange: func(st BreakerState) { s.m.Breaker(name, int(st)) }}
	}}
	return s, nil
}

// JID returns the app server's address.
func (s *Service) JID() jid.JID { return s.jid }

// Start loads the apps and starts polling for changes. An app whose
// credentials cannot be loaded is logged and left out.
func (s *Service) Start(ctx context.Context) error {
	if err := s.Reload(ctx); err != nil {
		return err
	}
	s.goTracked(s.poll)
	return nil
}

// Reload reads the apps again if they changed, and refreshes the
// registration gauges.
func (s *Service) Reload(ctx context.Context) error {
	errs, err := s.apps.reload(ctx, false)
	if err != nil {
		return fmt.Errorf("appserver: load apps: %w", err)
	}
	for _, e := range errs {
		s.log.Error("app not loaded", "err", e)
	}
	s.refreshGauges(ctx)
	return nil
}

// poll reloads the apps and drops idle device rate-limit state, every
// ReloadEvery until Close.
func (s *Service) poll() {
	for {
		done := make(chan struct{})
		stop := s.clock.AfterFunc(s.cfg.ReloadEvery, func() { close(done) })
		select {
		case <-s.ctx.Done():
			stop()
			return
		case <-done:
		}
		if err := s.Reload(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("reload apps", "err", err)
		}
		s.sweepDevices()
	}
}

func (s *Service) refreshGauges(ctx context.Context) {
	counts, err := s.store.CountRegistrations(ctx)
	if err != nil {
		return
	}
	for name := range s.apps.current().byName {
		s.m.Registrations(name, counts[name])
	}
}

// Close stops the service and waits for its goroutines (pending provider
// requests are cancelled) or for ctx.
//
// Notifications coalesced for the end of a device's interval were already
// answered: they are sent now rather than dropped, while ctx allows.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	var pending []*pendingPush
	for _, d := range s.devices {
		if d.stop != nil && d.stop() && d.pending != nil {
			pending = append(pending, d.pending)
		}
		d.pending, d.stop = nil, nil
	}
	s.mu.Unlock()
	var flushed sync.WaitGroup
	for _, p := range pending {
		flushed.Add(1)
		go func() {
			defer flushed.Done()
			s.finish(nil, p.la, p.reg, s.deliver(p.la, &p.n))
		}()
	}
	if err := waitCtx(ctx, flushed.Wait); err != nil {
		s.cancel()
		return err
	}
	s.cancel()
	if err := waitCtx(ctx, s.wg.Wait); err != nil {
		return err
	}
	s.apps.closeAll()
	return nil
}

// waitCtx runs wait, giving up when ctx ends.
func waitCtx(ctx context.Context, wait func()) error {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("appserver: close: %w", ctx.Err())
	}
}

// goTracked runs f in a goroutine Close waits for.
func (s *Service) goTracked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// async runs f in a tracked goroutine if an in-flight slot is free.
func (s *Service) async(f func()) error {
	select {
	case s.sem <- struct{}{}:
	default:
		return stanza.NewError(stanza.ResourceConstraint, "too many requests in progress")
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		<-s.sem
		return stanza.NewError(stanza.ServiceUnavailable, "shutting down")
	}
	go func() {
		defer func() { <-s.sem; s.wg.Done() }()
		f()
	}()
	return nil
}

// reply sends st, logging a failure.
func (s *Service) reply(st *stanza.Stanza) {
	if err := s.send.Send(s.ctx, st); err != nil && s.ctx.Err() == nil {
		s.log.Warn("send reply", "stanza", st.Describe(), "err", err)
	}
}

// replyErr answers iq with err (a *stanza.Error, or any error as
// internal-server-error).
func (s *Service) replyErr(iq *stanza.Stanza, err error) {
	s.reply(iq.ErrorReply(stanza.AsError(err)))
}

// HandleStanza implements router.Service. IQ gets (service discovery) are
// answered at once; commands and publishes are handled in tracked
// goroutines, which send the answer.
func (s *Service) HandleStanza(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind != stanza.KindIQ {
		if st.Kind == stanza.KindMessage && st.Type != stanza.TypeError {
			return stanza.NewError(stanza.ServiceUnavailable, "the push app server takes no messages")
		}
		return nil // presence, errors: nothing to do
	}
	if st.Type != stanza.TypeGet && st.Type != stanza.TypeSet {
		return nil // results and errors: the service sends no requests
	}
	if st.To.Localpart() != "" || st.To.Resourcepart() != "" {
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	p := st.Payload()
	if p == nil || len(st.El.Elements()) != 1 {
		return stanza.NewError(stanza.BadRequest, "an IQ needs exactly one payload")
	}
	switch {
	case st.Type == stanza.TypeGet && p.Name == xml.Name{Space: router.NSDiscoInfo, Local: "query"}:
		return s.send.Send(ctx, s.discoInfo(st, p.AttrValue("node")))
	case st.Type == stanza.TypeGet && p.Name == xml.Name{Space: router.NSDiscoItems, Local: "query"}:
		return s.send.Send(ctx, s.discoItems(st, p.AttrValue("node")))
	case st.Type == stanza.TypeSet && p.Name == xml.Name{Space: NSCommands, Local: "command"}:
		cmd, err := parseCommand(p)
		if err != nil {
			return err
		}
		return s.async(func() { s.execute(st, cmd) })
	case st.Type == stanza.TypeSet && p.Name == xml.Name{Space: NSPubSub, Local: "pubsub"}:
		pub, err := parsePublish(p)
		if err != nil {
			return err
		}
		return s.async(func() { s.handlePublish(st, pub) })
	}
	return stanza.NewError(stanza.ServiceUnavailable, "")
}

func (s *Service) discoInfo(iq *stanza.Stanza, node string) *stanza.Stanza {
	switch name, isCmd := commandName(node); {
	case node == "":
		return router.DiscoInfo(iq, []router.Identity{{Category: "pubsub", Type: "push", Name: "Push notifications (FCM, APNs)"}},
			[]string{NSCommands, router.NSDiscoInfo, router.NSDiscoItems, NSPush})
	case node == NSCommands:
		return router.DiscoInfo(iq, []router.Identity{{Category: "automation", Type: "command-list", Name: "Commands"}},
			[]string{router.NSDiscoInfo, router.NSDiscoItems})
	case isCmd:
		return router.DiscoInfo(iq, []router.Identity{{Category: "automation", Type: "command-node", Name: name}},
			[]string{NSCommands, NSData})
	}
	return iq.ErrorReply(stanza.NewError(stanza.ItemNotFound, ""))
}

func (s *Service) discoItems(iq *stanza.Stanza, node string) *stanza.Stanza {
	q := xml.NewElement(router.NSDiscoItems, "query")
	switch node {
	case "":
	case NSCommands:
		q.SetAttr("node", node)
		for _, c := range commandList {
			q.AddChild(xml.NewElement(router.NSDiscoItems, "item", "jid", s.cfg.Domain, "node", c.node, "name", c.name))
		}
	default:
		return iq.ErrorReply(stanza.NewError(stanza.ItemNotFound, ""))
	}
	return iq.Result(q)
}

// errNoApp and friends are registration failures.
var errNoApp = errors.New("appserver: no such app")
