package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/s2s"
	"dormouse.im/dormouse/tlsutil"
)

// Listener names of federation, for Addr.
const (
	ListenerS2S    = "s2s"
	ListenerS2STLS = "s2s_tls"
)

// WithS2SResolver makes federation resolve domains with r instead of the
// system's DNS (tests point domains at loopback ports).
func WithS2SResolver(r s2s.Resolver) Option {
	return func(o *options) { o.s2sResolver = r }
}

// newS2S builds the federation service from [s2s] and routes remote
// domains to it. resolver may be nil (system DNS).
func (s *Server) newS2S(cfg config.Config, secret []byte, tlsCfg *tls.Config, resolver s2s.Resolver) error {
	if !cfg.S2S.Enabled {
		return nil
	}
	sc, err := s2sConfig(cfg, secret, tlsCfg)
	if err != nil {
		return err
	}
	s.S2S = s2s.New(sc, s.Router, resolver, s.log.With("component", "s2s"))
	s.Router.SetRemote(s.S2S)
	s.registerS2SMetrics()
	return nil
}

// s2sConfig translates [s2s].
func s2sConfig(cfg config.Config, secret []byte, tlsCfg *tls.Config) (s2s.Config, error) {
	var roots *x509.CertPool
	if cfg.S2S.CAFile != "" {
		pem, err := os.ReadFile(cfg.S2S.CAFile)
		if err != nil {
			return s2s.Config{}, fmt.Errorf("server: s2s.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return s2s.Config{}, fmt.Errorf("server: s2s.ca_file %s holds no PEM certificate", cfg.S2S.CAFile)
		}
	}
	c := cfg.S2S
	return s2s.Config{
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
		StanzaRate:          c.StanzaRate,
		StanzaBurst:         c.StanzaBurst,
	}, nil
}

// CheckS2S sets up a server-to-server stream from local (a served host) to
// remote with the server's certificate, secret and [s2s] settings,
// reporting each step (s2s.Service.Check); it does not need the server to
// run, except for dialback, where the peer connects back to it.
func CheckS2S(ctx context.Context, cfg config.Config, local, remote string, report func(string)) error {
	tlsCfg, _, err := tlsutil.LoadOrCreate(cfg.TLS.Cert, cfg.TLS.Key, cfg.DataDir, cfg.ServedHosts(), nil)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	secret, err := loadSecret(cfg.DataDir)
	if err != nil {
		return err
	}
	sc, err := s2sConfig(cfg, secret, tlsCfg)
	if err != nil {
		return err
	}
	r := router.New(cfg.ServedHosts(), router.NewMux(), slog.New(slog.DiscardHandler))
	return s2s.New(sc, r, nil, slog.New(slog.DiscardHandler)).Check(ctx, local, remote, report)
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

// serveS2SStatus lists the server-to-server streams, one per line
// (dormouse s2s status).
func (s *Server) serveS2SStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.S2S == nil {
		fmt.Fprintln(w, "federation is disabled ([s2s] enabled = false)")
		return
	}
	streams := s.S2S.Streams()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tLOCAL\tREMOTE\tAUTH\tTLS\tSINCE\tPEER")
	for _, st := range streams {
		auth := st.Auth
		if auth == "" {
			auth = "(setting up)"
		}
		tlsv := st.TLS
		if st.DirectTLS {
			tlsv += " direct"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Direction, st.Local, st.Remote, auth, tlsv,
			st.Since.UTC().Format(time.RFC3339), st.Addr)
	}
	tw.Flush()
	sn := s.S2S.Snapshot()
	fmt.Fprintf(w, "%d stream(s); stanzas in %d, out %d; failures:", len(streams), sn.StanzasIn, sn.StanzasOut)
	for i, n := range sn.Failures {
		fmt.Fprintf(w, " %s %d", s2s.ReasonNames[i], n)
	}
	fmt.Fprintln(w)
}
