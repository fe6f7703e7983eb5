package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"dormouse.im/dormouse/auth"
)

// TestChannelBindingFlags: the GS2 flag must fit the mechanism and the
// server's channel-binding support (RFC 5802 §6, §7).
func TestChannelBindingFlags(t *testing.T) {
	u := newUsers(t, 0, "alice", "pencil")
	cb := auth.ChannelBindings(map[string][]byte{auth.CBTLSExporter: make([]byte, 32)})
	if _, err := auth.NewServer(auth.ScramSHA256Plus, u.lookup, auth.Domain(testDomain)); !isCondition(err, auth.ConditionInvalidMechanism) {
		t.Errorf("-PLUS without channel-binding data: %v", err)
	}
	for _, c := range []struct {
		name  string
		mech  auth.Mechanism
		cb    bool
		first string
		cond  string
	}{
		{"p with a plain mechanism", auth.ScramSHA256, true, "p=tls-exporter,,n=alice,r=abc", auth.ConditionMalformedRequest},
		{"n with -PLUS", auth.ScramSHA256Plus, true, "n,,n=alice,r=abc", auth.ConditionMalformedRequest},
		{"y with -PLUS", auth.ScramSHA256Plus, true, "y,,n=alice,r=abc", auth.ConditionMalformedRequest},
		{"unknown type", auth.ScramSHA256Plus, true, "p=tls-unique,,n=alice,r=abc", auth.ConditionMalformedRequest},
		{"bad type name", auth.ScramSHA256Plus, true, "p=a_b,,n=alice,r=abc", auth.ConditionMalformedRequest},
		{"empty type name", auth.ScramSHA256Plus, true, "p=,,n=alice,r=abc", auth.ConditionMalformedRequest},
		{"y: downgrade", auth.ScramSHA256, true, "y,,n=alice,r=abc", auth.ConditionNotAuthorized},
		{"y without binding support", auth.ScramSHA256, false, "y,,n=alice,r=abc", ""},
		{"p with a good type", auth.ScramSHA256Plus, true, "p=tls-exporter,,n=alice,r=abc", ""},
	} {
		opts := []auth.Option{}
		if c.cb {
			opts = append(opts, cb)
		}
		srv := newServer(t, c.mech, u, opts...)
		_, _, err := srv.Step(context.Background(), []byte(c.first))
		if c.cond == "" && err != nil || c.cond != "" && !isCondition(err, c.cond) {
			t.Errorf("%s: %v, want %q", c.name, err, c.cond)
		}
	}
}

func isCondition(err error, cond string) bool {
	var f *auth.Failure
	return errors.As(err, &f) && f.Condition == cond
}

// TestDowngradeProtection: the server-first-message carries h =
// base64(H(S)) of XEP-0474.
func TestDowngradeProtection(t *testing.T) {
	s := auth.SSDPString([]auth.Mechanism{"SCRAM-SHA-256", "PLAIN", "SCRAM-SHA-1-PLUS"}, []string{"tls-server-end-point", "tls-exporter"})
	if want := "PLAIN\x1eSCRAM-SHA-1-PLUS\x1eSCRAM-SHA-256\x1ftls-exporter\x1etls-server-end-point"; string(s) != want {
		t.Errorf("S = %q, want %q", s, want)
	}
	if s := auth.SSDPString([]auth.Mechanism{"B", "A"}, nil); string(s) != "A\x1eB" {
		t.Errorf("without XEP-0440: %q", s)
	}
	u := newUsers(t, 0, "alice", "pencil")
	mechs := []auth.Mechanism{auth.ScramSHA256, auth.Plain}
	srv := newServer(t, auth.ScramSHA256, u, auth.DowngradeProtection(mechs, nil))
	first, _, err := srv.Step(context.Background(), []byte("n,,n=alice,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(auth.SSDPString(mechs, nil))
	if !strings.HasSuffix(string(first), ",h="+base64.StdEncoding.EncodeToString(sum[:])) {
		t.Errorf("server-first-message %q lacks the XEP-0474 hash", first)
	}
}
