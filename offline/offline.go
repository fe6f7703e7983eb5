package offline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/keylock"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Feature is the disco#info feature advertised for offline storage
// (XEP-0160's short name, as Prosody and ejabberd advertise it).
const Feature = "msgoffline"

// delayReason is the natural-language reason in the <delay/> element.
const delayReason = "Offline Storage"

// DefaultMaxMessages is the default Config.MaxMessages.
const DefaultMaxMessages = 1000

// deliveryPage is how many stored messages delivery loads at a time.
const deliveryPage = 100

// ErrSkipped is returned (wrapped) by StoreMessage for a message that is
// not worth storing.
var ErrSkipped = errors.New("offline: message not stored")

// Events receives offline storage notifications (push notifications
// subscribe here; package server connects them).
type Events interface {
	// MessageStored is called after st was stored for user (a bare JID).
	// It must not block.
	MessageStored(ctx context.Context, user jid.JID, st *stanza.Stanza)
}

// Config configures the offline service. The zero value is usable.
type Config struct {
	// MaxMessages is how many messages one user's store may hold
	// (offline.max_messages); 0 means DefaultMaxMessages, a negative value
	// no limit. A message beyond it is bounced with service-unavailable.
	MaxMessages int
	// Now is the clock for the stamps; nil means time.Now.
	Now func() time.Time
	// Events, if set, is told about every stored message.
	Events Events
	// Metrics, if set, receives storage timings. (Counts: Stats.)
	Metrics Metrics
}

// Metrics receives the service's timings; *metrics.Metrics implements it.
type Metrics interface {
	// StorageDone reports one storage operation ("offline_store",
	// "offline_load", "offline_delete"): its duration and result.
	StorageDone(op string, d time.Duration, err error)
}

// noMetrics is Metrics when none is configured.
type noMetrics struct{}

func (noMetrics) StorageDone(string, time.Duration, error) {}

// Stats counts the service's work since it started, for metrics.
type Stats struct {
	Stored    uint64 // messages stored
	Delivered uint64 // stored messages delivered (and deleted)
}

// Stats returns the counts.
func (s *Service) Stats() Stats {
	return Stats{Stored: s.stored.Load(), Delivered: s.delivered.Load()}
}

// Router is what the service needs from the router; *router.Router
// implements it.
type Router interface {
	// Resources returns snapshots of the bound resources of a bare JID.
	Resources(bare jid.JID) []router.Resource
	// Resource returns a snapshot of one bound resource.
	Resource(full jid.JID) (router.Resource, bool)
}

// Service stores and delivers offline messages. Its methods are safe for
// concurrent use.
type Service struct {
	store Store
	r     Router
	cfg   Config
	log   *slog.Logger

	locks keylock.Map // serializes delivery per user

	stored, delivered atomic.Uint64 // Stats
}

// New returns an offline service keeping messages in store.
func New(cfg Config, store Store, r Router, log *slog.Logger) *Service {
	if cfg.MaxMessages == 0 {
		cfg.MaxMessages = DefaultMaxMessages
	}
	if cfg.MaxMessages < 0 {
		cfg.MaxMessages = 0 // Store: no limit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, r: r, cfg: cfg, log: log.With("xep", "0160")}
}

// Register adds the StageUndelivered hook, the OnAvailable delivery and
// the "msgoffline" feature.
func (s *Service) Register(m *router.Mux) {
	m.Use(router.StageUndelivered, s.Hook())
	m.OnAvailable(s.Deliver)
	m.AddFeature(router.ToServer, Feature)
}

// Hook returns the StageUndelivered hook that stores undelivered messages.
// It leaves a message another hook already handled alone.
func (s *Service) Hook() router.Hook {
	return router.Hook{Name: "offline", Func: s.undelivered}
}

func (s *Service) undelivered(ctx context.Context, rt *router.Routing) error {
	if rt.Handled {
		return nil
	}
	switch classify(rt.St) {
	case verdictDrop:
		return router.ErrDrop
	case verdictBounce:
		return nil
	}
	if rt.Hidden {
		// A missing account, hidden ([privacy] hide_accounts): taken
		// as for an account, kept nowhere.
		rt.Handled = true
		return nil
	}
	if err := s.put(ctx, rt.St); err != nil {
		if errors.Is(err, ErrFull) {
			return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable,
				Text: "the recipient's offline storage is full"}
		}
		return err
	}
	rt.Handled = true
	return nil
}

// StoreMessage stores a message for its recipient (the bare JID of its
// 'to') if it is worth keeping by the same rules as the hook, for features
// that hand messages over later (stream management's resume timeout). It
// returns an error wrapping ErrSkipped for a message not worth keeping, and
// one wrapping ErrFull if the recipient's store is full.
func (s *Service) StoreMessage(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind != stanza.KindMessage || st.To.Localpart() == "" {
		return fmt.Errorf("offline: %s to %q: %w", st.Describe(), st.To.String(), ErrSkipped)
	}
	if v := classify(st); v != verdictKeep {
		return fmt.Errorf("offline: %s: %w", st.Describe(), ErrSkipped)
	}
	return s.put(ctx, st)
}

