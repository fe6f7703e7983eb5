// Package wire holds what client (package session) and component (package
// component, XEP-0114) connections share: the outbound queue, written in
// batches by a writer goroutine that runs only while there is something to
// write (RFC 6120 §4: one stream, stanzas in order), the accept loop, and
// the per-address connection count (also used by package s2s).
package wire
