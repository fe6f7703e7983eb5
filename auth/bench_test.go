package auth_test

import (
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
