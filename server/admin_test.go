package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"dormouse.im/dormouse/server"
)

func TestAdminEndpoints(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	a := ts.dial("alice", "phone")
	if r, err := a.IQ("p", "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("ping: %v %v", r, err)
	}
	base := "http://" + ts.addr(server.ListenerAdmin)
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
		{"/metrics", `dormouse_stanzas_routed_total{kind="iq"}`},
		{"/metrics", "dormouse_c2s_connections 1"},
		{"/metrics", "dormouse_route_duration_seconds_bucket"},
		{"/metrics", "dormouse_sm_hibernated_sessions 0"},
		{"/metrics", "dormouse_csi_held_total"},
		{"/debug/pprof/", "goroutine"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, body does not contain %q", tc.path, resp.StatusCode, tc.want)
		}
	}
}
