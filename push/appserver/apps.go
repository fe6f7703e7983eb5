package appserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"

	"dormouse.im/dormouse/push/appserver/apns"
	"dormouse.im/dormouse/push/appserver/fcm"
	"dormouse.im/dormouse/push/appserver/provider"
)

// Endpoints tell the provider clients where the providers are.
type Endpoints struct {
	FCM     string         // "" for https://fcm.googleapis.com/v1
	APNs    string         // "" for the production or sandbox host
	RootCAs *x509.CertPool // nil for the system roots (tests set it)
}

// NewProvider returns the provider client of an app.
func NewProvider(ctx context.Context, a App, ep Endpoints) (provider.Provider, error) {
	c := a.Credentials
	switch a.Platform {
	case FCM:
		return fcm.New(ctx, fcm.Config{CredentialsJSON: c.ServiceAccount, Endpoint: ep.FCM})
	case APNs:
		return apns.New(apns.Config{KeyP8: c.KeyP8, KeyID: c.KeyID, TeamID: c.TeamID, CertP12: c.CertP12,
			CertPassword: c.CertPassword, Topic: c.Topic, VoIPTopic: c.VoIPTopic, Sandbox: c.Sandbox,
			Endpoint: ep.APNs, RootCAs: ep.RootCAs})
	}
	return nil, fmt.Errorf("appserver: unknown platform %q", a.Platform)
}

// liveApp is a loaded app with its provider client and circuit breaker.
type liveApp struct {
	app     App
	sealed  []byte // as stored, to notice changes
	prov    provider.Provider
	breaker *breaker
}

// appSet is the apps currently loaded. It is replaced as a whole on reload.
type appSet struct {
	gen    int64
	byName map[string]*liveApp
}

// byPlatform returns the names of the apps of p.
func (s *appSet) byPlatform(p Platform) []string {
	var out []string
	for n, a := range s.byName {
		if a.app.Platform == p {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// apps loads and reloads the apps from the store.
type apps struct {
	store Store
	keys  *Keyring
	newP  func(context.Context, App) (provider.Provider, error)
	newB  func(name string) *breaker

	mu  sync.Mutex // serializes reloads; guards cur
	cur *appSet    // never nil: empty (generation -1) before the first reload
}

// current returns the loaded apps.
func (a *apps) current() *appSet {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// reload reads the apps again if their generation changed, rebuilding the
// clients of changed apps only. It returns the errors of apps that could
// not be loaded (they are left out).
func (a *apps) reload(ctx context.Context, force bool) ([]error, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	gen, err := a.store.AppsGeneration(ctx)
	if err != nil {
		return nil, err
	}
	if a.cur != nil && a.cur.gen == gen && !force {
		return nil, nil
	}
	stored, err := a.store.Apps(ctx)
	if err != nil {
		return nil, err
	}
	next := &appSet{gen: gen, byName: make(map[string]*liveApp, len(stored))}
	var errs []error
	for _, sa := range stored {
		if old := a.cur.get(sa.Name); old != nil && bytes.Equal(old.sealed, sa.Credentials) {
			next.byName[sa.Name] = old
			continue
		}
		creds, err := a.keys.Open(sa.Name, sa.Credentials)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", sa.Name, err))
			continue
		}
		app := App{Name: sa.Name, Platform: sa.Platform, Credentials: creds}
		p, err := a.newP(ctx, app)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", sa.Name, err))
			continue
		}
		la := &liveApp{app: app, sealed: sa.Credentials, prov: p, breaker: a.newB(sa.Name)}
		if old := a.cur.get(sa.Name); old != nil {
			la.breaker = old.breaker
		}
		next.byName[sa.Name] = la
	}
	if a.cur != nil {
		for n, old := range a.cur.byName {
			if next.byName[n] != old {
				old.prov.Close()
			}
		}
	}
	a.cur = next
	return errs, nil
}

func (s *appSet) get(name string) *liveApp {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// closeAll closes every provider client.
func (a *apps) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil {
		for _, la := range a.cur.byName {
			la.prov.Close()
		}
	}
}
