package providertest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// FCMRequest is one messages:send request the FCM fake received.
type FCMRequest struct {
	At          time.Time // when the request arrived
	Project     string
	Token       string
	Priority    string // android.priority
	TTL         string // android.ttl ("86400s")
	CollapseKey string
	Data        map[string]string
	Body        []byte // the raw JSON body
}

// FCM is a loopback Firebase Cloud Messaging HTTP v1 server with a Google
// OAuth2 token endpoint. Send requests must carry an access token the
// token endpoint issued, which it issues only for a JWT assertion signed
// by the key of a service account from ServiceAccountJSON.
type FCM struct {
	srv *httptest.Server
	rec *recorder[FCMRequest]

	mu     sync.Mutex
	keys   map[string]*rsa.PublicKey // client_email → key
	tokens map[string]string         // access token → client_email
	nTok   int
}

// NewFCM starts an FCM fake. Close it when done.
func NewFCM() *FCM {
	f := &FCM{rec: newRecorder[FCMRequest](), keys: map[string]*rsa.PublicKey{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.send)
	f.srv = httptest.NewServer(mux)
	return f
}

// URL is the FCM endpoint to configure (push.fcm_endpoint): URL/v1.
func (f *FCM) URL() string { return f.srv.URL + "/v1" }

// Close stops the server.
func (f *FCM) Close() { f.srv.Close() }

// ServiceAccountJSON returns a new service-account key file for project
// whose token_uri is the fake's token endpoint.
func (f *FCM) ServiceAccountJSON(project string) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	email := fmt.Sprintf("dormouse-%d@%s.iam.gserviceaccount.com", len(f.keys), project)
	f.mu.Lock()
	f.keys[email] = &key.PublicKey
	f.mu.Unlock()
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": "key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1",
		"token_uri":      f.srv.URL + "/token",
	})
	return b
}

// Answer sets the answers to sends for token, in turn (the last one
// repeats); token "" sets the default answer. Reasons are FCM error codes:
// UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, SENDER_ID_MISMATCH,
// UNAVAILABLE, INTERNAL.
func (f *FCM) Answer(token string, a ...Answer) { f.rec.setAnswers(token, a...) }

// Requests returns the send requests received so far.
func (f *FCM) Requests() []FCMRequest { return f.rec.requests() }

// Await waits for at least n send requests.
func (f *FCM) Await(n int, timeout time.Duration) ([]FCMRequest, error) {
	return f.rec.await(n, timeout)
}

// Reset forgets the requests received.
func (f *FCM) Reset() { f.rec.reset() }

// TokensIssued is the number of OAuth2 access tokens issued.
func (f *FCM) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nTok
}

func (f *FCM) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, "unsupported_grant_type")
		return
	}
	email, err := f.checkAssertion(r.PostForm.Get("assertion"), "http://"+r.Host+"/token")
	if err != nil {
		oauthError(w, "invalid_grant: "+err.Error())
		return
	}
	f.mu.Lock()
	f.nTok++
	tok := fmt.Sprintf("ya29.fake-%d", f.nTok)
	f.tokens[tok] = email
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func oauthError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": msg})
}

// checkAssertion verifies an RS256 JWT signed by a known service account,
// addressed to aud, asking for a messaging scope.
func (f *FCM) checkAssertion(jwt, aud string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("not a JWT")
	}
	var hdr struct{ Alg, Typ, Kid string }
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return "", err
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return "", err
	}
	if hdr.Alg != "RS256" {
		return "", fmt.Errorf("alg %q", hdr.Alg)
	}
	if claims.Aud != aud {
		return "", fmt.Errorf("aud %q, want %q", claims.Aud, aud)
	}
	if !strings.Contains(claims.Scope, "firebase.messaging") && !strings.Contains(claims.Scope, "cloud-platform") {
		return "", fmt.Errorf("scope %q", claims.Scope)
	}
	if claims.Exp <= claims.Iat {
		return "", fmt.Errorf("exp %d before iat %d", claims.Exp, claims.Iat)
	}
	f.mu.Lock()
	pub := f.keys[claims.Iss]
	f.mu.Unlock()
	if pub == nil {
		return "", fmt.Errorf("unknown issuer %q", claims.Iss)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	return claims.Iss, nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("jwt segment: %w", err)
	}
	return json.Unmarshal(b, v)
}

var fcmErrors = map[string]struct {
	code   int
	status string
}{
	"UNREGISTERED":       {404, "NOT_FOUND"},
	"INVALID_ARGUMENT":   {400, "INVALID_ARGUMENT"},
	"SENDER_ID_MISMATCH": {403, "PERMISSION_DENIED"},
	"QUOTA_EXCEEDED":     {429, "RESOURCE_EXHAUSTED"},
	"UNAVAILABLE":        {503, "UNAVAILABLE"},
	"INTERNAL":           {500, "INTERNAL"},
}

func (f *FCM) send(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	_, known := f.tokens[tok]
	f.mu.Unlock()
	if !ok || !known {
		writeFCMError(w, 401, "UNAUTHENTICATED", "")
		return
	}
	var body struct {
		Message struct {
			Token   string            `json:"token"`
			Data    map[string]string `json:"data"`
			Android struct {
				Priority    string `json:"priority"`
				TTL         string `json:"ttl"`
				CollapseKey string `json:"collapse_key"`
			} `json:"android"`
		} `json:"message"`
	}
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil || body.Message.Token == "" {
		writeFCMError(w, 400, "INVALID_ARGUMENT", "")
		return
	}
	m := body.Message
	a := f.rec.record(m.Token, FCMRequest{At: at, Project: r.PathValue("project"), Token: m.Token,
		Priority: m.Android.Priority, TTL: m.Android.TTL, CollapseKey: m.Android.CollapseKey, Data: m.Data, Body: raw})
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	if a.Status == 200 && a.Reason == "" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"projects/%s/messages/0:%d"}`, r.PathValue("project"), at.UnixNano())
		return
	}
	e, ok := fcmErrors[a.Reason]
	if !ok {
		e.code, e.status = a.Status, "UNKNOWN"
	}
	if a.Status != 200 {
		e.code = a.Status
	}
	writeFCMError(w, e.code, e.status, a.Reason)
}

func writeFCMError(w http.ResponseWriter, code int, status, fcmCode string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	details := []any{}
	if fcmCode != "" {
		details = append(details, map[string]string{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcmCode})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": status, "status": status, "details": details}})
}
