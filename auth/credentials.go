package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- SCRAM-SHA-1 is a required mechanism (RFC 6120 §13.8.3).
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

const (
	// DefaultIterations is the PBKDF2 iteration count NewCredentials uses when
	// given 0, the minimum recommended by RFC 7677 §4.
	DefaultIterations = 4096

	// MaxIterations is the largest iteration count NewCredentials accepts and
	// that a stored Keys may carry to be considered valid. It bounds the work
	// of a single PLAIN verification.
	MaxIterations = 10_000_000

	// SaltSize is the size in bytes of the random salts made by
	// NewCredentials.
	SaltSize = 16
)

// SCRAM key derivation labels (RFC 5802 §3).
const (
	clientKeyLabel = "Client Key"
	serverKeyLabel = "Server Key"
)

// NewCredentials derives the SCRAM-SHA-1 and SCRAM-SHA-256 verifiers of
// password, each with its own random SaltSize-byte salt and iter PBKDF2
// iterations (DefaultIterations if iter is 0).
//
// The password is prepared with the PRECIS OpaqueString profile (RFC 8265);
// NewCredentials fails if it is empty, not valid UTF-8, or the preparation
// fails. Iteration
// counts below DefaultIterations are accepted (tests use them) but should not
// be used for real accounts.
func NewCredentials(password string, iter int) (Credentials, error) {
	if iter == 0 {
		iter = DefaultIterations
	}
	if iter < 1 || iter > MaxIterations {
		return Credentials{}, fmt.Errorf("auth: iteration count %d out of range [1, %d]", iter, MaxIterations)
	}
	prepared, err := preparePassword(password)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	if c.SHA1, err = newKeys(sha1.New, prepared, iter); err != nil {
		return Credentials{}, err
	}
	if c.SHA256, err = newKeys(sha256.New, prepared, iter); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// preparePassword applies the OpaqueString profile to password.
func preparePassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("auth: empty password")
	}
	// precis would replace invalid UTF-8 with U+FFFD, making distinct
	// passwords equal.
	if !utf8.ValidString(password) {
		return "", errors.New("auth: password is not valid UTF-8")
	}
	prepared, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", fmt.Errorf("auth: preparing password: %w", err)
	}
	if prepared == "" {
		return "", errors.New("auth: empty password")
	}
	return prepared, nil
}

// newKeys derives Keys from an already prepared password with a fresh salt.
func newKeys(h func() hash.Hash, prepared string, iter int) (Keys, error) {
	salt := make([]byte, SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return Keys{}, fmt.Errorf("auth: generating salt: %w", err)
	}
	storedKey, serverKey, err := deriveKeys(h, prepared, salt, iter)
	if err != nil {
		return Keys{}, err
	}
	return Keys{Salt: salt, Iter: iter, StoredKey: storedKey, ServerKey: serverKey}, nil
}

// deriveKeys computes StoredKey and ServerKey from an already prepared
// password (RFC 5802 §3).
func deriveKeys(h func() hash.Hash, prepared string, salt []byte, iter int) (storedKey, serverKey []byte, err error) {
	size := h().Size()
	salted, err := pbkdf2.Key(h, prepared, salt, iter, size)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: deriving salted password: %w", err)
	}
	clientKey := hmacSum(h, salted, []byte(clientKeyLabel))
	storedKey = hashSum(h, clientKey)
	serverKey = hmacSum(h, salted, []byte(serverKeyLabel))
	clear(salted)
	clear(clientKey)
	return storedKey, serverKey, nil
}

// VerifyPassword reports whether password is the one k was derived from. h
// is the hash function k belongs to: sha1.New for Credentials.SHA1,
// sha256.New for Credentials.SHA256. It is used to check PLAIN logins.
//
// The password is prepared with the OpaqueString profile, as in
// NewCredentials. VerifyPassword returns false if k is not well-formed for h,
// and compares the derived keys in constant time. It costs k.Iter PBKDF2
// iterations.
func (k Keys) VerifyPassword(h func() hash.Hash, password string) bool {
	if h == nil || !k.validFor(h().Size()) {
		return false
	}
	prepared, err := preparePassword(password)
	if err != nil {
		return false
	}
	storedKey, serverKey, err := deriveKeys(h, prepared, k.Salt, k.Iter)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(storedKey, k.StoredKey)&
		subtle.ConstantTimeCompare(serverKey, k.ServerKey) == 1
}

// Valid reports whether c can be used to log in: at least one of c.SHA1 and
// c.SHA256 is set, and each set one is well-formed (non-empty salt, iteration
// count in [1, MaxIterations], StoredKey and ServerKey of the hash's size: 20
// bytes for SHA-1, 32 for SHA-256). A zero Keys counts as not set.
func (c Credentials) Valid() bool {
	sha1Set, sha256Set := !c.SHA1.isZero(), !c.SHA256.isZero()
	if !sha1Set && !sha256Set {
		return false
	}
	if sha1Set && !c.SHA1.validFor(sha1.Size) {
		return false
	}
	if sha256Set && !c.SHA256.validFor(sha256.Size) {
		return false
	}
	return true
}

// isZero reports whether k holds nothing at all.
func (k Keys) isZero() bool {
	return len(k.Salt) == 0 && k.Iter == 0 && len(k.StoredKey) == 0 && len(k.ServerKey) == 0
}

// validFor reports whether k is well-formed for a hash of the given size.
func (k Keys) validFor(size int) bool {
	return len(k.Salt) > 0 &&
		k.Iter >= 1 && k.Iter <= MaxIterations &&
		len(k.StoredKey) == size && len(k.ServerKey) == size
}

// hmacSum returns HMAC_h(key, msg).
func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// hashSum returns h(msg).
func hashSum(h func() hash.Hash, msg []byte) []byte {
	d := h()
	d.Write(msg)
	return d.Sum(nil)
}
