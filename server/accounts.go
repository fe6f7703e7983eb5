package server

import (
	"context"
	"errors"

	"dormouse.im/dormouse/auth"
	"mellium.im/xmpp/jid"
)

// accountChecker adapts the account store for the router.
type accountChecker struct{ accounts auth.Store }

func (a accountChecker) AccountExists(ctx context.Context, bare jid.JID) (bool, error) {
	_, err := a.accounts.Credentials(ctx, bare.Bare().String())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, auth.ErrNotFound):
		return false, nil
	}
	return false, err
}
