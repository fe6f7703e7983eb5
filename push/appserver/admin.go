package appserver

import (
	"context"
	"fmt"
	"time"

	"dormouse.im/dormouse/push/appserver/provider"
)

// PutApp checks a's credentials (they must load into a provider client,
// built with newP; nil: NewProvider with the default endpoints), seals them
// with keys and stores the app. Running servers pick it up at their next
// poll.
func PutApp(ctx context.Context, store Store, keys *Keyring, a App, now time.Time,
	newP func(context.Context, App) (provider.Provider, error)) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if newP == nil {
		newP = func(ctx context.Context, a App) (provider.Provider, error) { return NewProvider(ctx, a, Endpoints{}) }
	}
	p, err := newP(ctx, a)
	if err != nil {
		return fmt.Errorf("appserver: app %s: %w", a.Name, err)
	}
	p.Close()
	sealed, err := keys.Seal(a.Name, a.Credentials)
	if err != nil {
		return err
	}
	return store.PutApp(ctx, StoredApp{Name: a.Name, Platform: a.Platform, Credentials: sealed, Updated: now})
}

// LoadApp reads one app with its credentials opened.
func LoadApp(ctx context.Context, store Store, keys *Keyring, name string) (App, error) {
	apps, err := store.Apps(ctx)
	if err != nil {
		return App{}, err
	}
	for _, sa := range apps {
		if sa.Name == name {
			c, err := keys.Open(sa.Name, sa.Credentials)
			if err != nil {
				return App{}, err
			}
			return App{Name: sa.Name, Platform: sa.Platform, Credentials: c}, nil
		}
	}
	return App{}, fmt.Errorf("appserver: app %q: %w", name, ErrNotFound)
}

// TestPush sends a test notification (important, generic text) to token
// through app and returns the provider's answer.
func TestPush(ctx context.Context, a App, token string, newP func(context.Context, App) (provider.Provider, error)) (provider.Result, error) {
	if newP == nil {
		newP = func(ctx context.Context, a App) (provider.Provider, error) { return NewProvider(ctx, a, Endpoints{}) }
	}
	p, err := newP(ctx, a)
	if err != nil {
		return provider.Result{}, fmt.Errorf("appserver: app %s: %w", a.Name, err)
	}
	defer p.Close()
	return p.Send(ctx, &provider.Notification{Token: token, Important: true, TTL: time.Minute,
		Data: map[string]string{"message-count": "1"}}), nil
}
