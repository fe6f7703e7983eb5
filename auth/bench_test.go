package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"dormouse.im/dormouse/auth"
	"mellium.im/sasl"
)

func BenchmarkNewCredentials(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.NewCredentials("correct horse battery staple", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSCRAMSHA256 runs whole exchanges, client (mellium.im/sasl, which
// does the PBKDF2 work) and server, with DefaultIterations.
func BenchmarkSCRAMSHA256(b *testing.B) {
	u := newUsers(b, 0, "alice", "correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		srv := newServer(b, auth.ScramSHA256, u)
		res := login(b, srv, newClient(sasl.ScramSha256, "alice", "correct horse battery staple", ""), nil)
		if !res.done || res.serverErr != nil || res.clientErr != nil {
			b.Fatalf("login: %+v", res)
		}
	}
}

// BenchmarkSCRAMSHA256Server is the server's side of a SCRAM-SHA-256
// login, for comparison with BenchmarkFASTVerify: the client's part here
// is a mobile client's with its SaltedPassword cached (two HMACs and a
// hash), so almost all the time is the server's (a credentials lookup in
// memory, nonce generation, the proof check and the signature).
func BenchmarkSCRAMSHA256Server(b *testing.B) {
	const pass = "correct horse battery staple"
	u := newUsers(b, 0, "alice", pass)
	cr, _ := u.lookup(context.Background(), "alice")
	var salted []byte
	b.ReportAllocs()
	for b.Loop() {
		srv := newServer(b, auth.ScramSHA256, u)
		ctx := context.Background()
		first := "n=alice,r=clientnonce0123456789"
		sf, _, err := srv.Step(ctx, []byte("n,,"+first))
		if err != nil {
			b.Fatal(err)
		}
		if salted == nil {
			salted = pbkdf2SHA256(pass, cr.SHA256.Salt, cr.SHA256.Iter)
		}
		nonce := strings.TrimPrefix(strings.Split(string(sf), ",")[0], "r=")
		final := "c=biws,r=" + nonce
		authMsg := first + "," + string(sf) + "," + final
		ck := hmacSHA256(salted, "Client Key")
		sk := sha256.Sum256(ck)
		sig := hmacSHA256(sk[:], authMsg)
		for i := range ck {
			ck[i] ^= sig[i]
		}
		if _, done, err := srv.Step(ctx, []byte(final+",p="+base64.StdEncoding.EncodeToString(ck))); err != nil || !done {
			b.Fatal(err)
		}
	}
}

// BenchmarkPLAINServer is the server's side of a PLAIN login: one PBKDF2
// of DefaultIterations.
func BenchmarkPLAINServer(b *testing.B) {
	u := newUsers(b, 0, "alice", "correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		srv := newServer(b, auth.Plain, u)
		if _, done, err := srv.Step(context.Background(), []byte("\x00alice\x00correct horse battery staple")); err != nil || !done {
			b.Fatal(err)
		}
	}
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func pbkdf2SHA256(pass string, salt []byte, iter int) []byte {
	k, err := pbkdf2.Key(sha256.New, pass, salt, iter, sha256.Size)
	if err != nil {
		panic(err)
	}
	return k
}
