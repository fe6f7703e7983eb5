package server

import (
	"crypto/tls"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/session"
)

// sessionConfig maps the [c2s] and [stream_management] settings to the
// client sessions' configuration. Features add their stream features later
// (registerFeatures).
func sessionConfig(cfg config.Config, secret []byte, tlsCfg *tls.Config) session.Config {
	scfg := session.Config{
		AuthSecret:    secret,
		Hosts:         cfg.ServedHosts(),
		TLS:           tlsCfg,
		RequireTLS:    cfg.C2S.RequireTLS,
		MaxStanzaSize: cfg.C2S.MaxStanzaSize,
		AuthTimeout:   cfg.C2S.AuthTimeout.Duration(),
		IdleTimeout:   cfg.C2S.IdleTimeout.Duration(),
		ParkAfter:     cfg.C2S.ParkAfter.Duration(),
		MaxQueue:      cfg.C2S.MaxQueue,
		StanzaRate:    float64(cfg.C2S.StanzaRate),
		StanzaBurst:   cfg.C2S.StanzaBurst,
		MaxConnsPerIP: cfg.C2S.MaxConnectionsPerIP,
	}
	scfg.SM = session.SMConfig{
		ResumeTimeout:    cfg.StreamManagement.ResumeTimeout.Duration(),
		MaxResumeTimeout: cfg.StreamManagement.MaxResumeTimeout.Duration(),
		MaxQueue:         cfg.StreamManagement.MaxQueue,
	}
	if scfg.MaxConnsPerIP == 0 {
		scfg.MaxConnsPerIP = -1 // config: 0 means no limit
	}
	return scfg
}

func newThrottle(cfg config.Config) *auth.Throttle {
	return auth.NewThrottle(auth.ThrottleConfig{
		Burst:    cfg.Auth.MaxFailuresPerIP,
		HalfLife: cfg.Auth.FailureWindow.Duration(),
	}, time.Now)
}
