package vcard

import (
	"context"
	"errors"
)

// ErrNotFound means the user has no stored vCard.
var ErrNotFound = errors.New("vcard: not found")

// Store keeps one serialized vCard-temp element per user.
type Store interface {
	VCard(ctx context.Context, user string) ([]byte, error) // ErrNotFound
	SetVCard(ctx context.Context, user string, card []byte) error
}
