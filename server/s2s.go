package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/s2s"
)

// Listener names of federation, for Addr.
const (
	ListenerS2S    = "s2s"
	ListenerS2STLS = "s2s_tls"
)

// newS2S builds the federation service from [s2s] and routes remote
// domains to it. resolver may be nil (system DNS).
func (s *Server) newS2S(cfg config.Config, secret []byte, tlsCfg *tls.Config, resolver s2s.Resolver) error {
	if !cfg.S2S.Enabled {
		return nil
	}
	var roots *x509.CertPool
	if cfg.S2S.CAFile != "" {
		pem, err := os.ReadFile(cfg.S2S.CAFile)
		if err != nil {
			return fmt.Errorf("server: s2s.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("server: s2s.ca_file %s holds no PEM certificate", cfg.S2S.CAFile)
		}
	}
	c := cfg.S2S
	s.S2S = s2s.New(s2s.Config{
		TLS:                 tlsCfg,
		RootCAs:             roots,
		Secret:              secret,
		Hosts:               c.Hosts,
		InsecureDomains:     c.InsecureDomains,
		Allow:               c.Allow,
		Deny:                c.Deny,
		IdleTimeout:         c.IdleTimeout.Duration(),
		ConnectTimeout:      c.ConnectTimeout.Duration(),
		MaxQueue:            c.MaxQueue,
		MaxStanzaSize:       c.MaxStanzaSize,
		MaxConnectionsPerIP: c.MaxConnectionsPerIP,
	}, s.Router, resolver, s.log.With("component", "s2s"))
	s.Router.SetRemote(s.S2S)
	s.registerS2SMetrics()
	return nil
}

func (s *Server) registerS2SMetrics() {
	f := s.S2S
	s.Metrics.CounterVecFunc("s2s_stanzas_total", "Stanzas received from and sent to other servers.", "direction",
		[]string{"in", "out"}, func() []float64 {
			sn := f.Snapshot()
			return []float64{float64(sn.StanzasIn), float64(sn.StanzasOut)}
		})
	s.Metrics.CounterVecFunc("s2s_failures_total", "Failed server-to-server connections and authentications, by reason.", "reason",
		s2s.ReasonNames[:], func() []float64 {
			sn := f.Snapshot()
			out := make([]float64, len(sn.Failures))
			for i, n := range sn.Failures {
				out[i] = float64(n)
			}
			return out
		})
	kinds := []string{"in/" + s2s.AuthExternal, "in/" + s2s.AuthDialback, "in/none", "out/" + s2s.AuthExternal, "out/" + s2s.AuthDialback, "out/none"}
	s.Metrics.GaugeVecFunc("s2s_streams", "Open server-to-server streams by direction and authentication (none: being set up).", "stream",
		kinds, func() []float64 {
			sn := f.Snapshot()
			out := make([]float64, len(kinds))
			for i, k := range kinds {
				for key, n := range sn.Streams {
					if key[0]+"/"+key[1] == k {
						out[i] = float64(n)
					}
				}
			}
			return out
		})
}
