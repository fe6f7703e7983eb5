package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/server"
)

func TestAdminEndpoints(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	a := online(t, ts, "alice", "phone")
	// One message stored offline and delivered: offline and storage
	// metrics; the archive writes it twice.
	a.SendRaw("<message type='chat' id='o1' to='bob@localhost'><body>hi</body></message>")
	if r, err := a.IQ("p", "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("ping: %v %v", r, err)
	}
	b := online(t, ts, "bob", "phone")
	expectStanza(t, b, "message", nil)
	// One archive query.
	if r, err := b.IQ("q", "<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("archive query: %v %v", r, err)
	}
	b.Close()
	base := "http://" + ts.addr(server.ListenerAdmin)
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
		{"/metrics", `dormouse_stanzas_routed_total{kind="iq"}`},
		{"/metrics", "dormouse_c2s_connections 1"},
		{"/metrics", `dormouse_offline_messages_total{event="stored"} 1`},
		{"/metrics", `dormouse_offline_messages_total{event="delivered"} 1`},
		{"/metrics", `dormouse_storage_duration_seconds_count{op="offline_store"} 1`},
		{"/metrics", `dormouse_storage_duration_seconds_count{op="offline_delete"} 1`},
		{"/metrics", `dormouse_archived_messages_total 2`},
		{"/metrics", `dormouse_logins_total{result="success"} 2`},
		{"/metrics", `dormouse_storage_duration_seconds_count{op="credentials"} 2`},
		{"/metrics", "dormouse_c2s_sessions_live 1"},
		{"/metrics", `dormouse_c2s_stanzas_out_total{kind="message"} 2`}, // the offline message and one archive result
		{"/metrics", "dormouse_c2s_sessions_inactive 0"},
		{"/metrics", "dormouse_sm_unacked_stanzas 0"},
		{"/metrics", `dormouse_storage_duration_seconds_count{op="archive_append"} 1`},
		{"/metrics", `dormouse_mam_query_duration_seconds_count 1`},
		{"/metrics", `dormouse_storage_duration_seconds_count{op="mam_query"} 1`},
		{"/metrics", "dormouse_route_duration_seconds_bucket"},
		{"/metrics", "dormouse_sm_hibernated_sessions 0"},
		{"/metrics", "dormouse_csi_held_total"},
		{"/debug/pprof/", "goroutine"},
	} {
		// Gauges follow asynchronous events (bob's connection closing):
		// poll briefly.
		var code int
		var body []byte
		for try := 0; try < 40; try++ {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if code = resp.StatusCode; code == 200 && strings.Contains(string(body), tc.want) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code != 200 || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, body does not contain %q", tc.path, code, tc.want)
		}
	}
}
