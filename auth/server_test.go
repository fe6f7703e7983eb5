package auth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"dormouse.im/dormouse/auth"
	"mellium.im/sasl"
)

func TestMechanisms(t *testing.T) {
	want := []auth.Mechanism{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	if got := auth.Mechanisms(); !slices.Equal(got, want) {
		t.Fatalf("Mechanisms() = %v, want %v", got, want)
	}
	auth.Mechanisms()[0] = "X"
	if got := auth.Mechanisms(); !slices.Equal(got, want) {
		t.Fatalf("Mechanisms() shares its slice: %v", got)
	}
}

func TestNewServer(t *testing.T) {
	lookup := newUsers(t, 1).lookup
	tests := []struct {
		name    string
		mech    auth.Mechanism
		lookup  auth.Lookup
		opts    []auth.Option
		cond    string // expected Failure condition
		wantErr bool   // expected non-Failure error
	}{
		{name: "scram-sha-256", mech: auth.ScramSHA256, lookup: lookup, opts: []auth.Option{auth.Domain(testDomain)}},
		{name: "scram-sha-1", mech: auth.ScramSHA1, lookup: lookup, opts: []auth.Option{auth.Domain(testDomain)}},
		{name: "plain", mech: auth.Plain, lookup: lookup, opts: []auth.Option{auth.Domain(testDomain)}},
		{name: "plus is unsupported", mech: "SCRAM-SHA-256-PLUS", lookup: lookup, opts: []auth.Option{auth.Domain(testDomain)}, cond: auth.ConditionInvalidMechanism},
		{name: "unknown mechanism", mech: "DIGEST-MD5", lookup: lookup, opts: []auth.Option{auth.Domain(testDomain)}, cond: auth.ConditionInvalidMechanism},
		{name: "lower-case name", mech: "plain", lookup: lookup, opts: []auth.Option{auth.Domain(testDomain)}, cond: auth.ConditionInvalidMechanism},
		{name: "no domain", mech: auth.Plain, lookup: lookup, wantErr: true},
		{name: "invalid domain", mech: auth.Plain, lookup: lookup, opts: []auth.Option{auth.Domain("a b")}, wantErr: true},
		{name: "nil lookup", mech: auth.Plain, opts: []auth.Option{auth.Domain(testDomain)}, wantErr: true},
		{name: "zero unknown-user iterations", mech: auth.Plain, lookup: lookup, opts: []auth.Option{auth.Domain(testDomain), auth.UnknownUserIterations(0)}, wantErr: true},
		{name: "huge unknown-user iterations", mech: auth.Plain, lookup: lookup, opts: []auth.Option{auth.Domain(testDomain), auth.UnknownUserIterations(auth.MaxIterations + 1)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := auth.NewServer(tc.mech, tc.lookup, tc.opts...)
			var f *auth.Failure
			isFailure := errors.As(err, &f)
			switch {
			case tc.cond != "":
				if !isFailure || f.Condition != tc.cond {
					t.Fatalf("NewServer: err = %v, want condition %s", err, tc.cond)
				}
			case tc.wantErr:
				if err == nil || isFailure {
					t.Fatalf("NewServer: err = %v, want a configuration error", err)
				}
				if !strings.HasPrefix(err.Error(), "auth: ") {
					t.Errorf("error %q lacks the auth: prefix", err)
				}
			default:
				if err != nil {
					t.Fatalf("NewServer: %v", err)
				}
				if s.Mechanism() != tc.mech {
					t.Errorf("Mechanism() = %s, want %s", s.Mechanism(), tc.mech)
				}
			}
		})
	}
}

// TestLogin drives the server with the mellium.im/sasl client.
func TestLogin(t *testing.T) {
	u := newUsers(t, 4096, "alice", "correct horse", "o,neil=x", "pä,ss=")
	tests := []struct {
		name     string
		mechs    []auth.Mechanism
		user     string
		password string
		authzid  string
		opts     []sasl.Option
		cond     string // "" for success
		username string // expected Username() on success
	}{
		{name: "right password", user: "alice", password: "correct horse", username: "alice"},
		{name: "user name is case-folded", user: "Alice", password: "correct horse", username: "alice"},
		{name: "escaped user name", user: "o,neil=x", password: "pä,ss=", username: "o,neil=x"},
		{name: "wrong password", user: "alice", password: "Correct horse", cond: auth.ConditionNotAuthorized},
		{name: "unknown user", user: "bob", password: "correct horse", cond: auth.ConditionNotAuthorized},
		{name: "unpreparable user", user: "alice@example.org", password: "correct horse", cond: auth.ConditionNotAuthorized},
		{name: "own bare JID as authzid", user: "alice", password: "correct horse", authzid: "alice@example.org", username: "alice"},
		{name: "own bare JID, other case", user: "alice", password: "correct horse", authzid: "ALICE@Example.ORG", username: "alice"},
		{name: "other user as authzid", user: "alice", password: "correct horse", authzid: "bob@example.org", cond: auth.ConditionInvalidAuthzid},
		{name: "full JID as authzid", user: "alice", password: "correct horse", authzid: "alice@example.org/phone", cond: auth.ConditionInvalidAuthzid},
		{name: "other domain as authzid", user: "alice", password: "correct horse", authzid: "alice@example.net", cond: auth.ConditionInvalidAuthzid},
		{name: "bare localpart as authzid", user: "alice", password: "correct horse", authzid: "alice", cond: auth.ConditionInvalidAuthzid},
		{name: "domain as authzid", user: "alice", password: "correct horse", authzid: "example.org", cond: auth.ConditionInvalidAuthzid},
		{
			// The client supports channel binding, thinks we do not
			// (GS2 flag "y"): fine, since we offer no -PLUS mechanism.
			name: "y flag", mechs: []auth.Mechanism{auth.ScramSHA256},
			user: "alice", password: "correct horse", username: "alice",
			opts: []sasl.Option{sasl.TLSState(tls.ConnectionState{Version: tls.VersionTLS13})},
		},
		{
			// The client requires channel binding (GS2 flag "p").
			name: "p flag", mechs: []auth.Mechanism{auth.ScramSHA256},
			user: "alice", password: "correct horse", cond: auth.ConditionMalformedRequest,
			opts: []sasl.Option{
				sasl.TLSState(tls.ConnectionState{Version: tls.VersionTLS13}),
				sasl.RemoteMechanisms("SCRAM-SHA-256-PLUS"),
			},
		},
	}
	for _, tc := range tests {
		mechs := tc.mechs
		if mechs == nil {
			mechs = auth.Mechanisms()
		}
		for _, mech := range mechs {
			t.Run(tc.name+"/"+string(mech), func(t *testing.T) {
				clientMech := saslMech(mech)
				if tc.opts != nil {
					clientMech = sasl.ScramSha256Plus
				}
				srv := newServer(t, mech, u)
				res := login(t, srv, newClient(clientMech, tc.user, tc.password, tc.authzid, tc.opts...), nil)
				if res.clientErr != nil {
					t.Fatalf("client: %v", res.clientErr)
				}
				if got := condition(t, res.serverErr); got != tc.cond {
					t.Fatalf("server error %v, want condition %q", res.serverErr, tc.cond)
				}
				if tc.cond != "" {
					if res.done || srv.Username() != "" {
						t.Fatalf("failed exchange: done = %v, Username() = %q", res.done, srv.Username())
					}
					return
				}
				if !res.done {
					t.Fatal("exchange did not finish")
				}
				if srv.Username() != tc.username || srv.Authcid() != tc.username {
					t.Errorf("Username() = %q, Authcid() = %q, want %q", srv.Username(), srv.Authcid(), tc.username)
				}
				// The exchange is over.
				if _, _, err := srv.Step(context.Background(), []byte("n,,n=alice,r=x")); condition(t, err) != auth.ConditionMalformedRequest {
					t.Errorf("Step after success: %v, want malformed-request", err)
				}
			})
		}
	}
}

// TestServerSignature checks that the client verifies the server's v= and
// that a wrong one is refused, i.e. the oracle really checks it.
func TestServerSignature(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	for _, mech := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA1} {
		t.Run(string(mech), func(t *testing.T) {
			var final []byte
			res := login(t, newServer(t, mech, u), newClient(saslMech(mech), "alice", "secret", ""), func(b []byte) []byte {
				final = b
				return b
			})
			if res.serverErr != nil || res.clientErr != nil || !res.done {
				t.Fatalf("login: %+v", res)
			}
			if !strings.HasPrefix(string(final), "v=") {
				t.Fatalf("success data %q is not a server-final-message", final)
			}
			res = login(t, newServer(t, mech, u), newClient(saslMech(mech), "alice", "secret", ""), func(b []byte) []byte {
				b = []byte(string(b))
				b[3] ^= 1
				return b
			})
			if res.clientErr == nil {
				t.Fatal("client accepted a tampered server signature")
			}
		})
	}
}

