// Package register implements XEP-0077: In-Band Registration
// (jabber:iq:register), XEP version 2.4, for accounts on this server.
//
// Register adds:
//   - a handler for IQs in jabber:iq:register from an authenticated user,
//     without 'to' or addressed to the server or to the user's own bare
//     JID: get answers <registered/> and the username; set with <username/>
//     (the user's own) and <password/> changes the password (§3.3, only if
//     Config.AllowPasswordChange); set with <remove/> deletes the account
//     (§3.2). With neither Config.AllowPasswordChange nor Config.Enabled,
//     every request is refused with not-allowed;
//   - the disco#info feature jabber:iq:register on the server, only when
//     Config.AllowPasswordChange or Config.Enabled is set.
//
// PreAuth answers registration before authentication (§3.1), if
// Config.Enabled: package server sets it as session.Config.PreAuth and
// offers StreamFeature in session.Config.PreAuthFeatures, both only when
// enabled.
// A get returns the fields (<instructions/>, <username/>, <password/>); a
// set creates the account username@host: conflict if it exists,
// not-acceptable for an invalid username (it must be a valid JID
// localpart; it is stored in its canonical, case-mapped form) or a password
// shorter than Config.MinPasswordLength characters (default 6: short
// enough for any client, long enough to stop empty and trivial ones).
//
// Passwords are never stored: the account gets SCRAM verifiers from
// auth.NewCredentials. Error replies to a set never include the request, so
// passwords are not echoed back (§3.3 asks this of password changes).
//
// Missing pieces, documented rather than faked:
//   - Rate limiting account creation per client address (XEP-0077 §10
//     recommends it): PreAuth does not receive the client's address. The
//     session package would have to pass it (in the context or as an
//     argument of session.PreAuthHandler).
//   - After <remove/>, the user's sessions must end (§3.2: a not-authorized
//     stream error). The router has no call for that; the service closes
//     each bound resource whose target has a CloseWithError(*stream.Error)
//     method (session.Conn has one), after the result is queued. Presence
//     subscriptions of other users to the removed account are left to the
//     roster feature and the stores (DeleteAccount removes the account's own
//     data).
package register
