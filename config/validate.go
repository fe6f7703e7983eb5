package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
)

// MinStanzaSize is the smallest c2s.max_stanza_size accepted: RFC 6120
// §13.12 requires servers to accept stanzas of at least 10000 bytes.
const MinStanzaSize = 10000

// Validate checks c and returns nil or an error joining one *Error per
// problem, each naming the offending key by its TOML path.
func (c *Config) Validate() error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	// Served domains.
	served := make(map[string]string) // canonical domain -> key that set it
	if d, err := parseDomain(c.Domain); err != nil {
		fail("domain", "invalid domain %q: %v", c.Domain, err)
	} else {
		served[d] = "domain"
	}
	for i, h := range c.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		d, err := parseDomain(h)
		if err != nil {
			fail("hosts", "invalid domain %q: %v", h, err)
			continue
		}
		if prev, ok := served[d]; ok {
			fail("hosts", "%q is served twice (also %s)", h, prev)
			continue
		}
		served[d] = key
	}

	if strings.TrimSpace(c.DataDir) == "" {
		fail("data_dir", "must not be empty")
	}

	// Log.
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		fail("log.level", "must be one of debug, info, warn, error (got %q)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		fail("log.format", "must be text or json (got %q)", c.Log.Format)
	}

	// Storage.
	if err := checkStorageURL(c.StorageURL()); err != nil {
		fail("storage.url", "%v", err)
	}

	// Cluster.
	if c.Cluster.Enabled {
		if scheme, _, _ := strings.Cut(c.StorageURL(), ":"); scheme != "postgres" && scheme != "postgresql" {
			fail("cluster.enabled", "a cluster needs PostgreSQL storage shared by every node (storage.url = \"postgres://...\"), not %s", scheme)
		}
		if n := c.ClusterNode(); strings.ContainsAny(n, ".*> \t\r\n") {
			fail("cluster.node", "%q must not contain dots, '*', '>' or spaces (it is a NATS subject token)", n)
		}
		if n := c.Cluster.NodeNumber; n < 0 || n > 255 {
			fail("cluster.node_number", "must be 1-255, or 0 to derive it from the node name (got %d)", n)
		}
		if c.Cluster.NATSURL == "" {
			fail("cluster.nats_url", "must not be empty")
		}
		if sub := c.Cluster.Subject; sub == "" || strings.ContainsAny(sub, "*> \t\r\n") || strings.Contains(sub, "..") ||
			strings.HasPrefix(sub, ".") || strings.HasSuffix(sub, ".") {
			fail("cluster.subject", "%q is not a NATS subject", c.Cluster.Subject)
		}
		if c.Cluster.Heartbeat <= 0 {
			fail("cluster.heartbeat", "must be positive")
		}
		if c.Cluster.Lease < 3*c.Cluster.Heartbeat {
			fail("cluster.lease", "must be at least three heartbeats (%v)", c.Cluster.Heartbeat*3)
		}
		if c.Cluster.RequestTimeout <= 0 {
			fail("cluster.request_timeout", "must be positive")
		}
		if c.Cluster.DrainTimeout < 0 {
			fail("cluster.drain_timeout", "must not be negative")
		}
		if d, r := c.Cluster.DrainTimeout, c.Cluster.RequestTimeout; d > 0 && d < r {
			// Each handover is one request to a peer: cut short by the
			// drain, a peer's late answer makes the session end here as
			// well as live on there (its messages twice).
			fail("cluster.drain_timeout", "must be 0s (no handover) or at least cluster.request_timeout (%v)", r)
		}
	}

	// Listeners.
	listeners := []struct {
		key, addr string
	}{
		{"c2s.listen", c.C2S.Listen},
		{"c2s.tls_listen", c.C2S.TLSListen},
		{"components.listen", c.Components.Listen},
		{"s2s.listen", c.S2S.Listen},
		{"s2s.tls_listen", c.S2S.TLSListen},
		{"admin.listen", c.Admin.Listen},
		{"http.listen", c.HTTP.Listen},
	}
	seen := make(map[string]string)
	for _, l := range listeners {
		if l.addr == "" {
			continue
		}
		port, err := checkListen(l.addr)
		if err != nil {
			fail(l.key, "%v", err)
			continue
		}
		if port == 0 {
			continue // an ephemeral port never clashes
		}
		if prev, ok := seen[l.addr]; ok {
			fail(l.key, "address %q is also used by %s", l.addr, prev)
			continue
		}
		seen[l.addr] = l.key
	}
	if c.C2S.Listen == "" && c.C2S.TLSListen == "" {
		fail("c2s.listen", "c2s.listen and c2s.tls_listen are both empty: clients could not connect")
	}

	// Limits.
	if c.C2S.MaxStanzaSize < MinStanzaSize {
		fail("c2s.max_stanza_size", "must be at least %d bytes (got %d)", MinStanzaSize, c.C2S.MaxStanzaSize)
	}
	positive := []struct {
		key string
		n   int
	}{
		{"c2s.stanza_rate", c.C2S.StanzaRate},
		{"c2s.stanza_burst", c.C2S.StanzaBurst},
		{"c2s.max_queue", c.C2S.MaxQueue},
		{"stream_management.max_queue", c.StreamManagement.MaxQueue},
		{"offline.max_messages", c.Offline.MaxMessages},
		{"mam.max_page", c.MAM.MaxPage},
		{"mam.max_concurrent_queries", c.MAM.MaxConcurrentQueries},
		{"roster.max_items", c.Roster.MaxItems},
		{"push.max_devices", c.Push.MaxDevices},
		{"push.max_errors", c.Push.MaxErrors},
		{"muc.max_occupants", c.MUC.MaxOccupants},
		{"muc.max_rooms_per_user", c.MUC.MaxRoomsPerUser},
		{"muc.max_history", c.MUC.MaxHistory},
	}
	for _, p := range positive {
		if p.n <= 0 {
			fail(p.key, "must be positive (got %d)", p.n)
		}
	}
	nonNegative := []struct {
		key string
		n   int
	}{
		{"c2s.max_connections_per_ip", c.C2S.MaxConnectionsPerIP},
		{"auth.max_failures_per_ip", c.Auth.MaxFailuresPerIP},
		{"privacy.max_new_peers", c.Privacy.MaxNewPeers},
		{"upload.quota", c.Upload.Quota},
		{"muc.history", c.MUC.History},
	}
	for _, p := range nonNegative {
		if p.n < 0 {
			fail(p.key, "must be 0 (no limit) or positive (got %d)", p.n)
		}
	}
	if c.MAM.MaxBatch < 0 {
		fail("mam.max_batch", "must be 0 (the storage backend's size) or positive (got %d)", c.MAM.MaxBatch)
	}

	// Durations: every Duration anywhere in Config must be positive.
	for _, v := range envVars() {
		f := reflect.ValueOf(c).Elem().FieldByIndex(v.index)
		switch v.key {
		case "mam.expire_after", "mam.batch_linger", "push.forget_after", "upload.expire_after", "cluster.drain_timeout":
			continue // 0 means keep forever, never wait, no handover; checked below
		}
		if d, ok := f.Interface().(Duration); ok && d <= 0 {
			fail(v.key, "must be a positive duration (got %s)", d)
		}
	}
	if c.StreamManagement.MaxResumeTimeout < c.StreamManagement.ResumeTimeout {
		fail("stream_management.max_resume_timeout", "must be at least stream_management.resume_timeout (%s; got %s)",
			c.StreamManagement.ResumeTimeout, c.StreamManagement.MaxResumeTimeout)
	}

	// MAM.
	switch c.MAM.Default {
	case "always", "roster", "never":
	default:
		fail("mam.default", "must be always, roster or never (got %q)", c.MAM.Default)
	}
	if c.MAM.ExpireAfter < 0 {
		fail("mam.expire_after", "must be 0 (keep forever) or positive (got %s)", c.MAM.ExpireAfter)
	}
	if c.MAM.BatchLinger < 0 {
		fail("mam.batch_linger", "must be 0 (never wait) or positive (got %s)", c.MAM.BatchLinger)
	}
	if _, err := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(c.MAM.PurgeSchedule); err != nil {
		fail("mam.purge_schedule", "invalid cron expression %q: want 6 fields (second minute hour day-of-month month day-of-week): %v", c.MAM.PurgeSchedule, err)
	}

	// Push.
	if c.Push.ForgetAfter < 0 {
		fail("push.forget_after", "must be 0 (keep) or positive (got %s)", c.Push.ForgetAfter)
	}
	if c.Push.AppServerDomain != "" {
		if _, err := parseDomain(c.Push.AppServerDomain); err != nil {
			fail("push.appserver_domain", "invalid domain %q: %v", c.Push.AppServerDomain, err)
		}
	}
	for _, e := range []struct{ key, u string }{{"push.fcm_endpoint", c.Push.FCMEndpoint}, {"push.apns_endpoint", c.Push.APNsEndpoint}} {
		if e.u == "" {
			continue
		}
		if u, err := url.Parse(e.u); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			fail(e.key, "must be an http(s) URL (got %q)", e.u)
		}
	}

	// HTTP and upload.
	if c.HTTP.PublicURL != "" {
		if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			fail("http.public_url", "must be an http(s) base URL such as https://xmpp.example.org (got %q)", c.HTTP.PublicURL)
		}
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			fail("http.trusted_proxies", "invalid CIDR %q: %v", p, err)
		}
	}
	if c.Upload.Enabled {
		if c.Upload.MaxFileSize <= 0 {
			fail("upload.max_file_size", "must be positive (got %d)", c.Upload.MaxFileSize)
		}
		if c.Upload.ExpireAfter < 0 {
			fail("upload.expire_after", "must be 0 (keep) or positive (got %s)", c.Upload.ExpireAfter)
		}
		if c.Upload.Domain != "" {
			if _, err := parseDomain(c.Upload.Domain); err != nil {
				fail("upload.domain", "invalid domain %q: %v", c.Upload.Domain, err)
			}
		}
	}

	// MUC.
	if c.MUC.Domain != "" {
		if _, err := parseDomain(c.MUC.Domain); err != nil {
			fail("muc.domain", "invalid domain %q: %v", c.MUC.Domain, err)
		}
	}
	switch c.MUC.PushMembers {
	case "mentions", "all", "never":
	default:
		fail("muc.push_members", "must be mentions, all or never (got %q)", c.MUC.PushMembers)
	}
	if c.MUC.History > c.MUC.MaxHistory {
		fail("muc.history", "must be at most muc.max_history (%d; got %d)", c.MUC.MaxHistory, c.MUC.History)
	}

	// TLS.
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		if c.TLS.Cert == "" {
			fail("tls.cert", "must be set when tls.key is set (or leave both empty for a self-signed certificate)")
		} else {
			fail("tls.key", "must be set when tls.cert is set (or leave both empty for a self-signed certificate)")
		}
	}

	// Components.
	domains := make([]string, 0, len(c.Components.Secrets))
	for d := range c.Components.Secrets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	components := make(map[string]string)
	for _, d := range domains {
		cd, err := parseDomain(d)
		if err != nil {
			fail("components.secrets", "invalid component domain %q: %v", d, err)
			continue
		}
		if key, ok := served[cd]; ok {
			fail("components.secrets", "component domain %q is a served host (%s)", d, key)
			continue
		}
		if prev, ok := components[cd]; ok {
			fail("components.secrets", "component domain %q is listed twice (also as %q)", d, prev)
			continue
		}
		components[cd] = d
		if c.Components.Secrets[d] == "" {
			fail("components.secrets", "secret of %q must not be empty", d)
		}
	}

	// Federation.
	if c.S2S.MaxStanzaSize < MinStanzaSize {
		fail("s2s.max_stanza_size", "must be at least %d bytes (got %d)", MinStanzaSize, c.S2S.MaxStanzaSize)
	}
	for _, x := range []struct {
		key string
		v   int
	}{{"s2s.max_queue", c.S2S.MaxQueue}, {"s2s.max_connections_per_ip", c.S2S.MaxConnectionsPerIP},
		{"s2s.stanza_rate", c.S2S.StanzaRate}, {"s2s.stanza_burst", c.S2S.StanzaBurst}} {
		if x.v <= 0 {
			fail(x.key, "must be positive, got %d", x.v)
		}
	}
	for d, hp := range c.S2S.Hosts {
		if _, err := parseDomain(d); err != nil {
			fail("s2s.hosts", "invalid domain %q: %v", d, err)
		} else if _, _, err := net.SplitHostPort(hp); err != nil {
			fail("s2s.hosts", "endpoint of %q must be host:port: %v", d, err)
		}
	}
	for _, l := range []struct {
		key string
		ds  []string
	}{{"s2s.insecure_domains", c.S2S.InsecureDomains}, {"s2s.allow", c.S2S.Allow}, {"s2s.deny", c.S2S.Deny}} {
		for _, d := range l.ds {
			if _, err := parseDomain(d); err != nil {
				fail(l.key, "invalid domain %q: %v", d, err)
			}
		}
	}

	return errors.Join(errs...)
}

