package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// serverNonceSize is the number of random bytes of the server's part of the
// SCRAM nonce (base64-encoded on the wire).
const serverNonceSize = 24

// scramFirst handles the client-first-message (RFC 5802 §7):
//
//	gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [ "a=" saslname ] ","
//	client-first-message-bare = [reserved-mext ","] "n=" saslname "," "r=" c-nonce ["," extensions]
//
// and answers with the server-first-message "r=c-nonce s-nonce,s=salt,i=iter".
func (s *Server) scramFirst(ctx context.Context, msg []byte) ([]byte, bool, error) {
	header, flag, cbName, authzid, hasAuthzid, bare, text := parseGS2Header(msg)
	if text != "" {
		return s.fail(ConditionMalformedRequest, text, nil)
	}
	// RFC 5802 §6 and §7: the GS2 flag must fit the mechanism.
	switch {
	case s.plus() && flag != 'p':
		return s.fail(ConditionMalformedRequest, "a -PLUS mechanism needs channel binding (p=)", nil)
	case !s.plus() && flag == 'p':
		return s.fail(ConditionMalformedRequest, "channel binding needs a -PLUS mechanism", nil)
	case flag == 'y' && len(s.cfg.cb) > 0:
		// The client supports channel binding but believes the server
		// does not: someone removed the -PLUS mechanisms.
		return s.fail(ConditionNotAuthorized, "channel binding downgrade detected", nil)
	case flag == 'p':
		data, ok := s.cfg.cb[cbName]
		if !ok {
			return s.fail(ConditionMalformedRequest, "unsupported channel-binding type "+cbName, nil)
		}
		s.cbData = data
	}
	attrs := bytes.Split(bare, []byte{','})
	if len(attrs) < 2 {
		return s.fail(ConditionMalformedRequest, "client-first-message: missing attributes", nil)
	}
	if bytes.HasPrefix(attrs[0], []byte("m=")) {
		return s.fail(ConditionMalformedRequest, "client-first-message: mandatory extensions are not supported", nil)
	}
	if !bytes.HasPrefix(attrs[0], []byte("n=")) {
		return s.fail(ConditionMalformedRequest, "client-first-message: expected username", nil)
	}
	authcid, ok := parseSaslname(attrs[0][2:])
	if !ok {
		return s.fail(ConditionMalformedRequest, "client-first-message: invalid username", nil)
	}
	if !bytes.HasPrefix(attrs[1], []byte("r=")) {
		return s.fail(ConditionMalformedRequest, "client-first-message: expected nonce", nil)
	}
	clientNonce := attrs[1][2:]
	if !validNonce(clientNonce) {
		return s.fail(ConditionMalformedRequest, "client-first-message: invalid nonce", nil)
	}
	if !validExtensions(attrs[2:]) {
		return s.fail(ConditionMalformedRequest, "client-first-message: invalid extension", nil)
	}

	user, userOK := s.prepareUsername(authcid)
	s.authcid = authcid
	if userOK {
		s.authcid = user.Localpart()
	}
	if hasAuthzid && !authzidAllowed(authzid, user, userOK) {
		return s.fail(ConditionInvalidAuthzid, "", nil)
	}
	keys, known, err := s.credentials(ctx, s.authcid, userOK, nil)
	if err != nil {
		return s.fail(ConditionTemporaryAuthFailure, "", err)
	}

	serverNonce := make([]byte, serverNonceSize)
	if _, err := rand.Read(serverNonce); err != nil {
		return s.fail(ConditionTemporaryAuthFailure, "", fmt.Errorf("generating nonce: %w", err))
	}
	nonce := make([]byte, 0, len(clientNonce)+base64.StdEncoding.EncodedLen(serverNonceSize))
	nonce = append(nonce, clientNonce...)
	nonce = base64.StdEncoding.AppendEncode(nonce, serverNonce)

	serverFirst := make([]byte, 0, 64+len(nonce))
	serverFirst = append(serverFirst, "r="...)
	serverFirst = append(serverFirst, nonce...)
	serverFirst = append(serverFirst, ",s="...)
	serverFirst = base64.StdEncoding.AppendEncode(serverFirst, keys.Salt)
	serverFirst = append(serverFirst, ",i="...)
	serverFirst = strconv.AppendInt(serverFirst, int64(keys.Iter), 10)
	if s.cfg.ssdp != nil {
		serverFirst = append(serverFirst, ",h="...)
		serverFirst = base64.StdEncoding.AppendEncode(serverFirst, hashSum(s.h, s.cfg.ssdp))
	}

	s.keys, s.known = keys, known
	s.gs2Header = bytes.Clone(header)
	s.clientFirstBare = bytes.Clone(bare)
	s.serverFirst = serverFirst
	s.nonce = nonce
	s.state = stateAwaitFinal
	return bytes.Clone(serverFirst), false, nil
}

