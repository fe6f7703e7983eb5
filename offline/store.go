package offline

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors.
var (
	// ErrFull means the user's offline store holds its limit of messages.
	ErrFull = errors.New("offline: storage full")
)

// Message is a stored stanza.
type Message struct {
	ID     int64     // assigned by the store, increasing in insertion order
	Stamp  time.Time // when the server received it (UTC)
	Stanza []byte    // the serialized stanza
}

// Store keeps messages for users without an available resource (XEP-0160).
type Store interface {
	// Store appends a message unless the user already has limit messages
	// (limit <= 0: no limit), in which case it returns ErrFull. The check
	// and the insert are atomic.
	Store(ctx context.Context, user string, m Message, limit int) error
	// Messages returns up to max (<=0: all) stored messages, oldest first.
	Messages(ctx context.Context, user string, max int) ([]Message, error)
	// Delete removes the messages with the given ids (of that user).
	Delete(ctx context.Context, user string, ids []int64) error
	// Count returns how many messages are stored for the user.
	Count(ctx context.Context, user string) (int, error)
}