func (s *Service) put(ctx context.Context, st *stanza.Stanza) error {
	user := st.To.Bare()
	m := Message{Stamp: s.cfg.Now().UTC(), Stanza: st.AppendXML(nil, stanza.NSClient)}
	start := time.Now()
	err := s.store.Store(ctx, user.String(), m, s.cfg.MaxMessages)
	s.cfg.Metrics.StorageDone("offline_store", time.Since(start), err)
	if err != nil {
		return fmt.Errorf("offline: store for %s: %w", user.String(), err)
	}
	s.stored.Add(1)
	if s.cfg.Events != nil {
		s.cfg.Events.MessageStored(ctx, user, st)
	}
	// The user may have come online between the router's delivery
	// attempt and now, after its stored messages were delivered: hand
	// this one over rather than leave it until the next login.
	for _, res := range s.r.Resources(user) {
		if res.Available && res.Priority >= 0 {
			s.Deliver(ctx, res.JID)
			break
		}
	}
	return nil
}

// Deliver sends the stored messages of full's user, oldest first, to the
// resource full, and deletes those it took. It does nothing for a resource
// that is not bound or has a negative priority (RFC 6121 §8.5.2.1.1: such
// a resource does not get messages sent to the bare JID). It is the
// OnAvailable hook.
func (s *Service) Deliver(ctx context.Context, full jid.JID) {
	res, ok := s.r.Resource(full)
	if !ok || !res.Available || res.Priority < 0 {
		return
	}
	user := full.Bare().String()
	unlock := s.locks.Lock(user)
	defer unlock()
	for {
		start := time.Now()
		msgs, err := s.store.Messages(ctx, user, deliveryPage)
		s.cfg.Metrics.StorageDone("offline_load", time.Since(start), err)
		if err != nil {
			s.log.Error("loading offline messages failed", "user", user, "err", err)
			return
		}
		if len(msgs) == 0 {
			return
		}
		done := make([]int64, 0, len(msgs))
		stopped := false
		for _, m := range msgs {
			st, err := decode(m, full.Domainpart())
			if err != nil {
				// It can never be delivered: do not keep it forever.
				s.log.Error("dropping an invalid offline message", "user", user, "id", m.ID, "err", err)
				done = append(done, m.ID)
				continue
			}
			if !res.Target.Deliver(st) {
				stopped = true // the session cannot take more now
				break
			}
			done = append(done, m.ID)
		}
		if len(done) > 0 {
			start := time.Now()
			err := s.store.Delete(ctx, user, done)
			s.cfg.Metrics.StorageDone("offline_delete", time.Since(start), err)
			if err != nil {
				s.log.Error("deleting delivered offline messages failed", "user", user, "err", err)
				return
			}
			s.delivered.Add(uint64(len(done)))
		}
		if stopped || len(msgs) < deliveryPage {
			return
		}
	}
}

// decode parses a stored message and adds the server's <delay/> (XEP-0203)
// unless it already has one from the server.
func decode(m Message, domain string) (*stanza.Stanza, error) {
	el, err := xml.Parse(m.Stanza, stanza.NSClient)
	if err != nil {
		return nil, err
	}
	st, err := stanza.New(el)
	if err != nil {
		return nil, err
	}
	for _, d := range st.El.ChildrenNamed(stanza.NSDelay, "delay") {
		if f := d.AttrValue("from"); f == "" || f == domain {
			return st, nil
		}
	}
	d := stanza.Delay(domain, FormatStamp(m.Stamp))
	d.AddText(delayReason)
	st.El.AddChild(d)
	return st, nil
}

// FormatStamp formats t as a XEP-0082 date-time in UTC with millisecond
// precision, as XEP-0203 stamps are written ("2006-01-02T15:04:05.000Z").
func FormatStamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type verdict uint8

const (
	verdictKeep   verdict = iota // store it
	verdictDrop                  // drop it silently
	verdictBounce                // not ours: the router bounces it
)

// classify decides what happens to an undelivered message.
//
// XEP-0334: <no-store/> forbids even temporary storage, so the message is
// dropped (it wins over a <store/> hint in the same message);
// <no-permanent-store/> only keeps a message out of archives, and does not
// prevent offline storage. XEP-0085 §5.5: standalone chat states are not
// stored and not bounced.
func classify(st *stanza.Stanza) verdict {
	switch st.Type {
	case stanza.TypeGroupchat, stanza.TypeHeadline, stanza.TypeError:
		return verdictDrop // RFC 6121 §8.5.2: never stored
	}
	el := st.El
	if el.Child(stanza.NSHints, "no-store") != nil || el.Child(stanza.NSHints, "no-storage") != nil {
		return verdictDrop
	}
	if worthKeeping(st) {
		return verdictKeep
	}
	if el.Child(stanza.NSChatStates, "") != nil {
		return verdictDrop
	}
	return verdictBounce
}

// worthKeeping reports whether a message carries something its recipient
// wants to see later.
func worthKeeping(st *stanza.Stanza) bool { return stanza.WorthKeeping(st) }
