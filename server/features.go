package server

import (
	"context"
	"errors"
	"time"

	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/disco"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/ping"
	"dormouse.im/dormouse/presence"
	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/register"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/vcard"
	"dormouse.im/dormouse/version"
	"mellium.im/xmpp/jid"
)

// registerFeatures builds every feature service and registers it on mux,
// then fills in the stream features the session offers. Order matters only
// where noted.
func (s *Server) registerFeatures(mux *router.Mux, scfg *session.Config) error {
	log := s.log
	var items []disco.Item
	for domain := range s.cfg.Components.Secrets {
		if j, err := jid.Parse(domain); err == nil {
			items = append(items, disco.Item{JID: j})
		}
	}
	d := disco.New(disco.Config{Items: items, Services: s.Router.Services, AccountNodes: s.accountNodes}, log)
	d.Register(mux)
	ping.New(ping.Config{}, log).Register(mux)
	version.New(version.Config{Version: s.version}, log).Register(mux)
	vcard.New(vcard.Config{}, s.Stores.VCard, log).Register(mux)

	rcfg := roster.Config{MaxItems: s.cfg.Roster.MaxItems, DisableVersioning: !s.cfg.Roster.Versioning, Accounts: s.Router}
	rs := roster.New(rcfg, s.Stores.Roster, s.Router, log)
	rs.Register(mux)
	// [privacy]: strangers learn nothing about accounts (see router).
	s.Router.SetRelations(rosterRelations{rs})
	s.Router.SetPrivacy(router.Privacy{HideAccounts: s.cfg.Privacy.HideAccounts, MaxNewPeers: s.cfg.Privacy.MaxNewPeers})
	s.presence = presence.New(presence.Config{}, rs, s.Router, log)
	s.presence.Register(mux)
	ocfg := offline.Config{MaxMessages: s.cfg.Offline.MaxMessages, Metrics: s.Metrics}
	if pc := s.cfg.Push; pc.Enabled {
		// Push notifications (XEP-0357): woken by hibernated sessions
		// (Events), offline storage and CSI-inactive sessions.
		s.Push = push.New(push.Config{
			MaxDevices:     pc.MaxDevices,
			Coalesce:       pc.Coalesce.Duration(),
			CSIInactive:    pc.CSIInactive,
			IncludeSender:  pc.IncludeSender,
			IncludeBody:    pc.IncludeBody,
			MaxErrors:      pc.MaxErrors,
			PublishTimeout: pc.PublishTimeout.Duration(),
			MaxHibernation: pc.MaxHibernation.Duration(),
			Metrics:        s.Metrics,
		}, s.Stores.Push, s.Router, log)
		s.Push.Register(mux)
		ocfg.Events = s.Push
	}
	s.offline = offline.New(ocfg, s.Stores.Offline, s.Router, log)
	s.offline.Register(mux)
	scfg.Features = append(scfg.Features, rs.StreamFeatures()...)
	s.MAM = mam.New(mam.Config{
		Default:              s.cfg.MAM.Default,
		MaxPage:              s.cfg.MAM.MaxPage,
		MaxConcurrentQueries: s.cfg.MAM.MaxConcurrentQueries,
		Roster:               rosterMembership{s.Stores.Roster},
		MaxBatch:             s.cfg.MAM.MaxBatch,
		BatchLinger:          batchLinger(s.cfg.MAM.BatchLinger.Duration()),
		Metrics:              s.Metrics,
		ClusterNode:          s.clusterNodeNumber(),
	}, s.Stores.MAM, s.Router, log)
	s.MAM.Register(mux)
	s.carbons = carbons.New(carbons.Config{Cluster: s.cfg.Cluster.Enabled}, s.Router, log)
	s.carbons.Register(mux)
	s.pep = pep.New(pep.Config{CapsVer: disco.CapsVer}, s.Stores.PEP, rs, s.Router, log)
	s.pep.Register(mux)

	// Blocking first among the StagePolicy hooks.
	s.blocking = blocking.New(blocking.Config{}, s.Stores.Blocking, s.Router, log)
	s.blocking.Register(mux)
	reg := register.New(register.Config{
		Enabled:             s.cfg.Register.Enabled,
		AllowPasswordChange: s.cfg.Register.AllowPasswordChange,
	}, accountsWithFiles{s.Stores.Accounts, s}, s.Router, log)
	reg.Register(mux)
	if s.cfg.Register.Enabled {
		scfg.PreAuth = reg.PreAuth
		scfg.PreAuthFeatures = append(scfg.PreAuthFeatures, register.StreamFeature())
	}

	// Stream features: computed after every feature registered (the caps
	// hash covers them all).
	scfg.Features = append(scfg.Features, d.CapsElement())
	return nil
}

// presence and pep depend on roster through interfaces of their own.
var (
	_ presence.Roster = (*roster.Service)(nil)
	_ pep.Roster      = (*roster.Service)(nil)
)

// accountNodes lists an account's PEP nodes in its disco#items.
func (s *Server) accountNodes(ctx context.Context, account jid.JID, rel router.Relation) ([]string, error) {
	return s.pep.VisibleNodes(ctx, account, rel)
}

// rosterRelations tells the router who may see an account's presence.
type rosterRelations struct{ roster *roster.Service }

func (r rosterRelations) Subscribed(ctx context.Context, account, requester jid.JID) (bool, error) {
	return r.roster.IsSubscriber(ctx, account, requester)
}

// rosterMembership tells the archive whether a contact is in a user's
// roster (for the "roster" archiving default).
type rosterMembership struct{ store roster.Store }

func (r rosterMembership) InRoster(ctx context.Context, user, contact jid.JID) (bool, error) {
	_, err := r.store.Item(ctx, user.Bare().String(), contact.Bare().String())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, roster.ErrNotFound):
		return false, nil
	}
	return false, err
}

// batchLinger maps mam.batch_linger to mam.Config.BatchLinger, where 0
// means the default and a negative value never waits.
func batchLinger(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
