package fcm_test

import (
	"context"
	"testing"
	"time"

	"dormouse.im/dormouse/push/appserver/fcm"
	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/push/appserver/providertest"
)

func newClient(t *testing.T) (*fcm.Client, *providertest.FCM) {
	t.Helper()
	f := providertest.NewFCM()
	t.Cleanup(f.Close)
	c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: f.ServiceAccountJSON("demo-project"), Endpoint: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, f
}

func TestSend(t *testing.T) {
	c, f := newClient(t)
	ctx := context.Background()
	r := c.Send(ctx, &provider.Notification{Token: "tok-1", Important: true, TTL: time.Hour, CollapseKey: "xmpp",
		Data: map[string]string{"message-count": "1"}})
	if r.Outcome != provider.Sent || r.ID == "" {
		t.Fatalf("result %+v", r)
	}
	r = c.Send(ctx, &provider.Notification{Token: "tok-2", Encrypted: &provider.Encrypted{Payload: "cGF5", IV: "aXY="}})
	if r.Outcome != provider.Sent {
		t.Fatalf("result %+v", r)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if q := reqs[0]; q.Project != "demo-project" || q.Token != "tok-1" || q.Priority != "high" || q.TTL != "3600s" ||
		q.CollapseKey != "xmpp" || len(q.Data) != 1 || q.Data["message-count"] != "1" {
		t.Errorf("first request %+v", q)
	}
	if q := reqs[1]; q.Priority != "normal" || q.Data["encrypted"] != "cGF5" || q.Data["iv"] != "aXY=" || len(q.Data) != 2 || q.TTL != "" {
		t.Errorf("second request %+v", q)
	}
	if n := f.TokensIssued(); n != 1 {
		t.Errorf("%d OAuth tokens issued, want 1 (cached)", n)
	}
}

func TestErrors(t *testing.T) {
	c, f := newClient(t)
	for i, tc := range []struct {
		ans     providertest.Answer
		outcome provider.Outcome
		retry   time.Duration
	}{
		0: {providertest.Answer{Reason: "UNREGISTERED"}, provider.Unregistered, 0},
		1: {providertest.Answer{Reason: "INVALID_ARGUMENT"}, provider.Unregistered, 0},
		2: {providertest.Answer{Reason: "QUOTA_EXCEEDED", RetryAfter: "30"}, provider.RateLimited, 30 * time.Second},
		3: {providertest.Answer{Reason: "INTERNAL"}, provider.ProviderError, 0},
		4: {providertest.Answer{Reason: "SENDER_ID_MISMATCH"}, provider.Unregistered, 0},
	} {
		f.Answer("bad", tc.ans)
		r := c.Send(context.Background(), &provider.Notification{Token: "bad"})
		if r.Outcome != tc.outcome || r.RetryAfter != tc.retry {
			t.Errorf("%d: %+v, want %s retry %s", i, r, tc.outcome, tc.retry)
		}
		if tc.outcome == provider.ProviderError && (!r.Temporary() || r.Status != 500) {
			t.Errorf("%d: %+v should be temporary with status 500", i, r)
		}
	}
}

func TestBadCredentials(t *testing.T) {
	if _, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: []byte("{")}); err == nil {
		t.Error("accepted broken JSON")
	}
	if _, err := fcm.New(context.Background(), fcm.Config{}); err == nil {
		t.Error("accepted no credentials")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "10": 10 * time.Second, "-1": 0, "x": 0,
		"Thu, 01 Jan 2026 00:00:20 GMT": 20 * time.Second, "Wed, 31 Dec 2025 00:00:00 GMT": 0,
	} {
		if got := fcm.RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