// scramFinal handles the client-final-message (RFC 5802 §7):
//
//	"c=" base64(gs2-header) "," "r=" nonce ["," extensions] "," "p=" base64(proof)
//
// and, if the proof is right, returns the server-final-message "v=...".
func (s *Server) scramFinal(ctx context.Context, msg []byte) ([]byte, bool, error) {
	attrs := bytes.Split(msg, []byte{','})
	if len(attrs) < 3 {
		return s.fail(ConditionMalformedRequest, "client-final-message: missing attributes", nil)
	}
	proofAttr := attrs[len(attrs)-1]
	if !bytes.HasPrefix(proofAttr, []byte("p=")) {
		return s.fail(ConditionMalformedRequest, "client-final-message: expected proof last", nil)
	}
	withoutProof := msg[:len(msg)-len(proofAttr)-1]

	if !bytes.HasPrefix(attrs[0], []byte("c=")) {
		return s.fail(ConditionMalformedRequest, "client-final-message: expected channel binding", nil)
	}
	cb, ok := decodeBase64(attrs[0][2:])
	if !ok {
		return s.fail(ConditionIncorrectEncoding, "client-final-message: invalid base64 in channel binding", nil)
	}
	// c= is the GS2 header followed by the channel-binding data (none
	// without p=). Constant time: the data is a secret of the TLS session.
	if len(cb) != len(s.gs2Header)+len(s.cbData) || !bytes.Equal(cb[:len(s.gs2Header)], s.gs2Header) ||
		subtle.ConstantTimeCompare(cb[len(s.gs2Header):], s.cbData) != 1 {
		if s.cbData != nil {
			return s.fail(ConditionNotAuthorized, "channel binding mismatch", nil)
		}
		return s.fail(ConditionMalformedRequest, "client-final-message: channel binding does not match the GS2 header", nil)
	}
	if !bytes.HasPrefix(attrs[1], []byte("r=")) {
		return s.fail(ConditionMalformedRequest, "client-final-message: expected nonce", nil)
	}
	if !bytes.Equal(attrs[1][2:], s.nonce) {
		return s.fail(ConditionMalformedRequest, "client-final-message: nonce mismatch", nil)
	}
	if !validExtensions(attrs[2 : len(attrs)-1]) {
		return s.fail(ConditionMalformedRequest, "client-final-message: invalid extension", nil)
	}
	proof, ok := decodeBase64(proofAttr[2:])
	if !ok {
		return s.fail(ConditionIncorrectEncoding, "client-final-message: invalid base64 in proof", nil)
	}
	if len(proof) != s.h().Size() {
		return s.fail(ConditionMalformedRequest, "client-final-message: proof has the wrong length", nil)
	}

	if err := s.runBeforeVerify(ctx, s.authcid); err != nil {
		return s.fail(ConditionTemporaryAuthFailure, "", err)
	}

	authMessage := make([]byte, 0, len(s.clientFirstBare)+len(s.serverFirst)+len(withoutProof)+2)
	authMessage = append(authMessage, s.clientFirstBare...)
	authMessage = append(authMessage, ',')
	authMessage = append(authMessage, s.serverFirst...)
	authMessage = append(authMessage, ',')
	authMessage = append(authMessage, withoutProof...)

	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof is
	// right if H(ClientKey) == StoredKey. Fake keys of unknown users go
	// through the same computation and always fail.
	clientKey := hmacSum(s.h, s.keys.StoredKey, authMessage)
	subtle.XORBytes(clientKey, clientKey, proof)
	storedKey := hashSum(s.h, clientKey)
	match := subtle.ConstantTimeCompare(storedKey, s.keys.StoredKey) == 1
	if !match || !s.known {
		return s.notAuthorized()
	}
	serverSignature := hmacSum(s.h, s.keys.ServerKey, authMessage)
	final := append([]byte("v="), base64.StdEncoding.EncodeToString(serverSignature)...)
	return s.succeed(s.authcid, final)
}

