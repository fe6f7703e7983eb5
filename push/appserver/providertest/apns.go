package providertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// APNsRequest is one request the APNs fake received.
type APNsRequest struct {
	At         time.Time
	Proto      string // "HTTP/2.0"
	Token      string // device token from the path
	Topic      string // apns-topic
	PushType   string // apns-push-type
	Priority   string // apns-priority
	Expiration string // apns-expiration
	CollapseID string // apns-collapse-id
	KeyID      string // the JWT's kid ("" with certificate authentication)
	TeamID     string // the JWT's iss
	ClientCert string // the client certificate's subject CN, if any
	Payload    map[string]any
	Body       []byte
}

// APNs is a loopback APNs provider API server: HTTP/2 over TLS. Requests
// need a valid provider JWT (ES256, kid of a key from NewKey, iss = team
// id, iat within the hour) or a client certificate.
type APNs struct {
	srv *httptest.Server
	rec *recorder[APNsRequest]

	mu   sync.Mutex
	keys map[string]*ecdsa.PublicKey // key id → key
}

// NewAPNs starts an APNs fake. Close it when done.
func NewAPNs() *APNs {
	a := &APNs{rec: newRecorder[APNsRequest](), keys: map[string]*ecdsa.PublicKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /3/device/{token}", a.push)
	a.srv = httptest.NewUnstartedServer(mux)
	a.srv.EnableHTTP2 = true
	a.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	a.srv.StartTLS()
	return a
}

// URL is the endpoint to configure (push.apns_endpoint).
func (a *APNs) URL() string { return a.srv.URL }

// RootCAs trusts the fake's certificate.
func (a *APNs) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.srv.Certificate())
	return p
}

// Close stops the server.
func (a *APNs) Close() { a.srv.Close() }

// NewKey returns a new .p8 key (PKCS#8 PEM) and its key id, accepted for
// token authentication from now on.
func (a *APNs) NewKey() (p8 []byte, keyID string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	a.mu.Lock()
	keyID = fmt.Sprintf("KEY%07d", len(a.keys)+1)
	a.keys[keyID] = &k.PublicKey
	a.mu.Unlock()
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), keyID
}

// Answer sets the answers for token, in turn (the last one repeats); token
// "" sets the default. Reasons are APNs reasons: Unregistered (with status
// 410), BadDeviceToken (400), TooManyRequests (429), InternalServerError
// (500) …
func (a *APNs) Answer(token string, ans ...Answer) { a.rec.setAnswers(token, ans...) }

// Requests returns the requests received so far.
func (a *APNs) Requests() []APNsRequest { return a.rec.requests() }

// Await waits for at least n requests.
func (a *APNs) Await(n int, timeout time.Duration) ([]APNsRequest, error) {
	return a.rec.await(n, timeout)
}

// Reset forgets the requests received.
func (a *APNs) Reset() { a.rec.reset() }

func (a *APNs) push(w http.ResponseWriter, r *http.Request) {
	req := APNsRequest{At: time.Now(), Proto: r.Proto, Token: r.PathValue("token"),
		Topic: r.Header.Get("apns-topic"), PushType: r.Header.Get("apns-push-type"),
		Priority: r.Header.Get("apns-priority"), Expiration: r.Header.Get("apns-expiration"),
		CollapseID: r.Header.Get("apns-collapse-id")}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		req.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	if auth := r.Header.Get("authorization"); auth != "" {
		jwt, ok := strings.CutPrefix(auth, "bearer ")
		var err error
		if ok {
			req.KeyID, req.TeamID, err = a.checkJWT(jwt)
		}
		if !ok || err != nil {
			apnsError(w, http.StatusForbidden, "InvalidProviderToken")
			return
		}
	} else if req.ClientCert == "" {
		apnsError(w, http.StatusForbidden, "MissingProviderToken")
		return
	}
	if req.Topic == "" {
		apnsError(w, http.StatusBadRequest, "MissingTopic")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &req.Payload)
	}
	if err != nil {
		apnsError(w, http.StatusBadRequest, "BadPayload")
		return
	}
	req.Body = body
	ans := a.rec.record(req.Token, req)
	if ans.RetryAfter != "" {
		w.Header().Set("Retry-After", ans.RetryAfter)
	}
	w.Header().Set("apns-id", fmt.Sprintf("00000000-0000-0000-0000-%012d", req.At.UnixNano()%1e12))
	if ans.Status == 200 {
		w.WriteHeader(200)
		return
	}
	apnsError(w, ans.Status, ans.Reason)
}

func apnsError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	m := map[string]any{"reason": reason}
	if status == http.StatusGone {
		m["timestamp"] = time.Now().UnixMilli()
	}
	_ = json.NewEncoder(w).Encode(m)
}

// checkJWT verifies the provider token: header {alg ES256, kid}, claims
// {iss, iat}, signed with the key of kid.
func (a *APNs) checkJWT(jwt string) (kid, iss string, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("not a JWT")
	}
	var hdr struct{ Alg, Kid string }
	var claims struct {
		Iss string
		Iat int64
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return "", "", err
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return "", "", err
	}
	if hdr.Alg != "ES256" || hdr.Kid == "" || claims.Iss == "" {
		return "", "", fmt.Errorf("bad JWT shape: alg %q kid %q iss %q", hdr.Alg, hdr.Kid, claims.Iss)
	}
	if age := time.Since(time.Unix(claims.Iat, 0)); age > time.Hour || age < -time.Minute {
		return "", "", fmt.Errorf("iat %d out of range", claims.Iat)
	}
	a.mu.Lock()
	pub := a.keys[hdr.Kid]
	a.mu.Unlock()
	if pub == nil {
		return "", "", fmt.Errorf("unknown kid %q", hdr.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return "", "", fmt.Errorf("bad signature encoding")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, h[:], r, s) {
		return "", "", fmt.Errorf("bad signature")
	}
	return hdr.Kid, claims.Iss, nil
}