// checkListen checks a listen address "host:port" and returns its port.
func checkListen(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("invalid listen address %q (use host:port, :port or [ipv6]:port): %w", addr, err)
	}
	if strings.ContainsAny(host, " /") {
		return 0, fmt.Errorf("invalid host in listen address %q", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port in listen address %q (must be 0-65535)", addr)
	}
	return int(p), nil
}

// checkStorageURL checks that u is a sqlite: or postgres: URL. Its errors
// never repeat a postgres URL, which may hold a password.
func checkStorageURL(u string) error {
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || strings.ContainsAny(scheme, "/@") {
		return errors.New("invalid URL: want sqlite:PATH or postgres://user@host:5432/db")
	}
	switch scheme {
	case "sqlite":
		if rest == "" || rest == "//" {
			return fmt.Errorf("invalid URL %q: missing database path (sqlite:PATH)", u)
		}
	case "postgres", "postgresql":
		pu, err := url.Parse(u)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // url.Error repeats the URL
			}
			return fmt.Errorf("invalid postgres URL: %w", err)
		}
		if pu.Host == "" && pu.Path == "" && pu.RawQuery == "" {
			return errors.New("invalid postgres URL: want postgres://user@host:5432/db")
		}
	default:
		return fmt.Errorf("unsupported scheme %q: want sqlite:PATH or postgres://user@host:5432/db", scheme)
	}
	return nil
}
