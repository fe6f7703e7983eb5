// Package sequence lets a sender route several messages at once while
// their effects keep the sender's order: a client session pipelining its
// messages (package session) puts a Sequencer in the routing context; the
// router calls Turn, the archive's group commit (package mam) calls
// Release. It is a package of its own because the session may not import
// the router.
package sequence
