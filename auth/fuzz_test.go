package auth_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"dormouse.im/dormouse/auth"
	"golang.org/x/text/secure/precis"
)

// conditions are the conditions Server.Step may return.
var conditions = map[string]bool{
	auth.ConditionIncorrectEncoding:    true,
	auth.ConditionInvalidAuthzid:       true,
	auth.ConditionMalformedRequest:     true,
	auth.ConditionNotAuthorized:        true,
	auth.ConditionTemporaryAuthFailure: true,
}

// checkStep checks the invariants of a Step result.
func checkStep(t *testing.T, srv *auth.Server, ch []byte, done bool, err error) {
	t.Helper()
	if err != nil {
		var f *auth.Failure
		if !errors.As(err, &f) || !conditions[f.Condition] {
			t.Fatalf("Step error %v (%T) is not a known *auth.Failure", err, err)
		}
		if done || ch != nil || srv.Username() != "" {
			t.Fatalf("failure with done %v, data %q, Username %q", done, ch, srv.Username())
		}
	}
}

// FuzzSCRAMServer feeds arbitrary client-first and client-final messages to
// a SCRAM-SHA-256 server. In the final message, "{nonce}" is replaced by the
// server's nonce so that the fuzzer gets past the nonce check.
func FuzzSCRAMServer(f *testing.F) {
	u := newUsers(f, 1, "user", "pencil")
	seeds := [][2]string{
		{"n,,n=user,r=abc", "c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
		{"y,,n=user,r=abc", "c=eSws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
		{"n,a=user@example.org,n=user,r=abc,x=y", "c=bixhPXVzZXJAZXhhbXBsZS5vcmcs,r={nonce},z=1,p=AAAA"},
		{"n,,n=us=2Cer=3D,r=abc", "c=biws,r={nonce},p="},
		{"p=tls-exporter,,n=user,r=abc", ""},
		{"n,,m=x,n=user,r=abc", ""},
		{"n,,n=nobody,r=a", "c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
		{"", "n,,n=user,r=abc"},
		{"n,,n=user,r=abc", "c=bi\nws,r={nonce},p=AAAA"},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		ctx := context.Background()
		srv := newServer(t, auth.ScramSHA256, u, auth.UnknownUserIterations(1))
		ch, done, err := srv.Step(ctx, first)
		checkStep(t, srv, ch, done, err)
		if err != nil {
			return
		}
		if done {
			t.Fatal("done after one message")
		}
		var nonce []byte
		if len(ch) > 0 {
			if !bytes.HasPrefix(ch, []byte("r=")) {
				t.Fatalf("challenge %q", ch)
			}
			nonce, _, _ = bytes.Cut(ch[2:], []byte(","))
		}
		final = bytes.ReplaceAll(final, []byte("{nonce}"), nonce)
		ch, done, err = srv.Step(ctx, final)
		checkStep(t, srv, ch, done, err)
		if done {
			// Only a correct proof, which the fuzzer cannot compute without
			// the password and the fresh nonce, may succeed.
			t.Fatalf("SCRAM succeeded with %q, %q", first, final)
		}
		// The exchange is over either way.
		if _, _, err := srv.Step(ctx, final); condition(t, err) != auth.ConditionMalformedRequest {
			t.Fatalf("third message: %v", err)
		}
	})
}

// FuzzPLAIN feeds arbitrary PLAIN messages to a server.
func FuzzPLAIN(f *testing.F) {
	const password = "pencil"
	u := newUsers(f, 1, "user", password)
	for _, s := range []string{
		"\x00user\x00pencil",
		"user@example.org\x00user\x00pencil",
		"\x00User\x00pencil",
		"\x00user\x00Pencil",
		"\x00nobody\x00pencil",
		"other@example.org\x00user\x00pencil",
		"\x00\x00",
		"a\x00b",
		"\x00user\x00pen\xffcil",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		srv := newServer(t, auth.Plain, u, auth.UnknownUserIterations(1))
		data, done, err := srv.Step(context.Background(), msg)
		checkStep(t, srv, data, done, err)
		if data != nil && len(msg) != 0 {
			t.Fatalf("PLAIN returned data %q", data)
		}
		if !done {
			return
		}
		parts := bytes.Split(msg, []byte{0})
		if len(parts) != 3 {
			t.Fatalf("success with %q", msg)
		}
		if p, err := precis.OpaqueString.String(string(parts[2])); err != nil || p != password {
			t.Fatalf("success with password %q", parts[2])
		}
		if srv.Username() != "user" {
			t.Fatalf("success as %q", srv.Username())
		}
	})
}
