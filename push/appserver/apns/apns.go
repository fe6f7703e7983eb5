// Package apns sends push notifications through the Apple Push
// Notification service HTTP/2 API with github.com/sideshow/apns2, with token
// authentication (a .p8 key, its key id and the team id) or a .p12
// certificate, to the production or the sandbox environment.
//
// Mapping of a notification (XEP-0357 publish) to APNs:
//   - important (a message with a body, an encrypted message): apns-push-type
//     alert, apns-priority 10, mutable-content 1 and a generic alert text that
//     a Notification Service Extension replaces after fetching the message;
//   - a call: alert with the category "call"; a VoIP push (apns-push-type
//     voip, topic VoIPTopic) only when a VoIP topic is configured;
//   - otherwise: background, apns-priority 5, content-available 1;
//   - apns-collapse-id from the collapse key, apns-expiration from the TTL;
//   - custom keys: the summary form's fields as the user's server sent them,
//     or the encrypted payload ("encrypted", "iv", "type") passed through.
package apns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/certificate"
	"github.com/sideshow/apns2/payload"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"dormouse.im/dormouse/push/appserver/provider"
)

// Generic alert texts for important notifications; the app's Notification
// Service Extension replaces them.
const (
	AlertTitle   = "New message"
	AlertBody    = "You have a new message"
	CallBody     = "Incoming call"
	CallCategory = "call"
)

// Config configures one APNs client. Either KeyP8 (token authentication,
// with KeyID and TeamID) or CertP12 (certificate authentication) is set.
type Config struct {
	KeyP8  []byte
	KeyID  string
	TeamID string

	CertP12      []byte
	CertPassword string

	Topic     string // the app's bundle id
	VoIPTopic string // "" for no VoIP pushes; usually Topic + ".voip"
	Sandbox   bool   // the development environment

	// Endpoint overrides the host (default: the production or sandbox
	// host), for proxies and tests.
	Endpoint string
	// RootCAs, if set, replaces the system roots (tests).
	RootCAs *x509.CertPool
}

// Client sends through one APNs key or certificate. Safe for concurrent use.
type Client struct {
	c   *apns2.Client
	cfg Config
}

var _ provider.Provider = (*Client)(nil)

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Topic == "" {
		return nil, errors.New("apns: no topic (bundle id)")
	}
	var c *apns2.Client
	switch {
	case len(cfg.KeyP8) > 0:
		if cfg.KeyID == "" || cfg.TeamID == "" {
			return nil, errors.New("apns: token authentication needs a key id and a team id")
		}
		key, err := token.AuthKeyFromBytes(cfg.KeyP8)
		if err != nil {
			return nil, fmt.Errorf("apns: read .p8 key: %w", err)
		}
		c = apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: cfg.KeyID, TeamID: cfg.TeamID})
	case len(cfg.CertP12) > 0:
		cert, err := certificate.FromP12Bytes(cfg.CertP12, cfg.CertPassword)
		if err != nil {
			return nil, fmt.Errorf("apns: read .p12 certificate: %w", err)
		}
		c = apns2.NewClient(cert)
	default:
		return nil, errors.New("apns: neither a .p8 key nor a .p12 certificate")
	}
	if cfg.Sandbox {
		c.Development()
	} else {
		c.Production()
	}
	if cfg.Endpoint != "" {
		c.Host = cfg.Endpoint
	}
	if cfg.RootCAs != nil {
		t, ok := c.HTTPClient.Transport.(*http2.Transport)
		if !ok {
			return nil, errors.New("apns: unexpected transport")
		}
		tc := &tls.Config{RootCAs: cfg.RootCAs}
		if t.TLSClientConfig != nil {
			tc = t.TLSClientConfig.Clone()
			tc.RootCAs = cfg.RootCAs
		}
		t.TLSClientConfig = tc
	}
	return &Client{c: c, cfg: cfg}, nil
}

// Notification builds the APNs request for n at time now.
func (c *Client) Notification(n *provider.Notification, now time.Time) *apns2.Notification {
	return build(c.cfg, n, now)
}

func build(cfg Config, n *provider.Notification, now time.Time) *apns2.Notification {
	p := payload.NewPayload()
	an := &apns2.Notification{DeviceToken: n.Token, Topic: cfg.Topic, CollapseID: n.CollapseKey, Payload: p}
	switch {
	case n.Call && cfg.VoIPTopic != "":
		an.PushType, an.Priority, an.Topic = apns2.PushTypeVOIP, apns2.PriorityHigh, cfg.VoIPTopic
	case n.Call:
		an.PushType, an.Priority = apns2.PushTypeAlert, apns2.PriorityHigh
		p.AlertTitle(AlertTitle).AlertBody(CallBody).MutableContent().Category(CallCategory).Sound("default")
	case n.Important:
		an.PushType, an.Priority = apns2.PushTypeAlert, apns2.PriorityHigh
		p.AlertTitle(AlertTitle).AlertBody(AlertBody).MutableContent().Sound("default")
	default:
		an.PushType, an.Priority = apns2.PushTypeBackground, apns2.PriorityLow
		p.ContentAvailable()
	}
	if n.TTL > 0 {
		an.Expiration = now.Add(n.TTL)
	}
	for k, v := range n.Data {
		if k != "aps" {
			p.Custom(k, v)
		}
	}
	if e := n.Encrypted; e != nil {
		p.Custom("encrypted", e.Payload)
		p.Custom("iv", e.IV)
		if e.Type != "" {
			p.Custom("type", e.Type)
		}
	}
	return an
}

// Send implements provider.Provider.
func (c *Client) Send(ctx context.Context, n *provider.Notification) provider.Result {
	res, err := c.c.PushWithContext(ctx, build(c.cfg, n, time.Now()))
	if err != nil {
		r := provider.Result{Outcome: provider.ProviderError, Reason: err.Error()}
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			r.Outcome = provider.Timeout
		}
		return r
	}
	// apns2 returns err == nil for rejected pushes: classify the status.
	return Classify(res.StatusCode, res.Reason, res.ApnsID)
}

// Classify maps an APNs answer to a Result.
func Classify(status int, reason, id string) provider.Result {
	r := provider.Result{Status: status, Reason: reason, ID: id}
	switch {
	case status == http.StatusOK:
		r.Outcome = provider.Sent
	case status == http.StatusGone || reason == apns2.ReasonUnregistered ||
		reason == apns2.ReasonBadDeviceToken || reason == apns2.ReasonDeviceTokenNotForTopic:
		r.Outcome = provider.Unregistered
	case status == http.StatusTooManyRequests:
		r.Outcome = provider.RateLimited
	default:
		r.Outcome = provider.ProviderError
	}
	return r
}

// Close implements provider.Provider.
func (c *Client) Close() {
	if t, ok := c.c.HTTPClient.Transport.(*http2.Transport); ok {
		t.CloseIdleConnections()
	}
}
