// Package version implements XEP-0092: Software Version (jabber:iq:version),
// XEP version 1.1, for the server itself.
//
// Register adds:
//   - a handler for IQ get <query xmlns='jabber:iq:version'/> addressed to a
//     served domain (or without a 'to'), answered with the name "Dormouse",
//     the configured version and, only if Config.ShowOS is set, the
//     operating system (XEP-0092 §5 discusses why revealing it is a risk);
//   - the disco#info feature jabber:iq:version on the server.
package version
