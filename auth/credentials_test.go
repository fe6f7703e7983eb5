package auth_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"strings"
	"testing"

	"dormouse.im/dormouse/auth"
)

func TestNewCredentials(t *testing.T) {
	tests := []struct {
		name     string
		password string
		iter     int
		wantIter int
		wantErr  bool
	}{
		{name: "default iterations", password: "pencil", iter: 0, wantIter: auth.DefaultIterations},
		{name: "explicit iterations", password: "pencil", iter: 5000, wantIter: 5000},
		{name: "one iteration", password: "pencil", iter: 1, wantIter: 1},
		{name: "unicode", password: "pässwörd ☃", iter: 1, wantIter: 1},
		{name: "empty password", password: "", wantErr: true},
		{name: "control character", password: "pen\x00cil", wantErr: true},
		{name: "invalid UTF-8", password: "pen\xffcil", wantErr: true},
		{name: "negative iterations", password: "pencil", iter: -1, wantErr: true},
		{name: "too many iterations", password: "pencil", iter: auth.MaxIterations + 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.NewCredentials(tc.password, tc.iter)
			if tc.wantErr {
				if err == nil {
					t.Fatal("NewCredentials succeeded")
				}
				if !strings.HasPrefix(err.Error(), "auth: ") {
					t.Errorf("error %q lacks the auth: prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.Valid() {
				t.Fatal("new credentials are not Valid")
			}
			for _, k := range []auth.Keys{c.SHA1, c.SHA256} {
				if k.Iter != tc.wantIter || len(k.Salt) != auth.SaltSize {
					t.Errorf("iter %d, salt %x; want %d, %d bytes", k.Iter, k.Salt, tc.wantIter, auth.SaltSize)
				}
			}
			if bytes.Equal(c.SHA1.Salt, c.SHA256.Salt) {
				t.Error("SHA-1 and SHA-256 keys share a salt")
			}
			if !c.SHA1.VerifyPassword(sha1.New, tc.password) || !c.SHA256.VerifyPassword(sha256.New, tc.password) {
				t.Error("VerifyPassword refuses the password")
			}
			if c.SHA256.VerifyPassword(sha256.New, tc.password+"x") || c.SHA1.VerifyPassword(sha1.New, tc.password+"x") {
				t.Error("VerifyPassword accepts a wrong password")
			}
			if c.SHA256.VerifyPassword(sha1.New, tc.password) || c.SHA1.VerifyPassword(sha256.New, tc.password) {
				t.Error("VerifyPassword accepts keys of another hash")
			}
		})
	}
}

func TestNewCredentialsRandomSalt(t *testing.T) {
	a, err := auth.NewCredentials("pencil", 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.NewCredentials("pencil", 1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.SHA256.Salt, b.SHA256.Salt) || bytes.Equal(a.SHA256.StoredKey, b.SHA256.StoredKey) {
		t.Fatal("two credentials for the same password share salt or keys")
	}
}

// TestPasswordPreparation checks the OpaqueString profile: non-ASCII spaces
// map to ASCII space and strings are NFC-normalized.
func TestPasswordPreparation(t *testing.T) {
	tests := []struct {
		name, set, try string
		ok             bool
	}{
		{name: "no-break space", set: "a\u00a0b", try: "a b", ok: true},
		{name: "ideographic space", set: "a b", try: "a\u3000b", ok: true},
		{name: "NFC", set: "caf\u00e9", try: "cafe\u0301", ok: true},
		{name: "case matters", set: "Pencil", try: "pencil", ok: false},
		{name: "width matters", set: "ｐencil", try: "pencil", ok: false},
		{name: "empty try", set: "pencil", try: "", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.NewCredentials(tc.set, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.SHA256.VerifyPassword(sha256.New, tc.try); got != tc.ok {
				t.Fatalf("VerifyPassword(%q) for %q = %v, want %v", tc.try, tc.set, got, tc.ok)
			}
		})
	}
}

func TestCredentialsValid(t *testing.T) {
	good, err := auth.NewCredentials("pencil", 1)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(c *auth.Credentials)) auth.Credentials {
		c := good
		f(&c)
		return c
	}
	tests := []struct {
		name string
		c    auth.Credentials
		want bool
	}{
		{name: "both", c: good, want: true},
		{name: "sha1 only", c: auth.Credentials{SHA1: good.SHA1}, want: true},
		{name: "sha256 only", c: auth.Credentials{SHA256: good.SHA256}, want: true},
		{name: "zero", c: auth.Credentials{}, want: false},
		{name: "swapped", c: auth.Credentials{SHA1: good.SHA256, SHA256: good.SHA1}, want: false},
		{name: "no salt", c: mod(func(c *auth.Credentials) { c.SHA256.Salt = nil }), want: false},
		{name: "zero iterations", c: mod(func(c *auth.Credentials) { c.SHA1.Iter = 0 }), want: false},
		{name: "too many iterations", c: mod(func(c *auth.Credentials) { c.SHA1.Iter = auth.MaxIterations + 1 }), want: false},
		{name: "short stored key", c: mod(func(c *auth.Credentials) { c.SHA256.StoredKey = c.SHA256.StoredKey[:20] }), want: false},
		{name: "no server key", c: mod(func(c *auth.Credentials) { c.SHA1.ServerKey = nil }), want: false},
		{name: "sha1 partial, sha256 fine", c: mod(func(c *auth.Credentials) { c.SHA1 = auth.Keys{Iter: 4096} }), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Valid(); got != tc.want {
				t.Fatalf("Valid() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyPasswordInvalidKeys(t *testing.T) {
	good, err := auth.NewCredentials("pencil", 1)
	if err != nil {
		t.Fatal(err)
	}
	bad := good.SHA256
	bad.Iter = 0
	if bad.VerifyPassword(sha256.New, "pencil") {
		t.Error("accepted keys with zero iterations")
	}
	if (auth.Keys{}).VerifyPassword(sha256.New, "pencil") {
		t.Error("accepted zero keys")
	}
	if good.SHA256.VerifyPassword(nil, "pencil") {
		t.Error("accepted a nil hash")
	}
}
