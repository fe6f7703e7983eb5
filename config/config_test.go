package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dormouse.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// configErrors returns the *Error values err is or joins.
func configErrors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// wantKey fails unless err holds a *Error for key whose message contains
// substr.
func wantKey(t *testing.T, err error, key, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one for %s", key)
	}
	if !IsConfigError(err) {
		t.Fatalf("error %q is not a *config.Error", err)
	}
	for _, e := range configErrors(err) {
		if e.Key == key && strings.Contains(e.Error(), substr) {
			if want := "config: " + key + ": "; !strings.HasPrefix(e.Error(), want) {
				t.Errorf("error %q does not start with %q", e, want)
			}
			return
		}
	}
	t.Fatalf("error %q: no *Error for key %q containing %q", err, key, substr)
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"domain", c.Domain, "localhost"},
		{"data_dir", c.DataDir, "dormouse-data"},
		{"storage url", c.StorageURL(), "sqlite:" + filepath.Join("dormouse-data", "dormouse.db")},
		{"served hosts", c.ServedHosts(), []string{"localhost"}},
		{"c2s.listen", c.C2S.Listen, ":5222"},
		{"c2s.tls_listen", c.C2S.TLSListen, ":5223"},
		{"c2s.max_stanza_size", c.C2S.MaxStanzaSize, 262144},
		{"c2s.require_tls", c.C2S.RequireTLS, true},
		{"c2s.auth_timeout", c.C2S.AuthTimeout.Duration(), time.Minute},
		{"components.listen", c.Components.Listen, "127.0.0.1:5347"},
		{"stream_management.resume_timeout", c.StreamManagement.ResumeTimeout.Duration(), 10 * time.Minute},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:5280"},
		{"register.enabled", c.Register.Enabled, false},
		{"roster.versioning", c.Roster.Versioning, true},
		{"log level", c.Log.SlogLevel().String(), "INFO"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// Fresh maps and slices on each call.
	c.Components.Secrets["x"] = "y"
	c.Hosts = append(c.Hosts, "x")
	if d := Default(); len(d.Components.Secrets) != 0 || len(d.Hosts) != 0 {
		t.Error("Default shares maps or slices between calls")
	}
}

func TestLoadNoFileNoEnv(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\", nil) = %+v, want Default()", c)
	}
}

func TestExampleFile(t *testing.T) {
	c, err := Load("dormouse.example.toml", nil)
	if err != nil {
		t.Fatalf("Load(example) = %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example file differs from Default():\n got %+v\nwant %+v", c, Default())
	}
	data, err := os.ReadFile("dormouse.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Example(), data) {
		t.Error("Example() differs from dormouse.example.toml")
	}
	// The example shows every key.
	var into Config
	md, err := toml.Decode(string(data), &into)
	if err != nil {
		t.Fatal(err)
	}
	shown := make(map[string]bool)
	for _, k := range md.Keys() {
		shown[k.String()] = true
	}
	for _, v := range envVars() {
		if !shown[v.key] {
			t.Errorf("example file does not show key %s", v.key)
		}
	}
}

