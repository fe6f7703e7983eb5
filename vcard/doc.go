// Package vcard implements XEP-0054: vcard-temp (vcard-temp), XEP version
// 1.3.0: users store their vCard on the server and anyone may read it.
//
// Register adds:
//   - a public handler (router.Mux.HandlePublicIQ) for IQs with
//     <vCard xmlns='vcard-temp'/> addressed to an account's bare JID, or
//     without 'to' (the sender's own account): get returns the stored
//     vCard, to anyone (a vCard is published), set (own account only, else
//     forbidden) replaces it;
//   - the disco#info feature vcard-temp, on the server (where clients look
//     for it) and on accounts.
//
// A missing vCard: XEP-0054 §3.1 allows either an error (which SHOULD be
// item-not-found) or an empty vCard. A user asking for their own gets an
// empty <vCard xmlns='vcard-temp'/>, as Prosody and ejabberd answer, so a
// client can start editing one; asking for another user's gets
// item-not-found. Being public, the handler is also called for local JIDs
// without an account: the same store lookup finds nothing and the same
// item-not-found answers, so neither the answer nor its timing reveals
// which accounts exist (see package router).
//
// A vCard larger than Config.MaxSize once serialized is refused with
// not-acceptable. vCards are stored serialized with their own namespace
// declaration (<vCard xmlns='vcard-temp'>…), as xml.Parse(data, "") reads
// them back. XEP-0153 avatar hashes in presence are the clients' business.
package vcard
