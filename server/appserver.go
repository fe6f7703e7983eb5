package server

import (
	"context"
	"fmt"

	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/s2s"
	"dormouse.im/dormouse/stanza"
)

// Option adjusts how New builds the server (tests).
type Option func(*options)

type options struct {
	pushEndpoints *appserver.Endpoints
	s2sResolver   s2s.Resolver // nil: the system's DNS
}

// WithPushEndpoints overrides the built-in push app server's provider
// endpoints, including the roots it trusts (tests point it at loopback
// providers).
func WithPushEndpoints(ep appserver.Endpoints) Option {
	return func(o *options) { o.pushEndpoints = &ep }
}

// startAppServer serves the built-in push app server (push.appserver) at
// Config.AppServerDomain, unless components.secrets names that domain:
// routed in process, its registration API on the
// admin listener when push.api_token is set, and its forget_after job on
// the maintenance schedule.
func (s *Server) startAppServer(ctx context.Context, o options) error {
	cfg := s.cfg
	domain := cfg.AppServerDomain()
	if _, ok := cfg.Components.Secrets[domain]; ok {
		// The operator attached an external component at this domain (a
		// standalone app server, p2, fpush): it takes the domain.
		s.log.Info("push app server not started: an external component is configured for its domain", "domain", domain)
		return nil
	}
	keys, err := appserver.LoadKeyring(cfg.Push.CredentialsKey)
	if err != nil {
		return err
	}
	ep := appserver.Endpoints{FCM: cfg.Push.FCMEndpoint, APNs: cfg.Push.APNsEndpoint}
	if o.pushEndpoints != nil {
		ep = *o.pushEndpoints
	}
	send := appserver.SenderFunc(func(ctx context.Context, st *stanza.Stanza) error {
		s.Router.Route(ctx, st)
		return nil
	})
	svc, err := appserver.New(appserver.Config{Domain: domain, DeviceRate: cfg.Push.DeviceRate.Duration(), Endpoints: ep},
		s.Stores.PushApps, keys, send, s.Metrics.PushAppServer(), s.log.With("component", "appserver"))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	s.AppServer = svc
	if err := s.Router.AddService(domain, "Push notifications", svc); err != nil {
		return fmt.Errorf("push app server at %s: %w", domain, err)
	}
	if d := cfg.Push.ForgetAfter.Duration(); d > 0 {
		stop, err := svc.StartForget(cfg.MAM.PurgeSchedule, d, s.onceInCluster("push-forget")...)
		if err != nil {
			return err
		}
		s.stopForget = stop
	}
	return nil
}

// stopAppServer stops the app server's job and goroutines.
func (s *Server) stopAppServer(ctx context.Context) error {
	if s.AppServer == nil {
		return nil
	}
	s.Router.RemoveService(s.cfg.AppServerDomain(), s.AppServer)
	if s.stopForget != nil {
		if err := s.stopForget(ctx); err != nil {
			return err
		}
	}
	return s.AppServer.Close(ctx)
}