func TestFileOverrides(t *testing.T) {
	p := writeFile(t, `
domain = "Example.ORG"
hosts = ["example.net", "chat.example.com"]
data_dir = "/var/lib/dormouse"
[log]
level = "debug"
format = "json"
[c2s]
listen = ":15222"
max_stanza_size = 65536
require_tls = false
auth_timeout = "30s"
idle_timeout = "1d12h"
[tls]
cert = "/etc/dormouse/cert.pem"
key = "/etc/dormouse/key.pem"
[components.secrets]
"push.example.org" = "s3cret"
[stream_management]
resume_timeout = "5m"
[register]
enabled = true
`)
	got, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Domain = "Example.ORG"
	want.Hosts = []string{"example.net", "chat.example.com"}
	want.DataDir = "/var/lib/dormouse"
	want.Log = Log{Level: "debug", Format: "json"}
	want.C2S.Listen = ":15222"
	want.C2S.MaxStanzaSize = 65536
	want.C2S.RequireTLS = false
	want.C2S.AuthTimeout = Duration(30 * time.Second)
	want.C2S.IdleTimeout = Duration(36 * time.Hour)
	want.TLS = TLS{Cert: "/etc/dormouse/cert.pem", Key: "/etc/dormouse/key.pem"}
	want.Components.Secrets = map[string]string{"push.example.org": "s3cret"}
	want.StreamManagement.ResumeTimeout = Duration(5 * time.Minute)
	want.Register.Enabled = true
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n %+v\nwant\n %+v", got, want)
	}
	if h := got.ServedHosts(); !slices.Equal(h, []string{"example.org", "example.net", "chat.example.com"}) {
		t.Errorf("ServedHosts = %q", h)
	}
	if u := got.StorageURL(); u != "sqlite:"+filepath.Join("/var/lib/dormouse", "dormouse.db") {
		t.Errorf("StorageURL = %q", u)
	}
	if got.Log.SlogLevel().String() != "DEBUG" {
		t.Errorf("SlogLevel = %v", got.Log.SlogLevel())
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		env  string
		want func(*Config)
	}{
		{"DORMOUSE_DOMAIN=example.org", func(c *Config) { c.Domain = "example.org" }},
		{"DORMOUSE_DATA_DIR=/data", func(c *Config) { c.DataDir = "/data" }},
		{"DORMOUSE_HOSTS=a.example, b.example ,", func(c *Config) { c.Hosts = []string{"a.example", "b.example"} }},
		{"DORMOUSE_HOSTS=", func(c *Config) { c.Hosts = []string{} }},
		{"DORMOUSE_LOG_LEVEL=warn", func(c *Config) { c.Log.Level = "warn" }},
		{"DORMOUSE_STORAGE_URL=postgres://u@db:5432/dormouse", func(c *Config) { c.Storage.URL = "postgres://u@db:5432/dormouse" }},
		{"DORMOUSE_C2S_LISTEN=:15222", func(c *Config) { c.C2S.Listen = ":15222" }},
		{"DORMOUSE_C2S_TLS_LISTEN=", func(c *Config) { c.C2S.TLSListen = "" }},
		{"DORMOUSE_C2S_MAX_STANZA_SIZE=100000", func(c *Config) { c.C2S.MaxStanzaSize = 100000 }},
		{"DORMOUSE_C2S_REQUIRE_TLS=false", func(c *Config) { c.C2S.RequireTLS = false }},
		{"DORMOUSE_C2S_AUTH_TIMEOUT=1m30s", func(c *Config) { c.C2S.AuthTimeout = Duration(90 * time.Second) }},
		{"DORMOUSE_STREAM_MANAGEMENT_RESUME_TIMEOUT=5m", func(c *Config) { c.StreamManagement.ResumeTimeout = Duration(5 * time.Minute) }},
		{"DORMOUSE_STREAM_MANAGEMENT_MAX_RESUME_TIMEOUT=2d", func(c *Config) { c.StreamManagement.MaxResumeTimeout = Duration(48 * time.Hour) }},
		{"DORMOUSE_STREAM_MANAGEMENT_MAX_QUEUE=20", func(c *Config) { c.StreamManagement.MaxQueue = 20 }},
		{"DORMOUSE_TLS_CERT=/c.pem", func(c *Config) { c.TLS.Cert = "/c.pem"; c.TLS.Key = "/k.pem" }},
		{"DORMOUSE_COMPONENTS_SECRETS=push.example.org=secret,other.example= s2 ", func(c *Config) {
			c.Components.Secrets = map[string]string{"push.example.org": "secret", "other.example": "s2"}
		}},
		{"DORMOUSE_COMPONENTS_SECRETS=", func(c *Config) { c.Components.Secrets = map[string]string{} }},
		{"DORMOUSE_REGISTER_ENABLED=1", func(c *Config) { c.Register.Enabled = true }},
		{"DORMOUSE_AUTH_MAX_FAILURES_PER_IP=0", func(c *Config) { c.Auth.MaxFailuresPerIP = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			env := []string{"PATH=/bin", "HOME=/root", "DORMOUSE_TEST_POSTGRES=x", tt.env}
			if strings.HasPrefix(tt.env, "DORMOUSE_TLS_CERT=") {
				env = append(env, "DORMOUSE_TLS_KEY=/k.pem")
			}
			got, err := Load("", env)
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := writeFile(t, "[c2s]\nlisten = \":1\"\nmax_queue = 7\n[components.secrets]\n\"a.example\" = \"x\"\n")
	got, err := Load(p, []string{
		"DORMOUSE_C2S_LISTEN=:2",
		"DORMOUSE_C2S_LISTEN=:3", // a later duplicate wins
		"DORMOUSE_COMPONENTS_SECRETS=b.example=y",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.C2S.Listen != ":3" || got.C2S.MaxQueue != 7 {
		t.Errorf("c2s = %+v", got.C2S)
	}
	if want := map[string]string{"b.example": "y"}; !reflect.DeepEqual(got.Components.Secrets, want) {
		t.Errorf("secrets = %v, want %v (env replaces the map)", got.Components.Secrets, want)
	}
}

func TestEnvVars(t *testing.T) {
	names := make(map[string]string)
	for _, v := range envVars() {
		if prev, ok := names[v.name]; ok {
			t.Errorf("%s and %s both map to %s", prev, v.key, v.name)
		}
		names[v.name] = v.key
		if strings.HasPrefix(v.name, EnvTestPrefix) {
			t.Errorf("%s: variable %s is in the reserved test namespace", v.key, v.name)
		}
		// Every setting must be settable from a string.
		c := Default()
		f := reflect.ValueOf(&c).Elem().FieldByIndex(v.index)
		sample := map[reflect.Kind]string{
			reflect.String: "x", reflect.Bool: "true", reflect.Int: "1",
			reflect.Int64: "1s", reflect.Slice: "a,b", reflect.Map: "a=b",
		}[f.Kind()]
		if err := setString(f, sample); err != nil {
			t.Errorf("%s (%s): %v", v.key, v.name, err)
		}
	}
	for _, n := range []string{"DORMOUSE_DOMAIN", "DORMOUSE_HOSTS", "DORMOUSE_DATA_DIR", "DORMOUSE_STORAGE_URL",
		"DORMOUSE_C2S_LISTEN", "DORMOUSE_C2S_TLS_LISTEN", "DORMOUSE_C2S_MAX_STANZA_SIZE", "DORMOUSE_TLS_CERT",
		"DORMOUSE_TLS_KEY", "DORMOUSE_COMPONENTS_LISTEN", "DORMOUSE_COMPONENTS_SECRETS",
		"DORMOUSE_STREAM_MANAGEMENT_RESUME_TIMEOUT", "DORMOUSE_ADMIN_LISTEN"} {
		if _, ok := names[n]; !ok {
			t.Errorf("contract variable %s is missing", n)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		file   string // "" = no file
		env    []string
		key    string
		substr string
	}{
		{"unknown file key", "[c2s]\nlisten = \":1\"\nlistne = \":2\"\n", nil, "c2s.listne", "unknown key"},
		{"unknown top-level key", "domian = \"x\"\n", nil, "domian", "unknown key"},
		{"unknown section", "[c2z]\nlisten = \":1\"\n", nil, "c2z", "unknown key"},
		{"syntax error", "domain = \n", nil, "domain", "dormouse.toml:1"},
		{"wrong type", "[c2s]\nmax_stanza_size = \"big\"\n", nil, "c2s.max_stanza_size", "incompatible types"},
		{"bad file duration", "[c2s]\nauth_timeout = \"soon\"\n", nil, "c2s.auth_timeout", `invalid duration "soon"`},
		{"duration without unit", "[c2s]\nauth_timeout = 60\n", nil, "c2s.auth_timeout", `invalid duration "60"`},
		{"unknown env var", "", []string{"DORMOUSE_C2S_LISTN=:1"}, "DORMOUSE_C2S_LISTN", "did you mean DORMOUSE_C2S_LISTEN?"},
		{"unknown env section", "", []string{"DORMOUSE_NOPE=1"}, "DORMOUSE_NOPE", "unknown environment variable"},
		{"env int", "", []string{"DORMOUSE_C2S_MAX_STANZA_SIZE=abc"}, "c2s.max_stanza_size", `from DORMOUSE_C2S_MAX_STANZA_SIZE: invalid integer "abc"`},
		{"env bool", "", []string{"DORMOUSE_C2S_REQUIRE_TLS=yes"}, "c2s.require_tls", "invalid boolean"},
		{"env duration", "", []string{"DORMOUSE_STREAM_MANAGEMENT_RESUME_TIMEOUT=10"}, "stream_management.resume_timeout", "invalid duration"},
		{"env map", "", []string{"DORMOUSE_COMPONENTS_SECRETS=push.example.org"}, "components.secrets", "invalid map item"},
		{"validation after env", "", []string{"DORMOUSE_C2S_MAX_STANZA_SIZE=5"}, "c2s.max_stanza_size", "must be at least 10000 bytes (got 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := Load(path, tt.env)
			wantKey(t, err, tt.key, tt.substr)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"), nil)
	if !IsConfigError(err) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a *Error wrapping os.ErrNotExist", err)
	}
}

func TestLoadReportsAllUnknownKeys(t *testing.T) {
	_, err := Load(writeFile(t, "a = 1\nb = 2\n"), []string{"DORMOUSE_X=1"})
	if n := len(configErrors(err)); n != 3 {
		t.Errorf("got %d errors (%v), want 3 (the file's and the environment's)", n, err)
	}
	_, err = Load(writeFile(t, "[c2z]\nlisten = 1\nmax_queue = 2\n"), nil)
	if n := len(configErrors(err)); n != 1 {
		t.Errorf("got %d errors (%v), want 1 for an unknown table", n, err)
	}
	_, err = Load("", []string{"DORMOUSE_X=1", "DORMOUSE_Y=2"})
	if n := len(configErrors(err)); n != 2 {
		t.Errorf("got %d errors (%v), want 2", n, err)
	}
}

// TestLoadReportsEveryProblem: an unknown key does not hide an invalid
// value in the same file, nor the environment's problems.
func TestLoadReportsEveryProblem(t *testing.T) {
	path := writeFile(t, "[c2s]\nlistne = \":2\"\nmax_stanza_size = 5\n[log]\nlevel = \"loud\"\n")
	_, err := Load(path, []string{"DORMOUSE_C2S_REQUIRE_TLS=yes", "DORMOUSE_NOPE=1"})
	wantKey(t, err, "c2s.listne", "unknown key")
	wantKey(t, err, "c2s.max_stanza_size", "must be at least 10000 bytes (got 5)")
	wantKey(t, err, "log.level", "must be one of")
	wantKey(t, err, "c2s.require_tls", "invalid boolean")
	wantKey(t, err, "DORMOUSE_NOPE", "unknown environment variable")
	if n := len(configErrors(err)); n != 5 {
		t.Errorf("got %d errors (%v), want 5", n, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Config)
		key    string
		substr string
	}{
		{"empty domain", func(c *Config) { c.Domain = "" }, "domain", "invalid domain"},
		{"domain with localpart", func(c *Config) { c.Domain = "alice@example.org" }, "domain", "without localpart"},
		{"domain with resource", func(c *Config) { c.Domain = "example.org/res" }, "domain", "without localpart"},
		{"bad host", func(c *Config) { c.Hosts = []string{"ex ample.org"} }, "hosts", "invalid domain"},
		{"duplicate host", func(c *Config) { c.Hosts = []string{"a.example", "A.example."} }, "hosts", "served twice"},
		{"host equals domain", func(c *Config) { c.Hosts = []string{"LOCALHOST"} }, "hosts", "served twice (also domain)"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir", "must not be empty"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", `got "verbose"`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", `got "xml"`},
		{"storage scheme", func(c *Config) { c.Storage.URL = "mysql://u:pw@h/db" }, "storage.url", `unsupported scheme "mysql"`},
		{"storage no scheme", func(c *Config) { c.Storage.URL = "/var/db.sqlite" }, "storage.url", "invalid URL"},
		{"storage sqlite path", func(c *Config) { c.Storage.URL = "sqlite:" }, "storage.url", "missing database path"},
		{"storage postgres", func(c *Config) { c.Storage.URL = "postgres://u:pw@h:bad/db" }, "storage.url", "invalid postgres URL"},
		{"c2s listen", func(c *Config) { c.C2S.Listen = "5222" }, "c2s.listen", "invalid listen address"},
		{"c2s tls listen port", func(c *Config) { c.C2S.TLSListen = ":70000" }, "c2s.tls_listen", "invalid port"},
		{"components listen", func(c *Config) { c.Components.Listen = "localhost" }, "components.listen", "invalid listen address"},
		{"admin listen", func(c *Config) { c.Admin.Listen = "127.0.0.1:http" }, "admin.listen", "invalid port"},
		{"same listen", func(c *Config) { c.Admin.Listen = ":5222" }, "admin.listen", "also used by c2s.listen"},
		{"no c2s listener", func(c *Config) { c.C2S.Listen, c.C2S.TLSListen = "", "" }, "c2s.listen", "both empty"},
		{"stanza size", func(c *Config) { c.C2S.MaxStanzaSize = 5 }, "c2s.max_stanza_size", "must be at least 10000 bytes (got 5)"},
		{"stanza rate", func(c *Config) { c.C2S.StanzaRate = 0 }, "c2s.stanza_rate", "must be positive"},
		{"stanza burst", func(c *Config) { c.C2S.StanzaBurst = -1 }, "c2s.stanza_burst", "must be positive"},
		{"c2s queue", func(c *Config) { c.C2S.MaxQueue = 0 }, "c2s.max_queue", "must be positive"},
		{"sm queue", func(c *Config) { c.StreamManagement.MaxQueue = 0 }, "stream_management.max_queue", "must be positive"},
		{"offline", func(c *Config) { c.Offline.MaxMessages = 0 }, "offline.max_messages", "must be positive"},
		{"cluster on sqlite", func(c *Config) { c.Cluster.Enabled = true }, "cluster.enabled", "needs PostgreSQL storage"},
		{"cluster node", func(c *Config) {
			c.Cluster.Enabled, c.Cluster.Node, c.Storage.URL = true, "a.b", "postgres://u@h/db"
		}, "cluster.node", "must not contain dots"},
		{"cluster lease", func(c *Config) {
			c.Cluster.Enabled, c.Storage.URL, c.Cluster.Lease = true, "postgres://u@h/db", Duration(2*time.Second)
		}, "cluster.lease", "at least three heartbeats"},
		{"cluster subject", func(c *Config) {
			c.Cluster.Enabled, c.Storage.URL, c.Cluster.Subject = true, "postgres://u@h/db", "dormouse."
		}, "cluster.subject", "is not a NATS subject"},
		{"cluster drain timeout", func(c *Config) {
			c.Cluster.Enabled, c.Storage.URL, c.Cluster.DrainTimeout = true, "postgres://u@h/db", Duration(time.Second)
		}, "cluster.drain_timeout", "at least cluster.request_timeout"},
		{"cluster node number", func(c *Config) {
			c.Cluster.Enabled, c.Storage.URL, c.Cluster.NodeNumber = true, "postgres://u@h/db", 256
		}, "cluster.node_number", "must be 1-255"},
		{"roster", func(c *Config) { c.Roster.MaxItems = -3 }, "roster.max_items", "must be positive (got -3)"},
		{"conns per ip", func(c *Config) { c.C2S.MaxConnectionsPerIP = -1 }, "c2s.max_connections_per_ip", "must be 0"},
		{"failures per ip", func(c *Config) { c.Auth.MaxFailuresPerIP = -1 }, "auth.max_failures_per_ip", "must be 0"},
		{"auth timeout", func(c *Config) { c.C2S.AuthTimeout = 0 }, "c2s.auth_timeout", "must be a positive duration"},
		{"idle timeout", func(c *Config) { c.C2S.IdleTimeout = Duration(-time.Second) }, "c2s.idle_timeout", "must be a positive duration (got -1s)"},
		{"park after", func(c *Config) { c.C2S.ParkAfter = 0 }, "c2s.park_after", "must be a positive duration"},
		{"max batch", func(c *Config) { c.MAM.MaxBatch = -1 }, "mam.max_batch", "must be 0 (the storage backend's size) or positive (got -1)"},
		{"batch linger", func(c *Config) { c.MAM.BatchLinger = Duration(-time.Millisecond) }, "mam.batch_linger", "must be 0 (never wait) or positive"},
		{"resume timeout", func(c *Config) { c.StreamManagement.ResumeTimeout = 0 }, "stream_management.resume_timeout", "must be a positive duration"},
		{"failure window", func(c *Config) { c.Auth.FailureWindow = 0 }, "auth.failure_window", "must be a positive duration"},
		{"max resume < resume", func(c *Config) { c.StreamManagement.MaxResumeTimeout = Duration(time.Minute) }, "stream_management.max_resume_timeout", "must be at least"},
		{"cert without key", func(c *Config) { c.TLS.Cert = "c.pem" }, "tls.key", "must be set when tls.cert is set"},
		{"key without cert", func(c *Config) { c.TLS.Key = "k.pem" }, "tls.cert", "must be set when tls.key is set"},
		{"component domain", func(c *Config) { c.Components.Secrets = map[string]string{"a@b": "x"} }, "components.secrets", "invalid component domain"},
		{"component is host", func(c *Config) { c.Components.Secrets = map[string]string{"localhost": "x"} }, "components.secrets", "is a served host"},
		{"component twice", func(c *Config) {
			c.Components.Secrets = map[string]string{"push.example": "x", "PUSH.example": "y"}
		}, "components.secrets", "listed twice"},
		{"component secret", func(c *Config) { c.Components.Secrets = map[string]string{"push.example": ""} }, "components.secrets", "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			wantKey(t, err, tt.key, tt.substr)
			if n := len(configErrors(err)); n != 1 {
				t.Errorf("got %d errors, want 1: %v", n, err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"hosts and components", func(c *Config) {
			c.Domain = "example.org"
			c.Hosts = []string{"example.net", "[::1]", "127.0.0.1"}
			c.Components.Secrets = map[string]string{"push.example.org": "s"}
		}},
		{"postgres", func(c *Config) { c.Storage.URL = "postgres://dormouse@db.internal:5432/dormouse?sslmode=verify-full" }},
		{"postgresql", func(c *Config) { c.Storage.URL = "postgresql:///dormouse?host=/run/postgresql" }},
		{"sqlite", func(c *Config) { c.Storage.URL = "sqlite:/var/lib/dormouse/x.db" }},
		{"disabled listeners", func(c *Config) { c.C2S.Listen, c.Components.Listen, c.Admin.Listen = "", "", "" }},
		{"ephemeral ports", func(c *Config) { c.C2S.Listen, c.C2S.TLSListen, c.Admin.Listen = ":0", ":0", "127.0.0.1:0" }},
		{"ipv6 listen", func(c *Config) { c.C2S.Listen = "[::]:5222" }},
		{"explicit tls", func(c *Config) { c.TLS = TLS{Cert: "c.pem", Key: "k.pem"} }},
		{"no limits", func(c *Config) { c.C2S.MaxConnectionsPerIP, c.Auth.MaxFailuresPerIP = 0, 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidateDoesNotLeakPassword(t *testing.T) {
	for _, u := range []string{"postgres://u:hunter2@h:bad/db", "postgre://u:hunter2@h/db", "mysql://u:hunter2@h/db"} {
		c := Default()
		c.Storage.URL = u
		err := c.Validate()
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Validate(%q) = %v", u, err)
		}
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := Default()
	c.Domain = ""
	c.C2S.MaxStanzaSize = 1
	c.Log.Format = "?"
	if n := len(configErrors(c.Validate())); n != 3 {
		t.Errorf("got %d errors, want 3", n)
	}
}

func TestServedHostsCanonical(t *testing.T) {
	c := Default()
	c.Domain = "Example.ORG."
	c.Hosts = []string{"ÉCOLE.example", "xn--cole-9oa.example"}
	if got, want := c.ServedHosts(), []string{"example.org", "école.example", "école.example"}; !slices.Equal(got, want) {
		t.Errorf("ServedHosts = %q, want %q", got, want)
	}
	if err := c.Validate(); err == nil {
		t.Error("Validate accepted a U-label and its A-label as two hosts")
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"90s", 90 * time.Second, true},
		{"10m", 10 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"365d", 365 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"2d30m15s", 48*time.Hour + 30*time.Minute + 15*time.Second, true},
		{"-1d", -24 * time.Hour, true},
		{"300ms", 300 * time.Millisecond, true},
		{"", 0, false},
		{"10", 0, false},
		{"d", 0, false},
		{"5x", 0, false},
		{"1d2", 0, false},
		{"1dd", 0, false},
		{"1.2.3d", 0, false},
		{"999999999d", 0, false},
		{"106752d", 0, false},
		{"106751d24h", 0, false},
		{"106751d23h", 106751*24*time.Hour + 23*time.Hour, true},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("UnmarshalText(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && d.Duration() != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d.Duration(), tt.want)
		}
	}
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		0: "0s", 1500 * time.Millisecond: "1.5s", 36 * time.Hour: "36h",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		text, _ := Duration(d).MarshalText()
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back.Duration() != d {
			t.Errorf("round trip of %v via %q = %v, %v", d, text, back, err)
		}
	}
}

func TestValidateHTTPUpload(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"public url", func(c *Config) { c.HTTP.PublicURL = "xmpp.example.org" }, "http.public_url"},
		{"proxy cidr", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.1"} }, "http.trusted_proxies"},
		{"file size", func(c *Config) { c.Upload.MaxFileSize = 0 }, "upload.max_file_size"},
		{"quota", func(c *Config) { c.Upload.Quota = -1 }, "upload.quota"},
		{"expiry", func(c *Config) { c.Upload.ExpireAfter = -1 }, "upload.expire_after"},
		{"domain", func(c *Config) { c.Upload.Domain = "a b" }, "upload.domain"},
	} {
		c := Default()
		tt.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	c := Default()
	c.Upload.ExpireAfter = 0
	c.HTTP.TrustedProxies = []string{"10.0.0.0/8"}
	c.HTTP.PublicURL = "https://xmpp.example.org"
	if err := c.Validate(); err != nil {
		t.Errorf("valid: %v", err)
	}
}
