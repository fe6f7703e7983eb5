package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/auth"
	"mellium.im/sasl"
)

const testDomain = "example.org"

// users is an in-memory credential store for tests.
type users struct {
	mu    sync.Mutex
	creds map[string]auth.Credentials
}

// newUsers returns a store with the given username/password pairs, derived
// with iter iterations.
func newUsers(tb testing.TB, iter int, pairs ...string) *users {
	tb.Helper()
	u := &users{creds: make(map[string]auth.Credentials)}
	for i := 0; i+1 < len(pairs); i += 2 {
		c, err := auth.NewCredentials(pairs[i+1], iter)
		if err != nil {
			tb.Fatalf("NewCredentials(%q): %v", pairs[i+1], err)
		}
		u.creds[pairs[i]] = c
	}
	return u
}

// lookup is an auth.Lookup over u.
func (u *users) lookup(_ context.Context, username string) (auth.Credentials, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.creds[username]
	if !ok {
		return auth.Credentials{}, fmt.Errorf("users: %q: %w", username, auth.ErrNotFound)
	}
	return c, nil
}

// newServer returns a Server for mech over u, with a fixed secret.
func newServer(tb testing.TB, mech auth.Mechanism, u *users, opts ...auth.Option) *auth.Server {
	tb.Helper()
	opts = append([]auth.Option{auth.Domain(testDomain), auth.Secret([]byte("0123456789abcdef0123456789abcdef"))}, opts...)
	s, err := auth.NewServer(mech, u.lookup, opts...)
	if err != nil {
		tb.Fatalf("NewServer(%s): %v", mech, err)
	}
	return s
}

// condition returns the condition of a *auth.Failure, "" for nil, and fails
// the test for other errors.
func condition(tb testing.TB, err error) string {
	tb.Helper()
	if err == nil {
		return ""
	}
	var f *auth.Failure
	if !errors.As(err, &f) {
		tb.Fatalf("error %v (%T) is not a *auth.Failure", err, err)
	}
	return f.Condition
}

// saslMech returns the mellium.im/sasl client mechanism for m.
func saslMech(m auth.Mechanism) sasl.Mechanism {
	switch m {
	case auth.ScramSHA1:
		return sasl.ScramSha1
	case auth.Plain:
		return sasl.Plain
	default:
		return sasl.ScramSha256
	}
}

// exchange is the outcome of a login driven by the mellium.im/sasl client.
type exchange struct {
	serverErr error // from Server.Step
	clientErr error // from the client, e.g. a bad server signature
	done      bool
}

// login runs a whole exchange between client and srv. tamper, if not nil,
// may modify the server's success data before the client checks it.
func login(tb testing.TB, srv *auth.Server, client *sasl.Negotiator, tamper func([]byte) []byte) exchange {
	tb.Helper()
	ctx := context.Background()
	more, resp, err := client.Step(nil)
	if err != nil {
		tb.Fatalf("client initial step: %v", err)
	}
	for {
		challenge, done, err := srv.Step(ctx, resp)
		if err != nil {
			return exchange{serverErr: err}
		}
		if done {
			if challenge != nil {
				if tamper != nil {
					challenge = tamper(challenge)
				}
				if _, _, err := client.Step(challenge); err != nil {
					return exchange{clientErr: err, done: true}
				}
			}
			return exchange{done: true}
		}
		if !more {
			tb.Fatalf("server sent a challenge but the client is finished")
		}
		more, resp, err = client.Step(challenge)
		if err != nil {
			return exchange{clientErr: err}
		}
	}
}

// newClient returns a mellium.im/sasl client for mech.
func newClient(mech sasl.Mechanism, user, password, authzid string, opts ...sasl.Option) *sasl.Negotiator {
	opts = append(opts, sasl.Credentials(func() (Username, Password, Identity []byte) {
		return []byte(user), []byte(password), []byte(authzid)
	}))
	return sasl.NewClient(mech, opts...)
}

// serverFirst is a parsed server-first-message.
type serverFirst struct {
	raw   string
	nonce string
	salt  []byte
	iter  int
}

// parseServerFirst parses a server-first-message strictly.
func parseServerFirst(tb testing.TB, b []byte) serverFirst {
	tb.Helper()
	parts := strings.Split(string(b), ",")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "r=") || !strings.HasPrefix(parts[1], "s=") || !strings.HasPrefix(parts[2], "i=") {
		tb.Fatalf("bad server-first-message %q", b)
	}
	salt, err := base64.StdEncoding.DecodeString(parts[1][2:])
	if err != nil {
		tb.Fatalf("bad salt in %q: %v", b, err)
	}
	iter, err := strconv.Atoi(parts[2][2:])
	if err != nil {
		tb.Fatalf("bad iteration count in %q: %v", b, err)
	}
	return serverFirst{raw: string(b), nonce: parts[0][2:], salt: salt, iter: iter}
}

// clientProof computes a SCRAM ClientProof and ServerSignature the long way.
func clientProof(h func() hash.Hash, password string, salt []byte, iter int, authMessage string) (proof, serverSignature []byte) {
	salted, err := pbkdf2.Key(h, password, salt, iter, h().Size())
	if err != nil {
		panic(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	d := h()
	d.Write(clientKey)
	storedKey := d.Sum(nil)
	proof = mac(storedKey, authMessage)
	subtle.XORBytes(proof, proof, clientKey)
	return proof, mac(mac(salted, "Server Key"), authMessage)
}

// hashOf returns the hash function of a SCRAM mechanism.
func hashOf(m auth.Mechanism) func() hash.Hash {
	if m == auth.ScramSHA1 {
		return sha1.New
	}
	return sha256.New
}

// b64 encodes standard base64.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
