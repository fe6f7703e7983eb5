package config

import (
	_ "embed"
	"errors"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Config is the whole server configuration. The toml tags are a stable
// contract: operators' files and DORMOUSE_* environment variables use them.
type Config struct {
	// Domain is the main XMPP domain served. Default "localhost".
	Domain string `toml:"domain"`
	// Hosts are extra virtual hosts served by the same process.
	Hosts []string `toml:"hosts"`
	// DataDir holds the SQLite database and the generated self-signed
	// certificate. Relative paths are relative to the working directory.
	// Default "dormouse-data".
	DataDir string `toml:"data_dir"`

	Log              Log              `toml:"log"`
	Storage          Storage          `toml:"storage"`
	C2S              C2S              `toml:"c2s"`
	TLS              TLS              `toml:"tls"`
	Components       Components       `toml:"components"`
	S2S              S2S              `toml:"s2s"`
	StreamManagement StreamManagement `toml:"stream_management"`
	Admin            Admin            `toml:"admin"`
	Auth             Auth             `toml:"auth"`
	Offline          Offline          `toml:"offline"`
	Roster           Roster           `toml:"roster"`
	Register         Register         `toml:"register"`
	MAM              MAM              `toml:"mam"`
	Push             Push             `toml:"push"`
	Privacy          Privacy          `toml:"privacy"`
	HTTP             HTTP             `toml:"http"`
	Upload           Upload           `toml:"upload"`
	MUC              MUC              `toml:"muc"`
	Cluster          Cluster          `toml:"cluster"`
}

// Log configures the server's structured log.
type Log struct {
	// Level is one of "debug", "info", "warn", "error". Default "info".
	Level string `toml:"level"`
	// Format is "text" or "json". Default "text".
	Format string `toml:"format"`
}

// SlogLevel returns Level as a slog.Level (slog.LevelInfo if Level is not
// one of the valid names; Validate rejects those).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Storage selects the database.
type Storage struct {
	// URL is "sqlite:PATH" or "postgres://user@host:5432/db". Empty means
	// "sqlite:<data_dir>/dormouse.db"; use Config.StorageURL to read it.
	URL string `toml:"url"`
}

// C2S configures client-to-server streams.
type C2S struct {
	// Listen is the STARTTLS listener address. Default ":5222"; "" disables.
	Listen string `toml:"listen"`
	// TLSListen is the direct TLS (XEP-0368) listener. Default ":5223"; ""
	// disables. At least one of Listen and TLSListen must be set.
	TLSListen string `toml:"tls_listen"`
	// MaxStanzaSize is the largest stanza accepted, in bytes. Default
	// 262144; at least 10000 (RFC 6120 §13.12).
	MaxStanzaSize int `toml:"max_stanza_size"`
	// RequireTLS requires STARTTLS before authentication on Listen. Default
	// true.
	RequireTLS bool `toml:"require_tls"`
	// MaxConnectionsPerIP limits concurrent client connections from one IP
	// address. Default 50; 0 means no limit.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// AuthTimeout closes streams that have not authenticated this long after
	// connecting. Default 60s.
	AuthTimeout Duration `toml:"auth_timeout"`
	// IdleTimeout: after this long without reading anything (not even a
	// whitespace keepalive) from a bound stream the server sends a XEP-0199
	// ping; a stream that then stays silent for another minute is closed.
	// Default 10m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ParkAfter: an authenticated connection that sends nothing for this
	// long gives up its reader goroutine and read buffer until it is
	// readable again (memory per idle session against a goroutine start
	// when it speaks). Default 100ms.
	ParkAfter Duration `toml:"park_after"`
	// StanzaRate is the sustained number of stanzas per second one session
	// may send. Default 100.
	StanzaRate int `toml:"stanza_rate"`
	// StanzaBurst is the number of stanzas a session may send at once above
	// StanzaRate. Default 200.
	StanzaBurst int `toml:"stanza_burst"`
	// MaxQueue is the number of outbound stanzas queued for one session.
	// Beyond it, stanzas for the session are treated as undeliverable
	// (stored offline, or bounced with an error); a session whose writes
	// stall for 30 s is closed. Default 1000.
	MaxQueue int `toml:"max_queue"`
}

// TLS configures the server certificate.
type TLS struct {
	// Cert and Key are PEM file paths; both set or both empty. Empty means
	// a self-signed certificate generated in <data_dir>/tls.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Components configures external components (XEP-0114).
type Components struct {
	// Listen is the component listener address. Default "127.0.0.1:5347";
	// "" disables.
	Listen string `toml:"listen"`
	// Secrets maps a component's domain to its shared secret.
	Secrets map[string]string `toml:"secrets"`
}

// S2S configures federation with other servers (RFC 6120 server-to-server
// streams).
type S2S struct {
	// Enabled turns federation on. Default true.
	Enabled bool `toml:"enabled"`
	// Listen is the STARTTLS listener address for incoming server streams.
	// Default ":5269"; "" accepts none (outgoing streams still work, but
	// peers using dialback cannot verify this server's keys).
	Listen string `toml:"listen"`
	// TLSListen is the direct TLS (XEP-0368) listener for server streams,
	// announced with _xmpps-server._tcp SRV records. Default "" (off, as
	// in Prosody and ejabberd); ":5270" is customary.
	TLSListen string `toml:"tls_listen"`
	// CAFile is a PEM file of the CA certificates that validate peers'
	// certificates. Default "": the system roots.
	CAFile string `toml:"ca_file"`
	// Hosts maps a domain to the host:port of its STARTTLS server
	// endpoint, replacing DNS for that domain (private networks, tests).
	Hosts map[string]string `toml:"hosts"`
	// InsecureDomains may authenticate with dialback over TLS although
	// their certificate does not validate. Default none.
	InsecureDomains []string `toml:"insecure_domains"`
	// Allow, when not empty, lists the only domains federated with; Deny
	// lists domains never federated with.
	Allow []string `toml:"allow"`
	Deny  []string `toml:"deny"`
	// IdleTimeout closes an outgoing stream that carried nothing this
	// long, and an incoming one that carried no element (whitespace
	// keepalives do not count). Default 10m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ConnectTimeout bounds setting up a stream (DNS, TCP, TLS,
	// authentication). Default 30s.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// MaxQueue is the number of stanzas waiting for one remote domain
	// while its stream is set up; beyond it they are bounced. Default 1000.
	MaxQueue int `toml:"max_queue"`
	// MaxStanzaSize is the largest stanza accepted from a peer, in bytes.
	// Default 262144; at least 10000.
	MaxStanzaSize int `toml:"max_stanza_size"`
	// MaxConnectionsPerIP limits incoming server connections from one IP
	// address. Default 20.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// StanzaRate is the sustained number of stanzas per second one
	// incoming server stream may send (a server carries many users).
	// Default 1000.
	StanzaRate int `toml:"stanza_rate"`
	// StanzaBurst is the number of stanzas an incoming server stream may
	// send at once above StanzaRate. Default 2000.
	StanzaBurst int `toml:"stanza_burst"`
}

// StreamManagement configures XEP-0198.
type StreamManagement struct {
	// ResumeTimeout is how long a disconnected session stays resumable when
	// the client asks for no particular time. Default 10m.
	ResumeTimeout Duration `toml:"resume_timeout"`
	// MaxResumeTimeout caps the resumption time a client may ask for.
	// Default 1h; at least ResumeTimeout.
	MaxResumeTimeout Duration `toml:"max_resume_timeout"`
	// MaxQueue is the number of unacknowledged stanzas kept for resumption.
	// Default 500.
	MaxQueue int `toml:"max_queue"`
}

// HTTP configures the public HTTPS listener: XMPP over WebSocket (RFC
// 7395), HTTP file upload (XEP-0363) and host-meta discovery (XEP-0156).
type HTTP struct {
	// Listen is its address. Default ":5443"; "" disables (and with it
	// WebSocket and upload).
	Listen string `toml:"listen"`
	// PublicURL is the base URL clients use ("https://xmpp.example.org")
	// when a reverse proxy is in front. Empty: https://DOMAIN:PORT with the
	// listener's port.
	PublicURL string `toml:"public_url"`
	// BehindProxy serves plain HTTP for a reverse proxy that terminates TLS;
	// X-Forwarded-For and X-Forwarded-Proto are believed from
	// TrustedProxies only. Default false.
	BehindProxy bool `toml:"behind_proxy"`
	// TrustedProxies are the proxy addresses (CIDR). Default loopback.
	TrustedProxies []string `toml:"trusted_proxies"`
	// AllowedOrigins are the browser origins ("https://chat.example.org")
	// allowed to open WebSockets besides the listener's own; "*" allows
	// all.
	AllowedOrigins []string `toml:"allowed_origins"`
}

// Upload configures HTTP file upload (XEP-0363), served on the HTTP
// listener.
type Upload struct {
	// Enabled turns the service on. Default true (needs [http] listen).
	Enabled bool `toml:"enabled"`
	// Domain is the service's address. Default "upload.<domain>".
	Domain string `toml:"domain"`
	// Dir stores the files. Default "<data_dir>/upload".
	Dir string `toml:"dir"`
	// MaxFileSize is the largest file, in bytes. Default 104857600 (100 MiB).
	MaxFileSize int `toml:"max_file_size"`
	// Quota is the total size of one account's stored files, in bytes.
	// Default 1073741824 (1 GiB); 0: no quota.
	Quota int `toml:"quota"`
	// ExpireAfter deletes files this old. Default 720h (30 days); 0 keeps
	// them.
	ExpireAfter Duration `toml:"expire_after"`
}

// Admin configures the admin HTTP listener (metrics, health, admin API).
type Admin struct {
	// Listen is its address. Default "127.0.0.1:5280"; "" disables.
	Listen string `toml:"listen"`
}

// Auth configures login throttling.
type Auth struct {
	// MaxFailuresPerIP is the number of recent failed logins a client
	// address (or one account from one network) may have before each further
	// attempt is delayed, 1 s doubling up to 30 s. Default 10; 0 disables
	// throttling.
	MaxFailuresPerIP int `toml:"max_failures_per_ip"`
	// FailureWindow is the half-life of a failure: after it, a failure
	// counts half. Default 5m.
	FailureWindow Duration `toml:"failure_window"`
}

// Offline configures offline message storage.
type Offline struct {
	// MaxMessages is the number of offline messages kept per user. Default
	// 1000.
	MaxMessages int `toml:"max_messages"`
}

// Roster configures rosters (RFC 6121).
type Roster struct {
	// MaxItems is the largest roster a user may have. Default 1000.
	MaxItems int `toml:"max_items"`
	// Versioning enables roster versioning (RFC 6121 §2.6). Default true.
	Versioning bool `toml:"versioning"`
}

// Register configures in-band registration (XEP-0077).
type Register struct {
	// Enabled lets anyone create an account over XMPP. Default false.
	Enabled bool `toml:"enabled"`
	// AllowPasswordChange lets authenticated users change their password
	// in-band. Default true.
	AllowPasswordChange bool `toml:"allow_password_change"`
}

// MAM configures the message archive (XEP-0313).
type MAM struct {
	// Default is the archiving default for users who set no preferences:
	// "always", "roster" (only contacts in the roster) or "never". Default
	// "always".
	Default string `toml:"default"`
	// MaxPage is the largest page a query returns (clients asking for
	// more get this many). Default 50.
	MaxPage int `toml:"max_page"`
	// MaxConcurrentQueries bounds the queries one user runs at once, so a
	// big catch-up cannot starve other sessions. Default 2.
	MaxConcurrentQueries int `toml:"max_concurrent_queries"`
	// ExpireAfter deletes archived messages older than this. Default
	// "365d"; "0" keeps them forever.
	ExpireAfter Duration `toml:"expire_after"`
	// PurgeSchedule is when expired messages are deleted: a cron
	// expression with six fields, seconds first. Default "0 30 3 * * *"
	// (03:30:00 every day, server local time).
	PurgeSchedule string `toml:"purge_schedule"`
	// MaxBatch is the most messages written to the archive in one
	// transaction (group commit). Default 0: the backend's size (SQLite
	// 512, PostgreSQL 1,024); 1 writes every message in its own
	// transaction.
	MaxBatch int `toml:"max_batch"`
	// BatchLinger: under concurrent load, how long a group commit waits
	// for more messages (bigger batches cost less per message; each
	// archived message may wait this much longer). Default 2ms; "0" never
	// waits.
	BatchLinger Duration `toml:"batch_linger"`
}

// Push configures push notifications (XEP-0357): the server side that wakes
// a user's devices through their app servers, and the built-in app server
// that relays to Firebase Cloud Messaging and Apple Push Notification
// service.
type Push struct {
	// Enabled offers XEP-0357 to clients. Default true.
	Enabled bool `toml:"enabled"`
	// MaxDevices is the number of push registrations one account may have;
	// enabling one more replaces the oldest. Default 5.
	MaxDevices int `toml:"max_devices"`
	// Coalesce is the coalescing window: the first notification of a burst
	// is published at once, then at most one more per device per window.
	// Default 1s.
	Coalesce Duration `toml:"coalesce"`
	// CSIInactive also pushes for important stanzas held for a session
	// whose client is inactive (XEP-0352). Default false.
	CSIInactive bool `toml:"csi_inactive"`
	// IncludeSender and IncludeBody put the sender's JID and the message
	// text into the published summary. Default false (privacy: the app
	// server, and through it Google or Apple, learn neither).
	IncludeSender bool `toml:"include_sender"`
	IncludeBody   bool `toml:"include_body"`
	// MaxErrors disables a registration after this many consecutive
	// temporary errors of its app server. Default 16.
	MaxErrors int `toml:"max_errors"`
	// PublishTimeout is how long the server waits for the app server to
	// answer a publish. Default 30s.
	PublishTimeout Duration `toml:"publish_timeout"`
	// MaxHibernation is how long a session with push enabled stays
	// resumable after its connection is lost (XEP-0198), announced to the
	// client in <enabled max>. Default 72h.
	MaxHibernation Duration `toml:"max_hibernation"`

	// AppServer runs the built-in app server (XEP-0357 app server relaying
	// to FCM and APNs) as a service inside this server. Default true.
	AppServer bool `toml:"appserver"`
	// AppServerDomain is its domain. Empty (the default): "push.<domain>";
	// use Config.AppServerDomain to read it.
	AppServerDomain string `toml:"appserver_domain"`
	// FCMEndpoint and APNsEndpoint override the providers' endpoints (for
	// proxies and tests). Empty: the real ones.
	FCMEndpoint  string `toml:"fcm_endpoint"`
	APNsEndpoint string `toml:"apns_endpoint"`
	// DeviceRate is the shortest interval between two notifications the app
	// server sends to one device; more within it are coalesced. Default 5s.
	DeviceRate Duration `toml:"device_rate"`
	// ForgetAfter removes app server registrations unused this long, on the
	// maintenance schedule (mam.purge_schedule). Default 90d; "0" keeps them.
	ForgetAfter Duration `toml:"forget_after"`
	// CredentialsKey is a file holding a key that encrypts the providers'
	// credentials stored in the database. Empty: stored as given.
	CredentialsKey string `toml:"credentials_key"`
	// APIToken authenticates the HTTP registration API on the admin
	// listener (POST /push/v1/register, Authorization: Bearer TOKEN). Empty:
	// the API is off.
	APIToken string `toml:"api_token"`
}

// Cluster configures several nodes serving the same domains, sharing one
// PostgreSQL database and routing between them over NATS.
type Cluster struct {
	// Enabled joins the cluster. Default false: a single node, no NATS.
	Enabled bool `toml:"enabled"`
	// Node names this node, unique in the cluster. Empty (the default):
	// the host name; use Config.ClusterNode to read it.
	Node string `toml:"node"`
	// NodeNumber (1-255) must differ between the nodes: it goes into the
	// archive ids this node gives out, so that two nodes never give out
	// the same. 0 (the default): derived from the node name (a collision
	// is logged as an error by both nodes); use Config.ClusterNodeNumber.
	NodeNumber int `toml:"node_number"`
	// NATSURL lists the NATS servers, comma-separated. Default
	// "nats://127.0.0.1:4222".
	NATSURL string `toml:"nats_url"`
	// NATSCredentials is a NATS credentials file (JWT and NKey seed); "":
	// none.
	NATSCredentials string `toml:"nats_credentials"`
	// Subject is the prefix of every NATS subject the cluster uses; nodes
	// of one cluster share it. Default "dormouse".
	Subject string `toml:"subject"`
	// Heartbeat is the interval of a node's heartbeats. Default 1s.
	Heartbeat Duration `toml:"heartbeat"`
	// Lease is how long a node without heartbeats stays in the others'
	// view: its users go unavailable after it. Default 5s; at least three
	// heartbeats.
	Lease Duration `toml:"lease"`
	// RequestTimeout bounds one batch of stanzas handed to another node
	// (an unanswered batch is sent once more) and the retries while NATS
	// is unreachable. Default 2s.
	RequestTimeout Duration `toml:"request_timeout"`
	// DrainTimeout bounds how long a node shutting down spends handing
	// its resumable sessions to the other nodes; what is not handed over
	// by then is rescued to offline storage. 0: no handover; otherwise at
	// least RequestTimeout. Default 5s.
	DrainTimeout Duration `toml:"drain_timeout"`
}

// ClusterNode returns Cluster.Node, or the host name if it is empty.
func (c Config) ClusterNode() string {
	if c.Cluster.Node != "" {
		return c.Cluster.Node
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "dormouse"
	}
	// A NATS subject token: no dots.
	return strings.ReplaceAll(h, ".", "-")
}

// ClusterNodeNumber returns Cluster.NodeNumber, or one derived from the
// node name (FNV-1a, 1-255) if it is 0.
func (c Config) ClusterNodeNumber() int {
	if n := c.Cluster.NodeNumber; n != 0 {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(c.ClusterNode()))
	return 1 + int(h.Sum32()%255)
}

// MUC configures multi-user chat (XEP-0045), a service at its own domain.
type MUC struct {
	// Enabled serves multi-user chat. Default true.
	Enabled bool `toml:"enabled"`
	// Domain is the service's domain. Empty (the default):
	// "conference.<domain>"; use Config.MUCDomain to read it.
	Domain string `toml:"domain"`
	// MaxOccupants is the largest room (and the default
	// muc#roomconfig_maxusers). Default 200.
	MaxOccupants int `toml:"max_occupants"`
	// MaxRoomsPerUser is how many rooms one account may own. Default 100.
	MaxRoomsPerUser int `toml:"max_rooms_per_user"`
	// History is how many messages a join gets when the client does not
	// say; MaxHistory bounds what a client may ask for and the in-memory
	// history of rooms without an archive. Defaults 20 and 100.
	History    int `toml:"history"`
	MaxHistory int `toml:"max_history"`
	// Archive turns the room archive (XEP-0313 at the room) on in new
	// rooms; owners change it with muc#roomconfig_enablearchiving. Default
	// true.
	Archive bool `toml:"archive"`
	// PushMembers is which groupchat messages wake members who are not
	// joined to a persistent or members-only room: "mentions" (the
	// default), "all" or "never".
	PushMembers string `toml:"push_members"`
}

// Privacy configures what strangers may learn about accounts.
type Privacy struct {
	// HideAccounts: messages and subscription requests to a missing
	// account are silently dropped instead of bounced, so a stranger cannot
	// tell a missing account from an offline one. Default false.
	HideAccounts bool `toml:"hide_accounts"`
	// MaxNewPeers: an account (all its sessions together) that sends IQs,
	// messages or subscription requests to more than this many distinct
	// local accounts it has no subscription with in an hour is slowed down
	// and logged. Default 100; 0 disables.
	MaxNewPeers int `toml:"max_new_peers"`
}

// Default returns the built-in configuration. Each call returns fresh
// slices and maps.
func Default() Config {
	return Config{
		Domain:  "localhost",
		Hosts:   []string{},
		DataDir: "dormouse-data",
		Log:     Log{Level: "info", Format: "text"},
		C2S: C2S{
			Listen:              ":5222",
			TLSListen:           ":5223",
			MaxStanzaSize:       262144,
			RequireTLS:          true,
			MaxConnectionsPerIP: 50,
			AuthTimeout:         Duration(60 * time.Second),
			IdleTimeout:         Duration(10 * time.Minute),
			ParkAfter:           Duration(100 * time.Millisecond),
			StanzaRate:          100,
			StanzaBurst:         200,
			MaxQueue:            1000,
		},
		Components: Components{
			Listen:  "127.0.0.1:5347",
			Secrets: map[string]string{},
		},
		S2S: S2S{
			Enabled:             true,
			Listen:              ":5269",
			Hosts:               map[string]string{},
			InsecureDomains:     []string{},
			Allow:               []string{},
			Deny:                []string{},
			IdleTimeout:         Duration(10 * time.Minute),
			ConnectTimeout:      Duration(30 * time.Second),
			MaxQueue:            1000,
			MaxStanzaSize:       262144,
			MaxConnectionsPerIP: 20,
			StanzaRate:          1000,
			StanzaBurst:         2000,
		},
		StreamManagement: StreamManagement{
			ResumeTimeout:    Duration(10 * time.Minute),
			MaxResumeTimeout: Duration(time.Hour),
			MaxQueue:         500,
		},
		Admin:    Admin{Listen: "127.0.0.1:5280"},
		Auth:     Auth{MaxFailuresPerIP: 10, FailureWindow: Duration(5 * time.Minute)},
		Offline:  Offline{MaxMessages: 1000},
		Roster:   Roster{MaxItems: 1000, Versioning: true},
		Register: Register{Enabled: false, AllowPasswordChange: true},
		MAM: MAM{
			Default:              "always",
			MaxPage:              50,
			MaxConcurrentQueries: 2,
			ExpireAfter:          Duration(365 * 24 * time.Hour),
			PurgeSchedule:        "0 30 3 * * *",
			MaxBatch:             0, // the backend's
			BatchLinger:          Duration(2 * time.Millisecond),
		},
		Push: Push{
			Enabled:        true,
			MaxDevices:     5,
			Coalesce:       Duration(time.Second),
			MaxErrors:      16,
			PublishTimeout: Duration(30 * time.Second),
			MaxHibernation: Duration(72 * time.Hour),
			AppServer:      true,
			DeviceRate:     Duration(5 * time.Second),
			ForgetAfter:    Duration(90 * 24 * time.Hour),
		},
		Privacy: Privacy{MaxNewPeers: 100},
		HTTP:    HTTP{Listen: ":5443", TrustedProxies: []string{}, AllowedOrigins: []string{}},
		Upload: Upload{
			Enabled:     true,
			MaxFileSize: 100 << 20,
			Quota:       1 << 30,
			ExpireAfter: Duration(30 * 24 * time.Hour),
		},
		MUC: MUC{
			Enabled:         true,
			MaxOccupants:    200,
			MaxRoomsPerUser: 100,
			History:         20,
			MaxHistory:      100,
			Archive:         true,
			PushMembers:     "mentions",
		},
		Cluster: Cluster{
			NATSURL:        "nats://127.0.0.1:4222",
			Subject:        "dormouse",
			Heartbeat:      Duration(time.Second),
			Lease:          Duration(5 * time.Second),
			RequestTimeout: Duration(2 * time.Second),
			DrainTimeout:   Duration(5 * time.Second),
		},
	}
}

// ServedHosts returns the domains this server is authoritative for: Domain
// first, then Hosts, in canonical form (RFC 7622: lower case, Unicode
// labels, no trailing dot). Call it on a validated Config; a name that does
// not parse is returned lower-cased as written.
func (c Config) ServedHosts() []string {
	out := make([]string, 0, 1+len(c.Hosts))
	out = append(out, canonicalDomain(c.Domain))
	for _, h := range c.Hosts {
		out = append(out, canonicalDomain(h))
	}
	return out
}

// StorageURL returns Storage.URL, or "sqlite:<data_dir>/dormouse.db" if it
// is empty.
func (c Config) StorageURL() string {
	if c.Storage.URL != "" {
		return c.Storage.URL
	}
	return "sqlite:" + filepath.Join(c.DataDir, "dormouse.db")
}

// UploadDir returns Upload.Dir, or "<data_dir>/upload" if it is empty.
func (c Config) UploadDir() string {
	if c.Upload.Dir != "" {
		return c.Upload.Dir
	}
	return filepath.Join(c.DataDir, "upload")
}

// UploadDomain returns Upload.Domain, or "upload.<domain>" if it is empty.
func (c Config) UploadDomain() string {
	if c.Upload.Domain != "" {
		return c.Upload.Domain
	}
	return "upload." + c.Domain
}

// AppServerDomain returns Push.AppServerDomain, or "push.<domain>" if it is
// empty.
func (c Config) AppServerDomain() string {
	if c.Push.AppServerDomain != "" {
		return canonicalDomain(c.Push.AppServerDomain)
	}
	return "push." + canonicalDomain(c.Domain)
}

// MUCDomain returns MUC.Domain, or "conference.<domain>" if it is empty.
func (c Config) MUCDomain() string {
	if c.MUC.Domain != "" {
		return canonicalDomain(c.MUC.Domain)
	}
	return "conference." + canonicalDomain(c.Domain)
}

// canonicalDomain returns the canonical form of a domain JID, or s
// lower-cased if it is not one.
func canonicalDomain(s string) string {
	d, err := parseDomain(s)
	if err != nil {
		return strings.ToLower(s)
	}
	return d
}

//go:embed dormouse.example.toml
var example []byte

// Example returns the commented example configuration file: every key with
// its default value. Load of this file yields Default().
func Example() []byte {
	return append([]byte(nil), example...)
}

// parseDomain parses s as a domain JID (no localpart, no resourcepart) and
// returns its canonical domainpart.
func parseDomain(s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", err
	}
	if j.Localpart() != "" || j.Resourcepart() != "" {
		return "", errors.New("must be a domain, without localpart (user@) or resourcepart (/resource)")
	}
	return j.Domainpart(), nil
}
