package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"
	"unicode/utf8"
)

// The SASL HT mechanisms (draft-schmaus-kitten-sasl-ht) with SHA-256 this
// package implements for FAST (XEP-0484): without channel binding, bound
// to tls-exporter (RFC 9266) and to tls-server-end-point (RFC 5929).
// HT-SHA-256-UNIQ (tls-unique) is not implemented.
const (
	HTSHA256None Mechanism = "HT-SHA-256-NONE"
	HTSHA256Expr Mechanism = "HT-SHA-256-EXPR"
	HTSHA256Endp Mechanism = "HT-SHA-256-ENDP"
)

// TokenMechanisms returns the FAST token mechanisms usable on a
// connection with channel-binding data cb (see ChannelBindings), strongest
// first.
func TokenMechanisms(cb map[string][]byte) []Mechanism {
	var out []Mechanism
	if _, ok := cb[CBTLSExporter]; ok {
		out = append(out, HTSHA256Expr)
	}
	if _, ok := cb[CBTLSServerEndPoint]; ok {
		out = append(out, HTSHA256Endp)
	}
	return append(out, HTSHA256None)
}

// TokenBinding returns the channel-binding type an HT mechanism binds to
// ("" for -NONE), and whether the mechanism is one of these.
func TokenBinding(m Mechanism) (cbType string, ok bool) {
	switch m {
	case HTSHA256None:
		return "", true
	case HTSHA256Expr:
		return CBTLSExporter, true
	case HTSHA256Endp:
		return CBTLSServerEndPoint, true
	}
	return "", false
}

// FastToken is a stored FAST token (XEP-0484). The token itself is never
// stored: it is derived from the server secret and Nonce ([DeriveToken]),
// so a copy of the database alone does not let anyone log in; Hash
// (SHA-256 of the token) identifies it.
type FastToken struct {
	Account   string    // canonical bare JID
	UserAgent string    // the XEP-0388 user-agent id it is bound to
	Mechanism Mechanism // HT-SHA-256-NONE
	Nonce     []byte    // random; with the server secret it gives the token
	Hash      []byte    // SHA-256 of the token
	Created   time.Time
	Expiry    time.Time
	Count     uint32 // the highest XEP-0484 count used with the token; 0: none yet
}

// TokenStore keeps FAST tokens. Implementations must delete an account's
// tokens when its credentials change (SetCredentials) or it is deleted.
type TokenStore interface {
	// PutToken stores a new token.
	PutToken(ctx context.Context, t FastToken) error
	// Tokens returns the tokens of an account for a user agent, newest
	// first.
	Tokens(ctx context.Context, account, userAgent string) ([]FastToken, error)
	// UseToken records a login with the token with this hash. With
	// hasCount, count must be greater than every count stored for the
	// token, atomically; it is then stored. It reports whether the login
	// may go on (false: a replayed count, or no such token).
	UseToken(ctx context.Context, account string, hash []byte, count uint32, hasCount bool) (bool, error)
	// DeleteToken removes one token; DeleteTokens every token of the
	// account for userAgent ("" for all).
	DeleteToken(ctx context.Context, account string, hash []byte) error
	DeleteTokens(ctx context.Context, account, userAgent string) error
}

// TokenSize is the number of secret bytes of a FAST token.
const TokenSize = 32

// DeriveToken returns the FAST token for a stored nonce: base64url of
// HMAC-SHA-256(secret, account NUL userAgent NUL nonce), TokenSize bytes.
func DeriveToken(secret []byte, account, userAgent string, nonce []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dormouse fast token\x00"))
	m.Write([]byte(account))
	m.Write([]byte{0})
	m.Write([]byte(userAgent))
	m.Write([]byte{0})
	m.Write(nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:TokenSize])
}

// TokenHash is the stored identifier of a token.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ParseHT parses the initial response of an HT mechanism: authcid NUL
// initiator-hashed-token (draft-schmaus-kitten-sasl-ht §3.1). authcid is
// prepared as a JID localpart of domain.
func ParseHT(msg []byte, domain string) (authcid string, proof []byte, err error) {
	if len(msg) > MaxMessageSize {
		return "", nil, &Failure{Condition: ConditionMalformedRequest, Text: "message too large"}
	}
	i := bytes.IndexByte(msg, 0)
	if i <= 0 || !utf8.Valid(msg[:i]) {
		return "", nil, &Failure{Condition: ConditionMalformedRequest, Text: "HT: expected authcid NUL hashed token"}
	}
	proof = msg[i+1:]
	if len(proof) != sha256.Size {
		return "", nil, &Failure{Condition: ConditionMalformedRequest, Text: "HT: the hashed token has the wrong length"}
	}
	s := &Server{cfg: config{domain: domain}}
	u, ok := s.prepareUsername(string(msg[:i]))
	if !ok {
		return string(msg[:i]), nil, &Failure{Condition: ConditionNotAuthorized}
	}
	return u.Localpart(), proof, nil
}

// HTInitiator returns the initiator's hashed token HMAC-SHA-256(token,
// "Initiator" || cbData); HTResponder the server's, sent as additional data
// on success so the client knows the server had the token too.
func HTInitiator(token string, cbData []byte) []byte { return htHash(token, "Initiator", cbData) }

// HTResponder: see HTInitiator.
func HTResponder(token string, cbData []byte) []byte { return htHash(token, "Responder", cbData) }

func htHash(token, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}

// VerifyHT checks an initiator's hashed token, computed with mechanism
// mech over the channel-binding data cbData (nil for -NONE), against each
// candidate token (the account's tokens for this user agent issued for
// mech), in constant time per candidate. It returns the matching token's
// index, or -1; the caller checks its expiry. It derives each token with
// one HMAC: no PBKDF2.
func VerifyHT(secret []byte, cands []FastToken, mech Mechanism, proof, cbData []byte) (int, string) {
	found, tok := -1, ""
	for i := range cands {
		c := &cands[i]
		if c.Mechanism != mech {
			continue
		}
		t := DeriveToken(secret, c.Account, c.UserAgent, c.Nonce)
		if subtle.ConstantTimeCompare(HTInitiator(t, cbData), proof) == 1 && found < 0 {
			found, tok = i, t
		}
	}
	return found, tok
}
