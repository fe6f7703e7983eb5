package appserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
)

// Platform is a push provider.
type Platform string

// Platforms.
const (
	FCM  Platform = "fcm"
	APNs Platform = "apns"
)

// ParsePlatform accepts "fcm" and "apns".
func ParsePlatform(s string) (Platform, error) {
	switch Platform(s) {
	case FCM, APNs:
		return Platform(s), nil
	}
	return "", fmt.Errorf("appserver: unknown platform %q (want fcm or apns)", s)
}

// App is one app the server sends for: a Firebase project, or an iOS
// bundle with its APNs key or certificate.
type App struct {
	Name        string
	Platform    Platform
	Credentials Credentials
}

// Credentials are an app's provider credentials. They never appear in
// logs: Credentials and App implement slog.LogValuer.
type Credentials struct {
	// FCM: the service-account key file.
	ServiceAccount []byte `json:"service_account,omitempty"`

	// APNs token authentication: the .p8 key, its id and the team id.
	KeyP8  []byte `json:"key_p8,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	TeamID string `json:"team_id,omitempty"`
	// APNs certificate authentication: the .p12 file and its password.
	CertP12      []byte `json:"cert_p12,omitempty"`
	CertPassword string `json:"cert_password,omitempty"`
	// APNs: bundle id, VoIP topic (optional) and environment.
	Topic     string `json:"topic,omitempty"`
	VoIPTopic string `json:"voip_topic,omitempty"`
	Sandbox   bool   `json:"sandbox,omitempty"`
}

// LogValue shows what kind of credentials these are, never their secrets.
func (c Credentials) LogValue() slog.Value {
	var attrs []slog.Attr
	switch {
	case len(c.ServiceAccount) > 0:
		attrs = append(attrs, slog.String("auth", "service-account"))
	case len(c.KeyP8) > 0:
		attrs = append(attrs, slog.String("auth", "token"), slog.String("key_id", c.KeyID), slog.String("team_id", c.TeamID))
	case len(c.CertP12) > 0:
		attrs = append(attrs, slog.String("auth", "certificate"))
	}
	if c.Topic != "" {
		attrs = append(attrs, slog.String("topic", c.Topic), slog.Bool("sandbox", c.Sandbox))
	}
	return slog.GroupValue(attrs...)
}

// String redacts too, for %v.
func (c Credentials) String() string { return c.LogValue().String() }

// GoString redacts too, for %#v.
func (c Credentials) GoString() string { return "appserver.Credentials{" + c.LogValue().String() + "}" }

// LogValue implements slog.LogValuer.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", a.Name), slog.String("platform", string(a.Platform)),
		slog.Any("credentials", a.Credentials))
}

// ProjectID returns the Firebase project of an FCM app's service account.
func (c Credentials) ProjectID() string {
	var sa struct {
		ProjectID string `json:"project_id"`
	}
	_ = json.Unmarshal(c.ServiceAccount, &sa)
	return sa.ProjectID
}

var appName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks the app's name and that its credentials fit its
// platform (the provider client checks that they parse).
func (a App) Validate() error {
	if !appName.MatchString(a.Name) {
		return fmt.Errorf("appserver: invalid app name %q (letters, digits, '.', '_', '-'; at most 64)", a.Name)
	}
	c := a.Credentials
	switch a.Platform {
	case FCM:
		if len(c.ServiceAccount) == 0 {
			return fmt.Errorf("appserver: app %s: FCM needs a service-account file", a.Name)
		}
		if c.ProjectID() == "" {
			return fmt.Errorf("appserver: app %s: the service-account file has no project_id", a.Name)
		}
	case APNs:
		if c.Topic == "" {
			return fmt.Errorf("appserver: app %s: APNs needs a topic (bundle id)", a.Name)
		}
		if (len(c.KeyP8) > 0) == (len(c.CertP12) > 0) {
			return fmt.Errorf("appserver: app %s: APNs needs either a .p8 key or a .p12 certificate", a.Name)
		}
		if len(c.KeyP8) > 0 && (c.KeyID == "" || c.TeamID == "") {
			return fmt.Errorf("appserver: app %s: a .p8 key needs -key-id and -team-id", a.Name)
		}
	default:
		return fmt.Errorf("appserver: app %s: unknown platform %q", a.Name, a.Platform)
	}
	return nil
}
