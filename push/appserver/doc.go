// Package appserver is Dormouse's push app server: the XEP-0357 (Push
// Notifications, version 0.4.1) app server that relays the notifications a
// user's XMPP server publishes to Firebase Cloud Messaging (HTTP v1) and
// the Apple Push Notification service, so that a phone wakes up.
//
// The same Service runs in process at push.DOMAIN (server registers it
// with Router.AddService) and standalone as an external component of any
// XMPP server (package standalone, `dormouse appserver`). It sends its
// stanzas through a Sender: Router.Route, or the component connection.
//
// # Device registration
//
// Clients register through XEP-0050 ad-hoc commands, listed in disco#items
// at node http://jabber.org/protocol/commands, in the dialects real clients
// speak:
//   - register-push-fcm / register-push-apns (Conversations, p2): fields
//     token, android-id or device-id, optional muc (or channel) and app;
//     unregister-push-fcm / unregister-push-apns with the device id;
//   - v1-register-push / v1-unregister-push (mod_push_appserver, Monal,
//     yaxim): fields type (fcm or apns), node (the device id), token, app;
//   - fpush style, without registration: a publish to node = the device
//     token, whose publish-options field pushModule names the app.
//
// A completed registration answers a form with jid (the app server), node
// and secret, which the client passes to its server's <enable/>. A device
// is identified by its account and device id (and MUC): registering again
// returns the same node and secret with the new token. Apps that register
// from their own backend use the HTTP API (HTTPHandler, POST
// /push/v1/register with the operator's token). When one app of a platform
// is configured, registrations that name none use it; otherwise the app
// field (or pushModule) must name one.
//
// # Publishing
//
// A publish (an IQ set with pubsub/publish to an issued node) is checked:
// an unknown node is item-not-found, a missing or wrong publish-options
// secret not-authorized (compared in constant time), a publisher at
// another domain than the one the device registered through forbidden.
// Its notification becomes one provider request carrying only what the
// server sent: the urn:xmpp:push:summary fields, or the
// tigase:push:encrypt:0 payload passed through opaque. A non-empty
// last-message-body or an encrypted payload makes it important (FCM
// priority high; APNs alert, priority 10, mutable-content, generic text);
// otherwise it is a background wake-up (FCM normal; APNs background,
// priority 5, content-available). An encrypted payload of type voip is a
// call. The publish is answered when the provider has answered: a dead
// token (APNs 410 Unregistered or 400 BadDeviceToken, FCM UNREGISTERED or
// INVALID_ARGUMENT) deletes the registration and answers item-not-found,
// so that the user's server disables push for the device (XEP-0357 §7).
//
// # Delivery
//
// Temporary failures (429, 5xx, transport errors, timeouts) are retried
// with exponential backoff or the provider's Retry-After, a bounded number
// of times, behind a per-app circuit breaker; a notification for a device
// that had one less than Config.DeviceRate ago is answered at once and
// coalesced into one sent at the end of the interval. Every request is
// counted by app and outcome (Metrics).
//
// # Apps and credentials
//
// Apps (an FCM service account; an APNs .p8 key with key and team ids, or
// a .p12 certificate, with the bundle id) are stored in the database,
// sealed with AES-256-GCM when push.credentials_key names a key file
// (Keyring). Credentials never reach logs (slog.LogValuer). A Service polls
// the store's apps generation every Config.ReloadEvery and rebuilds the
// clients of changed apps, so `dormouse push app add` applies without a
// restart. Forget (StartForget) removes registrations unused for
// push.forget_after.
//
// # Concurrency
//
// HandleStanza never blocks: it answers service discovery at once and
// runs commands and publishes in goroutines it tracks (at most
// Config.MaxInFlight); Close waits for them. Service.mu guards the
// per-device rate-limit state; the loaded apps are replaced as a whole
// under apps.mu; each breaker has its own lock. Lock order: none is held
// while another is taken.
package appserver