// TestUnknownUserIndistinguishable checks that unknown users get a stable
// salt, the usual iteration count, and the same failure as a wrong password.
func TestUnknownUserIndistinguishable(t *testing.T) {
	u := newUsers(t, auth.DefaultIterations, "alice", "secret")
	first := func(srv *auth.Server, user string) serverFirst {
		t.Helper()
		ch, _, err := srv.Step(context.Background(), []byte("n,,n="+user+",r=abcdef"))
		if err != nil {
			t.Fatalf("client-first for %s: %v", user, err)
		}
		return parseServerFirst(t, ch)
	}
	for _, mech := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA1} {
		t.Run(string(mech), func(t *testing.T) {
			a, b := first(newServer(t, mech, u), "nobody"), first(newServer(t, mech, u), "nobody")
			if string(a.salt) != string(b.salt) {
				t.Errorf("unknown user's salt changes between attempts: %x, %x", a.salt, b.salt)
			}
			if len(a.salt) != auth.SaltSize || a.iter != auth.DefaultIterations {
				t.Errorf("unknown user's salt/iter = %x/%d, want %d bytes/%d", a.salt, a.iter, auth.SaltSize, auth.DefaultIterations)
			}
			if c := first(newServer(t, mech, u), "somebody"); string(c.salt) == string(a.salt) {
				t.Error("two unknown users have the same salt")
			}
			other, err := auth.NewServer(mech, u.lookup, auth.Domain(testDomain), auth.Secret([]byte("another secret, another salt....")))
			if err != nil {
				t.Fatal(err)
			}
			if c := first(other, "nobody"); string(c.salt) == string(a.salt) {
				t.Error("the salt of unknown users does not depend on the secret")
			}
			if a.nonce == b.nonce {
				t.Error("server nonce repeats")
			}

			unknown := login(t, newServer(t, mech, u), newClient(saslMech(mech), "nobody", "secret", ""), nil)
			wrong := login(t, newServer(t, mech, u), newClient(saslMech(mech), "alice", "wrong", ""), nil)
			if !reflect.DeepEqual(unknown, wrong) {
				t.Errorf("unknown user %+v differs from wrong password %+v", unknown, wrong)
			}
		})
	}
	unknown := login(t, newServer(t, auth.Plain, u), newClient(sasl.Plain, "nobody", "secret", ""), nil)
	wrong := login(t, newServer(t, auth.Plain, u), newClient(sasl.Plain, "alice", "wrong", ""), nil)
	if !reflect.DeepEqual(unknown, wrong) || condition(t, wrong.serverErr) != auth.ConditionNotAuthorized {
		t.Errorf("PLAIN: unknown user %+v, wrong password %+v", unknown, wrong)
	}
}

