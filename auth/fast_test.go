package auth_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
)

var fastSecret = bytes.Repeat([]byte{7}, 32)

func fastToken(account, ua string, nonce byte, created time.Time) auth.FastToken {
	n := bytes.Repeat([]byte{nonce}, 16)
	return auth.FastToken{
		Account: account, UserAgent: ua, Mechanism: auth.HTSHA256None, Nonce: n,
		Hash:    auth.TokenHash(auth.DeriveToken(fastSecret, account, ua, n)),
		Created: created, Expiry: created.Add(time.Hour),
	}
}

func TestDeriveToken(t *testing.T) {
	a := auth.DeriveToken(fastSecret, "a@x", "ua", []byte{1})
	for name, b := range map[string]string{
		"account": auth.DeriveToken(fastSecret, "b@x", "ua", []byte{1}),
		"agent":   auth.DeriveToken(fastSecret, "a@x", "ub", []byte{1}),
		"nonce":   auth.DeriveToken(fastSecret, "a@x", "ua", []byte{2}),
		"secret":  auth.DeriveToken([]byte("other"), "a@x", "ua", []byte{1}),
		"split":   auth.DeriveToken(fastSecret, "a@xu", "a", []byte{1}),
	} {
		if a == b {
			t.Errorf("changing the %s does not change the token", name)
		}
	}
	if a != auth.DeriveToken(fastSecret, "a@x", "ua", []byte{1}) || len(a) != 43 {
		t.Errorf("token %q not stable or not 32 bytes of base64url", a)
	}
}

func TestParseHT(t *testing.T) {
	proof := bytes.Repeat([]byte{1}, 32)
	user, p, err := auth.ParseHT(append([]byte("Alice\x00"), proof...), "example.org")
	if err != nil || user != "alice" || !bytes.Equal(p, proof) {
		t.Errorf("ParseHT = %q, %x, %v", user, p, err)
	}
	for name, msg := range map[string][]byte{
		"empty":       nil,
		"no NUL":      []byte("alice"),
		"no authcid":  append([]byte{0}, proof...),
		"short proof": []byte("alice\x00abc"),
		"long proof":  append([]byte("alice\x00"), append(proof, 1)...),
		"bad utf-8":   append([]byte("\xff\x00"), proof...),
		"too large":   bytes.Repeat([]byte{'a'}, auth.MaxMessageSize+1),
	} {
		var f *auth.Failure
		if _, _, err := auth.ParseHT(msg, "example.org"); !errors.As(err, &f) || f.Condition != auth.ConditionMalformedRequest {
			t.Errorf("%s: %v, want malformed-request", name, err)
		}
	}
	var f *auth.Failure
	if _, _, err := auth.ParseHT(append([]byte("a b\x00"), proof...), "example.org"); !errors.As(err, &f) || f.Condition != auth.ConditionNotAuthorized {
		t.Errorf("invalid localpart: %v, want not-authorized", err)
	}
}

func TestVerifyHT(t *testing.T) {
	now := time.Unix(1e9, 0)
	old := fastToken("a@x", "ua", 1, now.Add(-2*time.Hour)) // expired
	cur := fastToken("a@x", "ua", 2, now.Add(-time.Minute))
	nxt := fastToken("a@x", "ua", 3, now)
	cands := []auth.FastToken{nxt, cur, old}
	proofOf := func(tk auth.FastToken) []byte {
		return auth.HTInitiator(auth.DeriveToken(fastSecret, tk.Account, tk.UserAgent, tk.Nonce), nil)
	}
	for i, tk := range []auth.FastToken{nxt, cur} {
		j, token := auth.VerifyHT(fastSecret, cands, auth.HTSHA256None, proofOf(tk), nil)
		if j != i || auth.DeriveToken(fastSecret, "a@x", "ua", tk.Nonce) != token {
			t.Errorf("token %d matched %d", i, j)
		}
	}
	if j, _ := auth.VerifyHT(fastSecret, cands, auth.HTSHA256None, proofOf(old), nil); j != 2 {
		t.Error("an expired token did not match (the caller reports credentials-expired)")
	}
	if j, _ := auth.VerifyHT(fastSecret, cands, auth.HTSHA256None, make([]byte, 32), nil); j != -1 {
		t.Error("a wrong proof verified")
	}
	if j, _ := auth.VerifyHT(fastSecret, cands, auth.HTSHA256Expr, proofOf(cur), nil); j != -1 {
		t.Error("a -NONE token verified for -EXPR")
	}
	// Bound to channel-binding data: other data fails.
	expr := cur
	expr.Mechanism = auth.HTSHA256Expr
	cbd := []byte("exporter")
	p := auth.HTInitiator(auth.DeriveToken(fastSecret, cur.Account, cur.UserAgent, cur.Nonce), cbd)
	if j, _ := auth.VerifyHT(fastSecret, []auth.FastToken{expr}, auth.HTSHA256Expr, p, cbd); j != 0 {
		t.Error("-EXPR token with its binding did not verify")
	}
	if j, _ := auth.VerifyHT(fastSecret, []auth.FastToken{expr}, auth.HTSHA256Expr, p, []byte("other")); j != -1 {
		t.Error("-EXPR token verified over other binding data")
	}
	// The hashes of draft-schmaus-kitten-sasl-ht §3: HMAC(token, label || cb).
	m := hmac.New(sha256.New, []byte("tok"))
	m.Write([]byte("Initiator"))
	m.Write([]byte("cb"))
	if !bytes.Equal(auth.HTInitiator("tok", []byte("cb")), m.Sum(nil)) {
		t.Error("HTInitiator is not HMAC-SHA-256(token, \"Initiator\" || cb)")
	}
	if bytes.Equal(auth.HTInitiator("tok", nil), auth.HTResponder("tok", nil)) {
		t.Error("initiator and responder hashes are equal")
	}
}

// FuzzParseHT: no input makes the HT parser panic; what it accepts has a
// 32-byte proof and a non-empty prepared username.
func FuzzParseHT(f *testing.F) {
	f.Add(append([]byte("alice\x00"), bytes.Repeat([]byte{1}, 32)...))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		user, proof, err := auth.ParseHT(msg, "example.org")
		if err != nil {
			var f *auth.Failure
			if !errors.As(err, &f) {
				t.Fatalf("error %v is not a *Failure", err)
			}
			return
		}
		if user == "" || len(proof) != 32 {
			t.Fatalf("accepted %q, %x", user, proof)
		}
	})
}

// BenchmarkFASTVerify is the server's work for one FAST login with two
// stored tokens for the user agent (the current and a rotated one): parse
// the initial response, derive and check the tokens, and compute the
// responder hash. No PBKDF2.
func BenchmarkFASTVerify(b *testing.B) {
	now := time.Unix(1e9, 0)
	cands := []auth.FastToken{fastToken("alice@x", "ua", 1, now), fastToken("alice@x", "ua", 2, now)}
	token := auth.DeriveToken(fastSecret, "alice@x", "ua", cands[1].Nonce)
	msg := append([]byte("alice\x00"), auth.HTInitiator(token, nil)...)
	b.ReportAllocs()
	for b.Loop() {
		_, proof, err := auth.ParseHT(msg, "x")
		if err != nil {
			b.Fatal(err)
		}
		i, tok := auth.VerifyHT(fastSecret, cands, auth.HTSHA256None, proof, nil)
		if i != 1 {
			b.Fatal("no match")
		}
		_ = auth.HTResponder(tok, nil)
	}
}
