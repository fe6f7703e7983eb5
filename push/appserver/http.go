package appserver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"mellium.im/xmpp/jid"
)

// RegisterRequest is the body of POST /push/v1/register.
type RegisterRequest struct {
	Type   string `json:"type"`   // fcm or apns
	Token  string `json:"token"`  // provider token
	Device string `json:"device"` // stable device id chosen by the app
	Domain string `json:"domain"` // domain of the XMPP server that will publish
	App    string `json:"app,omitempty"`
}

// RegisterResponse is its answer: what the client puts in its XEP-0357
// <enable/>.
type RegisterResponse struct {
	JID    string `json:"jid"`
	Node   string `json:"node"`
	Secret string `json:"secret"`
}

// HTTPHandler serves the registration API for apps that register from
// their own backend:
//
//	POST /push/v1/register
//	Authorization: Bearer TOKEN
//	{"type":"fcm","token":"…","device":"…","domain":"example.org","app":"optional"}
//	→ 200 {"jid":"push.example.org","node":"…","secret":"…"}
//
// The same device (domain, device) re-registering gets its node back.
// Errors are JSON {"error":"…"} with 400, 401, 404 or 405. token is the
// operator's API token; the server mounts the handler on the admin
// listener only when one is configured.
func (s *Service) HTTPHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/push/v1/register", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dormouse push"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong API token")
			return
		}
		var req RegisterRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
		p, err := ParsePlatform(req.Type)
		if err != nil {
			httpError(w, http.StatusBadRequest, "type must be fcm or apns")
			return
		}
		d, err := jid.Parse(req.Domain)
		if err != nil || d.Localpart() != "" || d.Resourcepart() != "" || req.Domain == "" {
			httpError(w, http.StatusBadRequest, "domain must be the XMPP server's domain")
			return
		}
		if req.Token == "" || req.Device == "" || len(req.Token) > 4096 || len(req.Device) > 1024 {
			httpError(w, http.StatusBadRequest, "token and device are required")
			return
		}
		reg, err := s.RegisterDevice(r.Context(), DeviceRequest{Platform: p, App: req.App, Token: req.Token,
			Device: deviceKey("http", d.String(), req.Device), Domain: d.String()})
		switch {
		case errors.Is(err, errNoApp):
			httpError(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), errNoApp.Error()+": "))
			return
		case err != nil:
			s.log.Error("HTTP registration", "err", err)
			httpError(w, http.StatusInternalServerError, "registration failed")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(RegisterResponse{JID: s.cfg.Domain, Node: reg.Node, Secret: reg.Secret})
	})
	return mux
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