// TestPartialCredentials covers accounts with only one set of keys.
func TestPartialCredentials(t *testing.T) {
	full, err := auth.NewCredentials("secret", 4096)
	if err != nil {
		t.Fatal(err)
	}
	u := &users{creds: map[string]auth.Credentials{
		"old": {SHA1: full.SHA1},
		"new": {SHA256: full.SHA256},
	}}
	tests := []struct {
		name string
		user string
		mech auth.Mechanism
		cond string
	}{
		{name: "sha1 only, PLAIN falls back", user: "old", mech: auth.Plain},
		{name: "sha1 only, SCRAM-SHA-1", user: "old", mech: auth.ScramSHA1},
		{name: "sha1 only, SCRAM-SHA-256", user: "old", mech: auth.ScramSHA256, cond: auth.ConditionNotAuthorized},
		{name: "sha256 only, PLAIN", user: "new", mech: auth.Plain},
		{name: "sha256 only, SCRAM-SHA-256", user: "new", mech: auth.ScramSHA256},
		{name: "sha256 only, SCRAM-SHA-1", user: "new", mech: auth.ScramSHA1, cond: auth.ConditionNotAuthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := login(t, newServer(t, tc.mech, u), newClient(saslMech(tc.mech), tc.user, "secret", ""), nil)
			if res.clientErr != nil {
				t.Fatal(res.clientErr)
			}
			if got := condition(t, res.serverErr); got != tc.cond {
				t.Fatalf("error %v, want condition %q", res.serverErr, tc.cond)
			}
		})
	}
}