// parseGS2Header splits a client-first-message into its GS2 header (with
// the trailing comma), the channel-binding flag ('n', 'y' or 'p') and, for
// 'p', the channel-binding type name, the decoded authzid, and the
// client-first-message-bare. text is non-empty, describing the problem, if
// the header is malformed:
//
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	cb-name        = 1*(ALPHA / DIGIT / "." / "-")
func parseGS2Header(msg []byte) (header []byte, flag byte, cbName string, authzid string, hasAuthzid bool, bare []byte, text string) {
	bad := func(t string) ([]byte, byte, string, string, bool, []byte, string) {
		return nil, 0, "", "", false, nil, t
	}
	if len(msg) < 2 {
		return bad("client-first-message: invalid GS2 header")
	}
	var rest []byte
	switch {
	case msg[0] == 'p' && msg[1] == '=':
		end := bytes.IndexByte(msg, ',')
		if end < 3 || !validCBName(msg[2:end]) {
			return bad("client-first-message: invalid channel-binding type")
		}
		flag, cbName, rest = 'p', string(msg[2:end]), msg[end+1:]
	case (msg[0] == 'n' || msg[0] == 'y') && msg[1] == ',':
		flag, rest = msg[0], msg[2:]
	default:
		return bad("client-first-message: invalid GS2 header")
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return bad("client-first-message: invalid GS2 header")
	}
	if field := rest[:end]; len(field) > 0 {
		if !bytes.HasPrefix(field, []byte("a=")) {
			return bad("client-first-message: invalid GS2 header")
		}
		var ok bool
		if authzid, ok = parseSaslname(field[2:]); !ok {
			return bad("client-first-message: invalid authzid")
		}
		hasAuthzid = true
	}
	n := len(msg) - len(rest) + end + 1
	return msg[:n], flag, cbName, authzid, hasAuthzid, rest[end+1:], ""
}

// validCBName reports whether b is an RFC 5056 channel-binding type name.
func validCBName(b []byte) bool {
	for _, c := range b {
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return len(b) > 0
}

// parseSaslname decodes a SCRAM saslname (RFC 5802 §7):
//
//	saslname = 1*(value-safe-char / "=2C" / "=3D")
//
// where value-safe-char is any UTF-8 character but NUL, "=" and ",".
func parseSaslname(b []byte) (string, bool) {
	if len(b) == 0 || !utf8.Valid(b) {
		return "", false
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case 0, ',':
			return "", false
		case '=':
			if len(b)-i < 3 {
				return "", false
			}
			switch string(b[i+1 : i+3]) {
			case "2C":
				out = append(out, ',')
			case "3D":
				out = append(out, '=')
			default:
				return "", false
			}
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), true
}

// validNonce reports whether b is a valid c-nonce: one or more printable
// ASCII characters other than ",".
func validNonce(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validExtensions reports whether attrs are valid optional extensions
// (RFC 5802 §7: attr-val = ALPHA "=" value, value = 1*value-char), which are
// ignored. Attribute names defined by RFC 5802 are not extensions and are
// refused, "m" in particular (RFC 5802 §5.1).
func validExtensions(attrs [][]byte) bool {
	for _, a := range attrs {
		if len(a) < 3 || a[1] != '=' || !isAlpha(a[0]) {
			return false
		}
		switch a[0] {
		case 'a', 'c', 'e', 'i', 'm', 'n', 'p', 'r', 's', 'v':
			return false
		}
		if !utf8.Valid(a[2:]) || bytes.IndexByte(a[2:], 0) >= 0 {
			return false
		}
	}
	return true
}

// isAlpha reports whether c is an ASCII letter.
func isAlpha(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// decodeBase64 decodes standard, padded base64, refusing anything the
// encoder would not have produced (including line breaks, which
// encoding/base64 otherwise skips, and non-zero padding bits).
func decodeBase64(b []byte) ([]byte, bool) {
	for _, c := range b {
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '+' && c != '/' && c != '=' {
			return nil, false
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Strict().Decode(out, b)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}
