// Package auth implements account credentials, the server side of SASL
// authentication for client-to-server streams (RFC 6120 §6), and a login
// throttle.
//
// # Mechanisms
//
// SASL (RFC 4422) exchanges are run by [Server], one per <auth/> attempt. The
// supported mechanisms, in the order they should be offered, are given by
// [Mechanisms]:
//
//   - SCRAM-SHA-256 (RFC 7677) and SCRAM-SHA-1 (RFC 5802), implemented here
//     from the RFCs;
//   - PLAIN (RFC 4616). The caller must offer PLAIN only on streams protected
//     by TLS, and should answer a PLAIN <auth/> on an unprotected stream with
//     <encryption-required/> ([ConditionEncryptionRequired]) without calling
//     [NewServer].
//
// The channel-binding variants SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS
// ([PlusMechanisms], RFC 5802 §6) verify the binding data the caller gives
// with [ChannelBindings]: tls-exporter (RFC 9266) and tls-server-end-point
// (RFC 5929); tls-unique is not supported. With channel-binding data, a GS2
// "y" flag (the client could bind but believes the server cannot) is refused
// with not-authorized, as a downgrade; without it "y" is accepted (RFC 5802
// §6). "p=" needs a -PLUS mechanism and a -PLUS mechanism needs "p=" (else
// malformed-request); data that does not match gives not-authorized.
// [DowngradeProtection] adds the XEP-0474 (version 0.5) "h" attribute to
// SCRAM server-first-messages.
//
// # FAST tokens
//
// [ParseHT], [VerifyHT], [HTInitiator] and [HTResponder] implement the
// server side of the HT mechanisms of draft-schmaus-kitten-sasl-ht
// (HT-SHA-256-NONE, -EXPR, -ENDP) for XEP-0484. Tokens are never stored:
// [DeriveToken] recomputes a token from the server secret, the account, the
// user-agent id and a stored nonce, and [TokenStore] keeps the nonce and the
// token's SHA-256. Checking a token costs a few HMACs, no PBKDF2.
//
// # Credentials
//
// The server never stores passwords nor SCRAM SaltedPasswords (which are
// password-equivalent for SCRAM). [Credentials] hold, for SHA-1 and SHA-256,
// only the salt, iteration count, StoredKey and ServerKey of RFC 5802 §3.
// That is enough to verify a SCRAM proof, and to verify a PLAIN password by
// recomputing the keys. This is also why this package does not use
// mellium.im/sasl's server, which needs the SaltedPassword.
//
// Passwords are prepared with the PRECIS OpaqueString profile (RFC 8265,
// which obsoletes RFC 7613 and replaces the SASLprep profile of RFC 4013),
// using golang.org/x/text/secure/precis, both when credentials are created
// ([NewCredentials]) and when a PLAIN password is checked. SCRAM clients are
// expected to prepare the password the same way before hashing it; for ASCII
// passwords every preparation is the identity.
//
// Usernames (SASL authcids) are prepared as JID localparts (PRECIS
// UsernameCaseMapped, RFC 7622) so that the names handed to a [Lookup] are
// canonical.
//
// # Failures
//
// Errors returned by [Server.Step] and [NewServer] are [*Failure] values
// carrying the RFC 6120 §6.5 condition to send in <failure/>. An unknown
// user and a wrong password produce identical failures, and the server does
// the same work in both cases (for an unknown user SCRAM answers with a fake
// but stable salt derived from a server secret, see [Secret], and the proof
// is checked against fake keys).
//
// # Throttling
//
// [Throttle] tracks failed logins per client address and per (account,
// client network) pair and tells the caller how long to wait before
// processing the next attempt; see its documentation for the rationale. The
// [BeforeVerify] option is the natural place to apply the delay.
package auth
