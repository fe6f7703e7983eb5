// Package router routes stanzas between local client sessions, the server's
// own handlers and external components, following RFC 6120 §10 and the
// delivery rules of RFC 6121 §8.
//
// Features plug in through a Mux: IQ handlers keyed by payload namespace,
// presence handlers keyed by presence type, and hooks in named stages that
// every routed message passes through, in this order:
//
//	StagePolicy      blocking, limits: may bounce or drop the stanza
//	StageArchive     message archive: may stamp a stanza-id (XEP-0359)
//	StageCopy        carbons (XEP-0280)
//	(delivery)       to local resources by RFC 6121 §8.5 rules, or a component
//	StageUndelivered no resource took it: offline storage, push, else a bounce
//
// Stages are how features are ordered without importing each other.
package router
