package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
)

// conversePage starts the released Converse.js build with a small plugin
// that exposes its API to the test, logged in as alice over WebSocket.
const conversePage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>converse</title>
<link rel="stylesheet" href="/dist/converse.min.css">
<script>
window.dm = {connected: 0, messages: [], log: []};
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const orig = console[level].bind(console);
  console[level] = (...args) => { window.dm.log.push(level + ': ' + args.map(String).join(' ')); orig(...args); };
}
window.addEventListener('error', (e) => window.dm.log.push('error event: ' + e.message));
</script>
<script type="module" src="/dist/converse.min.js"></script></head>
<body><script type="module">
converse.plugins.add('dormouse-test', {
  initialize() {
    const api = this._converse.api;
    window.dm.api = api;
    api.listen.on('connected', () => { window.dm.connected++; });
    api.listen.on('reconnected', () => { window.dm.connected++; });
    api.listen.on('message', (data) => {
      const a = data.attrs || {};
      if (a.body) window.dm.messages.push({from: a.from, body: a.body});
    });
  }
});
converse.initialize({
  websocket_url: WSURL,
  jid: 'alice@localhost',
  password: 'secret-alice',
  auto_login: true,
  discover_connection_methods: false,
  whitelisted_plugins: ['dormouse-test'],
  view_mode: 'fullscreen',
  loglevel: 'info',
});
</script></body></html>`

// converseDir is where server/testdata/converse/fetch.sh puts the build.
func converseDir(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "converse", "dist"))
	if _, err := os.Stat(filepath.Join(dir, "converse.min.js")); err != nil {
		if os.Getenv("DORMOUSE_TEST_BROWSER") != "" {
			t.Fatal("DORMOUSE_TEST_BROWSER is set but Converse.js is missing: run server/testdata/converse/fetch.sh")
		}
		t.Skip("Converse.js not fetched: run server/testdata/converse/fetch.sh (needs npm) to run this test")
	}
	return dir
}

// TestConverse: the released Converse.js (14.0.0) in headless Chromium logs
// in over WebSocket, chats with a native client both ways, shares a file
// (XEP-0363) that the native client downloads, and after a page
// reload resumes its session (XEP-0198) and keeps chatting: its stanzas
// then name a new resource in 'from', which the server overrides with the
// resumed session's JID (RFC 6120 §8.1.2.1).
func TestConverse(t *testing.T) {
	dir := converseDir(t)
	d := startBrowser(t)
	var wsURL string
	page := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/dist/") {
			http.StripPrefix("/dist/", http.FileServer(http.Dir(dir))).ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		b, _ := json.Marshal(wsURL)
		_, _ = w.Write([]byte(strings.Replace(conversePage, "WSURL", string(b), 1)))
	}))
	defer page.Close()
	ts := start(t, func(c *config.Config) { c.HTTP.AllowedOrigins = []string{page.URL} })
	ts.users("alice", "bob")
	_, port, _ := net.SplitHostPort(ts.addr(server.ListenerHTTP))
	wsURL = "wss://localhost:" + port + server.WebSocketPath
	bob := ts.dial("bob", "phone")
	bob.SendRaw("<presence/>")

	// script runs JavaScript that resolves a promise, in the page.
	script := func(js string) json.RawMessage {
		t.Helper()
		v, err := d.call(http.MethodPost, d.session+"/execute/async", map[string]any{
			"script": "const done = arguments[arguments.length - 1];\n(async () => {" + js + "})().then(done, e => done({error: String(e)}));",
			"args":   []any{},
		})
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		if json.Unmarshal(v, &e) == nil && e.Error != "" {
			t.Fatalf("page: %s", e.Error)
		}
		return v
	}
	const waitConnected = `
for (let i = 0; i < 200 && !(window.dm && window.dm.connected > 0 && window.dm.api.connection.get() && window.dm.api.connection.get().authenticated); i++) {
  await new Promise(r => setTimeout(r, 100));
}
if (!window.dm || !window.dm.connected) throw new Error('not connected: ' + window.dm.log.slice(-30).join('\n'));
return window.dm.api.connection.get().jid;`
	send := func(body string) {
		script(fmt.Sprintf(`const chat = await window.dm.api.chats.open('bob@localhost');
await chat.sendMessage({body: %q});
return true;`, body))
	}
	waitBody := func(body string) {
		script(fmt.Sprintf(`for (let i = 0; i < 200; i++) {
  if (window.dm.messages.some(m => m.body === %q)) return true;
  await new Promise(r => setTimeout(r, 100));
}
throw new Error('no message ' + %q + ': ' + JSON.stringify(window.dm.messages));`, body, body))
	}

	if _, err := d.call(http.MethodPost, d.session+"/url", map[string]string{"url": page.URL}); err != nil {
		t.Fatal(err)
	}
	var full string
	if err := json.Unmarshal(script(waitConnected), &full); err != nil || !strings.HasPrefix(full, "alice@localhost/") {
		t.Fatalf("bound JID %q %v", full, err)
	}
	send("hello from converse")
	el := expectStanza(t, bob, "message", func(e *xml.Element) bool { return xmppBody(e, "hello from converse") })
	if el.AttrValue("from") != full {
		t.Errorf("from %q, want %q", el.AttrValue("from"), full)
	}
	bob.SendRaw(chat("alice@localhost", "r1", "hello converse"))
	waitBody("hello converse")

	// Converse shares a file through XEP-0363 (its own discovery, slot
	// request and PUT); the native client downloads it.
	const fileText = "a file shared by Converse.js"
	script(fmt.Sprintf(`const chat = await window.dm.api.chats.open('bob@localhost');
await chat.sendFiles([new File([%q], 'converse.txt', {type: 'text/plain'})]);
return true;`, fileText))
	el = expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.Child("jabber:x:oob", "x") != nil })
	url := el.Child("jabber:x:oob", "x").ChildText("jabber:x:oob", "url")
	resp, err := httpsClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != fileText {
		t.Errorf("download of %s: %s %q", url, resp.Status, b)
	}

	// Reload: Converse resumes the stream-managed session.
	before := ts.SessionsForTest().Stats().Resumptions
	if _, err := d.call(http.MethodPost, d.session+"/refresh", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	script(waitConnected)
	send("after the reload")
	el = expectStanza(t, bob, "message", func(e *xml.Element) bool { return xmppBody(e, "after the reload") })
	if el.AttrValue("from") != full {
		t.Errorf("after the reload: from %q, want the resumed %q", el.AttrValue("from"), full)
	}
	if ts.SessionsForTest().Stats().Resumptions == before {
		t.Error("Converse did not resume its session after the reload")
	}
	bob.SendRaw(chat("alice@localhost", "r2", "welcome back"))
	waitBody("welcome back")
}
