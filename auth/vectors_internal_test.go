package auth

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"testing"
)

// TestRFCVectors replays the example exchanges of RFC 5802 §5 (SCRAM-SHA-1)
// and RFC 7677 §3 (SCRAM-SHA-256). The server nonce is random, so the test
// swaps the RFC's server-first-message into the server's state; this is the
// only white-box test.
func TestRFCVectors(t *testing.T) {
	tests := []struct {
		name        string
		mech        Mechanism
		h           func() hash.Hash
		clientFirst string
		serverFirst string
		nonce       string
		salt        string
		clientFinal string
		serverFinal string
	}{
		{
			name:        "RFC 5802",
			mech:        ScramSHA1,
			h:           sha1.New,
			clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			nonce:       "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
			salt:        "QSXCR+Q6sek8bf92",
			clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			name:        "RFC 7677",
			mech:        ScramSHA256,
			h:           sha256.New,
			clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			nonce:       "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
			clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			salt, err := base64.StdEncoding.DecodeString(tc.salt)
			if err != nil {
				t.Fatal(err)
			}
			storedKey, serverKey, err := deriveKeys(tc.h, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			keys := Keys{Salt: salt, Iter: 4096, StoredKey: storedKey, ServerKey: serverKey}
			if !keys.VerifyPassword(tc.h, "pencil") {
				t.Fatal("VerifyPassword refuses the RFC password")
			}
			lookup := func(_ context.Context, user string) (Credentials, error) {
				if user != "user" {
					return Credentials{}, ErrNotFound
				}
				return Credentials{SHA1: keys, SHA256: keys}, nil
			}
			s, err := NewServer(tc.mech, lookup, Domain("example.org"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, _, err := s.Step(ctx, []byte(tc.clientFirst)); err != nil {
				t.Fatal(err)
			}
			s.serverFirst, s.nonce = []byte(tc.serverFirst), []byte(tc.nonce)
			final, done, err := s.Step(ctx, []byte(tc.clientFinal))
			if err != nil || !done {
				t.Fatalf("client-final: %v, done %v", err, done)
			}
			if string(final) != tc.serverFinal {
				t.Fatalf("server-final %q, want %q", final, tc.serverFinal)
			}
			if s.Username() != "user" {
				t.Errorf("Username() = %q", s.Username())
			}
		})
	}
}