func TestLookupFailure(t *testing.T) {
	boom := errors.New("database on fire")
	lookup := func(context.Context, string) (auth.Credentials, error) { return auth.Credentials{}, boom }
	msgs := map[auth.Mechanism]string{
		auth.ScramSHA256: "n,,n=alice,r=abc",
		auth.ScramSHA1:   "n,,n=alice,r=abc",
		auth.Plain:       "\x00alice\x00secret",
	}
	for mech, msg := range msgs {
		t.Run(string(mech), func(t *testing.T) {
			srv, err := auth.NewServer(mech, lookup, auth.Domain(testDomain))
			if err != nil {
				t.Fatal(err)
			}
			_, done, err := srv.Step(context.Background(), []byte(msg))
			if done || condition(t, err) != auth.ConditionTemporaryAuthFailure {
				t.Fatalf("Step: done %v, err %v; want temporary-auth-failure", done, err)
			}
			if !errors.Is(err, boom) {
				t.Errorf("error %v does not wrap the lookup error", err)
			}
			if strings.Contains(err.(*auth.Failure).Text, "fire") {
				t.Errorf("failure text %q leaks the cause", err.(*auth.Failure).Text)
			}
		})
	}
}

func TestBeforeVerify(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	stop := errors.New("slow down")
	for _, mech := range auth.Mechanisms() {
		t.Run(string(mech), func(t *testing.T) {
			var seen []string
			hook := func(_ context.Context, user string) error {
				seen = append(seen, user)
				return nil
			}
			res := login(t, newServer(t, mech, u, auth.BeforeVerify(hook)), newClient(saslMech(mech), "Alice", "secret", ""), nil)
			if !res.done || res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("login: %+v", res)
			}
			res = login(t, newServer(t, mech, u, auth.BeforeVerify(hook)), newClient(saslMech(mech), "nobody", "secret", ""), nil)
			if condition(t, res.serverErr) != auth.ConditionNotAuthorized {
				t.Fatalf("unknown user: %+v", res)
			}
			if want := []string{"alice", "nobody"}; !slices.Equal(seen, want) {
				t.Errorf("hook saw %q, want %q", seen, want)
			}
			refuse := func(context.Context, string) error { return stop }
			res = login(t, newServer(t, mech, u, auth.BeforeVerify(refuse)), newClient(saslMech(mech), "alice", "secret", ""), nil)
			if condition(t, res.serverErr) != auth.ConditionTemporaryAuthFailure || !errors.Is(res.serverErr, stop) {
				t.Fatalf("refusing hook: %+v", res)
			}
		})
	}
}

