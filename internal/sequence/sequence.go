package sequence

import "context"

// Sequencer lets a sender route several messages at once while their
// effects keep the sender's order (see With). The router's Route calls
// Turn before a message's first effect on anyone else (delivery, carbons,
// offline storage, a bounce), after the StageArchive hooks, so a message's
// archive commit overlaps the earlier messages'. A StageArchive hook that fixes the message's place in
// an order (the archive's ids) calls Release once it has (see Release), so
// the sender may start routing its next message.
type Sequencer interface {
	// Release reports that the message's order-fixing part is done: the
	// sender's next message may start routing. It may be called more
	// than once.
	Release()
	// Turn waits until every earlier message of the sender has been
	// routed. It may be called more than once.
	Turn()
}

type sequencerKey struct{}

// With returns ctx carrying seq for the routing of one message.
func With(ctx context.Context, seq Sequencer) context.Context {
	return context.WithValue(ctx, sequencerKey{}, seq)
}

// Release calls Release on ctx's Sequencer, if any. A StageArchive hook
// calls it once the message's archive id is taken and the message queued
// for its commit in that order, before waiting for the commit.
func Release(ctx context.Context) {
	if seq, ok := ctx.Value(sequencerKey{}).(Sequencer); ok {
		seq.Release()
	}
}

// Turn calls Turn on ctx's Sequencer, if any. The router calls it after
// the StageArchive hooks, before a message's first effect on anyone else.
func Turn(ctx context.Context) {
	if seq, ok := ctx.Value(sequencerKey{}).(Sequencer); ok {
		seq.Turn()
	}
}
