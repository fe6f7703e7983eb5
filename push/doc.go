// Package push implements the XMPP server side of XEP-0357: Push
// Notifications (urn:xmpp:push:0), XEP version 0.4.1, with the encrypted
// payloads of Tigase's "Encrypted push notifications"
// (tigase:push:encrypt:0, algorithm aes-128-gcm) as Siskin and Monal use
// them.
//
// Register adds:
//   - handlers for IQ sets of <enable/> and <disable/> in urn:xmpp:push:0 to
//     the user's own account (XEP-0357 §5, §6): a registration is the app
//     server's JID, a node, the opaque publish-options form the client
//     sent (echoed on every publish: the app server's secret, fpush's
//     pushModule ...) and, if asked for, an AES-128-GCM key; it belongs to
//     the resource that enabled it and is stored (Store) until disabled,
//     replaced (at most Config.MaxDevices per account, the oldest goes),
//     rejected by its app server, or the account is deleted;
//   - an OnAvailable hook that resets a device's unread counters and
//     coalescing window when its resource comes online again, and an
//     OnGone hook that forgets a session's hibernation once it is unbound;
//   - the disco#info features urn:xmpp:push:0, tigase:push:encrypt:0 and
//     tigase:push:encrypt:aes-128-gcm on the account (§4).
//
// The Service implements session.Events and offline.Events: server
// subscribes it to both. A stanza the user's phone would show (see Wake:
// Prosody mod_cloud_notify's "important" rules) wakes a device when its
// session is hibernated (StanzaQueued), when the device has no session and
// the message went to offline storage (MessageStored), or, with
// Config.CSIInactive, when its live session is CSI-inactive
// (InactiveStanza). A stanza is counted once per device: the same message
// seen again (a hibernated session that times out hands its messages to
// offline storage) is recognized by its stanza-id, or its sender and id.
//
// # Coalescing
//
// Per device, the first wake-worthy stanza publishes at once (leading
// edge); more within Config.Coalesce publish once more when the window
// ends. A call (XEP-0353 propose) always publishes at once. A device whose
// app server answers with a temporary error (wait, a timeout,
// remote-server-not-found) is retried with exponential backoff and
// disabled after Config.MaxErrors consecutive errors; item-not-found,
// not-authorized, forbidden and registration-required disable it at once.
//
// # Concurrency
//
// Event methods run on the routing goroutines and never block: they update
// the device's state under Service.mu and start publishes on tracked
// goroutines (Service.wg; Close waits for them). Timers come from the
// injected Clock.
package push
