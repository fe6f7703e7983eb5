package auth

import (
	"bytes"
	"context"
	"crypto/sha1" // #nosec G505 -- fallback for accounts with only SCRAM-SHA-1 keys.
	"unicode/utf8"
)

// plain handles a PLAIN message (RFC 4616): [authzid] NUL authcid NUL passwd.
// The password is checked against the SHA-256 keys, or the SHA-1 keys if the
// account has no usable SHA-256 keys.
func (s *Server) plain(ctx context.Context, msg []byte) ([]byte, bool, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return s.fail(ConditionMalformedRequest, "PLAIN: expected authzid NUL authcid NUL password", nil)
	}
	authzid, authcid, passwd := parts[0], parts[1], parts[2]
	if len(authcid) == 0 || len(passwd) == 0 {
		return s.fail(ConditionMalformedRequest, "PLAIN: empty authcid or password", nil)
	}
	if !utf8.Valid(authzid) || !utf8.Valid(authcid) || !utf8.Valid(passwd) {
		return s.fail(ConditionMalformedRequest, "PLAIN: invalid UTF-8", nil)
	}

	user, userOK := s.prepareUsername(string(authcid))
	s.authcid = string(authcid)
	if userOK {
		s.authcid = user.Localpart()
	}
	if len(authzid) > 0 && !authzidAllowed(string(authzid), user, userOK) {
		return s.fail(ConditionInvalidAuthzid, "", nil)
	}
	keys, known, err := s.credentials(ctx, s.authcid, userOK, sha1.New)
	if err != nil {
		return s.fail(ConditionTemporaryAuthFailure, "", err)
	}
	if err := s.runBeforeVerify(ctx, s.authcid); err != nil {
		return s.fail(ConditionTemporaryAuthFailure, "", err)
	}
	// Fake keys of unknown users cost the same PBKDF2 work and always fail.
	if !keys.VerifyPassword(s.h, string(passwd)) || !known {
		return s.notAuthorized()
	}
	return s.succeed(s.authcid, nil)
}