// TestNoInitialResponse covers <auth/> without initial response: the server
// sends an empty challenge and the first message comes as a response.
func TestNoInitialResponse(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	ctx := context.Background()
	for _, mech := range auth.Mechanisms() {
		t.Run(string(mech), func(t *testing.T) {
			srv := newServer(t, mech, u)
			ch, done, err := srv.Step(ctx, nil)
			if err != nil || done || ch == nil || len(ch) != 0 {
				t.Fatalf("Step(nil) = %q, %v, %v; want empty challenge", ch, done, err)
			}
			if res := login(t, srv, newClient(saslMech(mech), "alice", "secret", ""), nil); !res.done || res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("login: %+v", res)
			}

			srv = newServer(t, mech, u)
			srv.Step(ctx, nil)
			if _, _, err := srv.Step(ctx, nil); condition(t, err) != auth.ConditionMalformedRequest {
				t.Fatalf("second empty message: %v, want malformed-request", err)
			}
		})
	}
}

// TestSCRAMExtension checks a client-final-message with an extension, which
// takes part in the AuthMessage; the proof is computed by hand.
func TestSCRAMExtension(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	for _, mech := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA1} {
		t.Run(string(mech), func(t *testing.T) {
			ctx := context.Background()
			srv := newServer(t, mech, u)
			bare := "n=alice,r=clientnonce,x=first"
			ch, _, err := srv.Step(ctx, []byte("y,a=alice@example.org,"+bare))
			if err != nil {
				t.Fatal(err)
			}
			sf := parseServerFirst(t, ch)
			if !strings.HasPrefix(sf.nonce, "clientnonce") || len(sf.nonce) != len("clientnonce")+32 {
				t.Fatalf("server nonce %q", sf.nonce)
			}
			without := "c=" + b64([]byte("y,a=alice@example.org,")) + ",r=" + sf.nonce + ",Y=final"
			proof, sig := clientProof(hashOf(mech), "secret", sf.salt, sf.iter, bare+","+sf.raw+","+without)
			final, done, err := srv.Step(ctx, []byte(without+",p="+b64(proof)))
			if err != nil || !done {
				t.Fatalf("final: %v, done %v", err, done)
			}
			if want := "v=" + b64(sig); string(final) != want {
				t.Fatalf("server-final %q, want %q", final, want)
			}
		})
	}
}

// TestStepAfterFailure checks that a failed exchange stays failed.
func TestStepAfterFailure(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	ctx := context.Background()
	srv := newServer(t, auth.ScramSHA256, u)
	if _, _, err := srv.Step(ctx, []byte("n,,n=alice")); condition(t, err) != auth.ConditionMalformedRequest {
		t.Fatalf("bad first message: %v", err)
	}
	if _, _, err := srv.Step(ctx, []byte("n,,n=alice,r=abc")); condition(t, err) != auth.ConditionMalformedRequest {
		t.Fatalf("retry after failure: %v", err)
	}
}

func TestFailureError(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		name string
		f    *auth.Failure
		want string
	}{
		{name: "condition only", f: &auth.Failure{Condition: "not-authorized"}, want: "auth: not-authorized"},
		{name: "with text", f: &auth.Failure{Condition: "malformed-request", Text: "bad"}, want: "auth: malformed-request: bad"},
		{name: "with cause", f: &auth.Failure{Condition: "temporary-auth-failure", Err: cause}, want: "auth: temporary-auth-failure: cause"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if errors.Unwrap(tc.f) != tc.f.Err {
				t.Error("Unwrap does not return Err")
			}
		})
	}
}
