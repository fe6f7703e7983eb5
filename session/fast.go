package session

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/xml"
)

// fastNonceSize is the random part of a stored token (auth.DeriveToken).
const fastNonceSize = 16

// fastLogin runs a FAST (XEP-0484) login: an HT-SHA-256-NONE initial
// response checked against the account's tokens for the client's
// user-agent id, with one HMAC per token and no PBKDF2. A count on
// <fast/> must be greater than any count used before with the token
// (replay protection; XEP-0484 requires it only for TLS 0-RTT, which is
// not offered, so a login without one is accepted). It goes through the login throttle and counts like a
// password login. ok reports success; when !ok the failure was sent and
// err says whether the stream goes on.
func (c *Conn) fastLogin(req *authRequest) (final []byte, used *auth.FastToken, ok bool, err error) {
	if !c.fastOffered() || !slices.Contains(auth.TokenMechanisms(c.channelBindings()), req.mech) {
		return nil, nil, false, c.saslFailure(NSSASL2, auth.ConditionInvalidMechanism, "")
	}
	cbType, _ := auth.TokenBinding(req.mech)
	cbData := c.channelBindings()[cbType] // nil for -NONE
	if req.uaID == "" || !req.fast {
		return nil, nil, false, c.saslFailure(NSSASL2, auth.ConditionMalformedRequest, "a FAST login needs <user-agent id/> and <fast/>")
	}
	if len(req.initial) == 0 {
		return nil, nil, false, c.saslFailure(NSSASL2, auth.ConditionMalformedRequest, "HT needs an initial response")
	}
	user, proof, perr := auth.ParseHT(req.initial, c.host)
	if perr != nil {
		return nil, nil, false, c.authFailed(NSSASL2, user, perr)
	}
	if err := c.throttleWait(c.ctx, user); err != nil {
		return nil, nil, false, c.authFailed(NSSASL2, user, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Err: err})
	}
	account := user + "@" + c.host
	start := time.Now()
	cands, err := c.srv.Tokens.Tokens(c.rctx, account, req.uaID)
	c.srv.metrics.StorageDone("fast_tokens", time.Since(start), err)
	if err != nil {
		return nil, nil, false, c.authFailed(NSSASL2, user, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Err: err})
	}
	i, token := auth.VerifyHT(c.srv.Config.AuthSecret, cands, req.mech, proof, cbData)
	if i < 0 {
		return nil, nil, false, c.authFailed(NSSASL2, user, &auth.Failure{Condition: auth.ConditionNotAuthorized})
	}
	t := cands[i]
	if !c.srv.clock.Now().Before(t.Expiry) {
		// XEP-0484 §6.2: a token the server no longer trusts fails with
		// credentials-expired, so the client falls back to its password.
		return nil, nil, false, c.authFailed(NSSASL2, user, &auth.Failure{Condition: auth.ConditionCredentialsExpired, Text: "the FAST token expired"})
	}
	fresh, err := c.srv.Tokens.UseToken(c.rctx, account, t.Hash, req.fastCount, req.hasCount)
	if err != nil {
		return nil, nil, false, c.authFailed(NSSASL2, user, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Err: err})
	}
	if !fresh {
		c.log().Warn("FAST token replayed", "user", account, "count", req.fastCount)
		return nil, nil, false, c.authFailed(NSSASL2, user, &auth.Failure{Condition: auth.ConditionNotAuthorized, Text: "the FAST count was already used"})
	}
	c.loggedIn(user, req.mech)
	return auth.HTResponder(token, cbData), &t, true, nil
}

// fastAfterLogin applies the FAST requests of a successful login and
// returns the <token/> element to put in <success/>, if any:
//
//   - after a FAST login, the tokens of this user agent expiring before
//     the one used are deleted (XEP-0484 §4.5: a rotation is complete);
//   - <fast invalidate='true'/> deletes the token used; no new token
//     comes unless <request-token/> asks for one (XEP-0484);
//   - a new token is issued on <request-token/>, or after a FAST login
//     with a token older than FASTConfig.RotateAfter; a password login
//     with <request-token/> replaces the user agent's tokens.
func (c *Conn) fastAfterLogin(req *authRequest, used *auth.FastToken) ([]byte, error) {
	if !c.fastOffered() || req.uaID == "" {
		return nil, nil
	}
	ts := c.srv.Tokens
	account := c.user + "@" + c.host
	now := c.srv.clock.Now()
	if used != nil {
		olds, err := ts.Tokens(c.rctx, account, req.uaID)
		if err != nil {
			return nil, err
		}
		for _, o := range olds {
			if o.Expiry.Before(used.Expiry) {
				if err := ts.DeleteToken(c.rctx, account, o.Hash); err != nil {
					return nil, err
				}
			}
		}
		if req.invalidate {
			if err := ts.DeleteToken(c.rctx, account, used.Hash); err != nil {
				return nil, err
			}
			used = nil // gone: no rotation, a new token only if requested
		}
	}
	issue := req.requestToken != "" || (used != nil && now.Sub(used.Created) >= c.srv.Config.FAST.RotateAfter)
	if !issue {
		return nil, nil
	}
	mech := req.requestToken
	if mech == "" {
		mech = used.Mechanism
	}
	if !slices.Contains(auth.TokenMechanisms(c.channelBindings()), mech) {
		return nil, nil // XEP-0484: a mechanism we do not offer gets no token
	}
	// A new token replaces the unused ones issued before (§4.5), and
	// after a password login every token of the user agent.
	olds, err := ts.Tokens(c.rctx, account, req.uaID)
	if err != nil {
		return nil, err
	}
	for _, o := range olds {
		if used == nil || !slices.Equal(o.Hash, used.Hash) {
			if err := ts.DeleteToken(c.rctx, account, o.Hash); err != nil {
				return nil, err
			}
		}
	}
	nonce := make([]byte, fastNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("session: FAST nonce: %w", err)
	}
	token := auth.DeriveToken(c.srv.Config.AuthSecret, account, req.uaID, nonce)
	t := auth.FastToken{
		Account: account, UserAgent: req.uaID, Mechanism: mech,
		Nonce: nonce, Hash: auth.TokenHash(token),
		Created: now, Expiry: now.Add(c.srv.Config.FAST.Expiry),
	}
	if err := ts.PutToken(c.rctx, t); err != nil {
		return nil, err
	}
	b := []byte("<token xmlns='" + NSFAST + "' expiry='")
	b = t.Expiry.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, "' token='"...)
	b = xml.AppendEscapedAttr(b, token)
	return append(b, "'/>"...), nil
}
