// Package fcm sends push notifications through Firebase Cloud Messaging,
// HTTP v1 API (projects.messages.send), with the Firebase Admin SDK
// (firebase.google.com/go/v4) and service-account credentials.
//
// Every notification is a data message (no "notification" block, so the
// app decides what to show): the fields of the XEP-0357 summary form as the
// user's server sent them, or the encrypted payload ("encrypted", "iv",
// "type"). Important notifications get Android priority high, the others
// normal; TTL and collapse key are set when given.
package fcm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"

	"dormouse.im/dormouse/push/appserver/provider"
)

// Config configures one Firebase project.
type Config struct {
	// CredentialsJSON is the service-account key file's content. Its
	// project_id names the project; its token_uri is where OAuth2 access
	// tokens come from.
	CredentialsJSON []byte
	// Endpoint overrides the FCM endpoint (default
	// https://fcm.googleapis.com/v1), for proxies and tests.
	Endpoint string
}

// Client sends through one Firebase project. It is safe for concurrent use.
type Client struct {
	msg *messaging.Client
}

var _ provider.Provider = (*Client)(nil)

// New returns a client for the project of cfg.CredentialsJSON.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.CredentialsJSON) == 0 {
		return nil, errors.New("fcm: no service-account credentials")
	}
	opts := []option.ClientOption{option.WithCredentialsJSON(cfg.CredentialsJSON)}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	// The token source keeps the context for later refreshes: it must
	// outlive the request that created the client.
	ctx = context.WithoutCancel(ctx)
	app, err := firebase.NewApp(ctx, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	m, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	return &Client{msg: m}, nil
}

// Message builds the FCM message for n.
func Message(n *provider.Notification) *messaging.Message {
	data := make(map[string]string, len(n.Data)+3)
	for k, v := range n.Data {
		data[k] = v
	}
	if e := n.Encrypted; e != nil {
		data["encrypted"] = e.Payload
		data["iv"] = e.IV
		if e.Type != "" {
			data["type"] = e.Type
		}
	}
	ac := &messaging.AndroidConfig{Priority: "normal", CollapseKey: n.CollapseKey}
	if n.Important || n.Call {
		ac.Priority = "high"
	}
	if n.TTL > 0 {
		ttl := n.TTL
		ac.TTL = &ttl
	}
	return &messaging.Message{Token: n.Token, Data: data, Android: ac}
}

// Send implements provider.Provider.
func (c *Client) Send(ctx context.Context, n *provider.Notification) provider.Result {
	id, err := c.msg.Send(ctx, Message(n))
	if err == nil {
		return provider.Result{Outcome: provider.Sent, Status: http.StatusOK, ID: id}
	}
	return classify(ctx, err)
}

// classify maps an SDK error to a Result.
func classify(ctx context.Context, err error) provider.Result {
	r := provider.Result{Outcome: provider.ProviderError, Reason: err.Error()}
	if resp := errorutils.HTTPResponse(err); resp != nil {
		r.Status = resp.StatusCode
		r.RetryAfter = RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	switch {
	case messaging.IsUnregistered(err):
		r.Outcome, r.Reason = provider.Unregistered, "UNREGISTERED"
	case messaging.IsInvalidArgument(err) && r.Status == http.StatusBadRequest:
		// FCM answers INVALID_ARGUMENT for a malformed token; our
		// messages are otherwise well-formed, so the token is dead.
		r.Outcome, r.Reason = provider.Unregistered, "INVALID_ARGUMENT"
	case messaging.IsSenderIDMismatch(err):
		r.Outcome, r.Reason = provider.Unregistered, "SENDER_ID_MISMATCH"
	case messaging.IsQuotaExceeded(err) || r.Status == http.StatusTooManyRequests:
		r.Outcome = provider.RateLimited
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || errorutils.IsDeadlineExceeded(err):
		r.Outcome = provider.Timeout
	}
	return r
}

// RetryAfter parses an HTTP Retry-After value (seconds or an HTTP date)
// relative to now; 0 if absent or invalid.
func RetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Close implements provider.Provider.
func (c *Client) Close() {}
