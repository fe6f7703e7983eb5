package appserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/stanza"
)

func TestHTTPRegister(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.svc.HTTPHandler("op-token"))
	defer srv.Close()
	post := func(auth, body string) (*http.Response, map[string]string) {
		req, _ := http.NewRequest("POST", srv.URL+"/push/v1/register", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	good := `{"type":"apns","token":"c0ffee","device":"dev-h","domain":"example.org"}`
	for i, tc := range []struct {
		auth, body string
		code       int
	}{
		0: {"", good, 401},
		1: {"Bearer wrong", good, 401},
		2: {"Bearer op-token", `{"type":"gcm","token":"t","device":"d","domain":"example.org"}`, 400},
		3: {"Bearer op-token", `{"type":"fcm","token":"t","device":"d","domain":"a@b"}`, 400},
		4: {"Bearer op-token", `{"type":"fcm","token":"","device":"d","domain":"example.org"}`, 400},
		5: {"Bearer op-token", `{"type":"fcm","token":"t","device":"d","domain":"example.org","app":"nope"}`, 404},
		6: {"Bearer op-token", `{"type":"fcm","bogus":1}`, 400},
		7: {"Bearer op-token", `not json`, 400},
	} {
		if resp, m := post(tc.auth, tc.body); resp.StatusCode != tc.code || m["error"] == "" {
			t.Errorf("%d: %d %v, want %d", i, resp.StatusCode, m, tc.code)
		}
	}
	resp, m := post("Bearer op-token", good)
	if resp.StatusCode != 200 || m["jid"] != domain || m["node"] == "" || m["secret"] == "" {
		t.Fatalf("register: %d %v", resp.StatusCode, m)
	}
	if _, m2 := post("Bearer op-token", good); m2["node"] != m["node"] {
		t.Errorf("re-registration node %s, want %s", m2["node"], m["node"])
	}
	if r, _ := http.Get(srv.URL + "/push/v1/register"); r.StatusCode != 405 {
		t.Errorf("GET: %d", r.StatusCode)
	}
	if r := e.iq(publishIQ("h1", "example.org", m["node"], m["secret"], "")); r.Type != stanza.TypeResult {
		t.Fatalf("publish: %s", r)
	}
	if reqs, err := e.apns.Await(1, 5*time.Second); err != nil || reqs[0].Token != "c0ffee" {
		t.Errorf("APNs: %v %v", reqs, err)
	}
}

func TestForget(t *testing.T) {
	e := newEnv(t, withFakeClock)
	node, _ := e.registerP2(alice, "fcm", "t", "d")
	e.clock.Advance(48 * time.Hour)
	node2, _ := e.registerP2(alice, "fcm", "t2", "d2")
	n, err := e.svc.Forget(t.Context(), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v", n, err)
	}
	if _, err := e.store.Registration(t.Context(), node); err == nil {
		t.Error("old registration kept")
	}
	if _, err := e.store.Registration(t.Context(), node2); err != nil {
		t.Error("recent registration forgotten")
	}
	if _, err := e.svc.StartForget("bad", time.Hour); err == nil {
		t.Error("bad schedule accepted")
	}
	stop, err := e.svc.StartForget("0 30 3 * * *", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(t.Context()); err != nil {
		t.Error(err)
	}
	_ = appserver.ErrNotFound
}
