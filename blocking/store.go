package blocking

import "context"

// Store keeps each user's block list (XEP-0191). Items are canonical JID
// strings (bare, full or domain JIDs).
type Store interface {
	// BlockList returns the blocked JIDs, sorted.
	BlockList(ctx context.Context, user string) ([]string, error)
	// Block adds JIDs (already present ones are ignored).
	Block(ctx context.Context, user string, jids []string) error
	// Unblock removes JIDs; with none given, it clears the list.
	Unblock(ctx context.Context, user string, jids []string) error
}
