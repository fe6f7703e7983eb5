package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
)

// browserPage is a minimal XMPP-over-WebSocket client (RFC 7395) in the
// browser's own JavaScript: WebSocket, DOMParser, fetch. run() logs in
// with SASL PLAIN, binds, sends a message, waits for the answer, and
// shares a file through HTTP upload (XEP-0363) with fetch PUT and GET.
const browserPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>dormouse browser test</title></head>
<body><pre id="log"></pre><script>
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
function log(s) { document.getElementById('log').textContent += s + '\n'; }
function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'xmpp');
    const queue = [], waiters = [];
    ws.onmessage = (ev) => {
      const el = new DOMParser().parseFromString(ev.data, 'text/xml').documentElement;
      log('<- ' + ev.data);
      if (waiters.length) waiters.shift()(el); else queue.push(el);
    };
    ws.onerror = () => reject(new Error('websocket error'));
    ws.onclose = (ev) => { while (waiters.length) waiters.shift()(null); };
    ws.onopen = () => {
      if (ws.protocol !== 'xmpp') reject(new Error('subprotocol ' + ws.protocol));
      resolve({
        send(s) { log('-> ' + s); ws.send(s); },
        next() { return queue.length ? Promise.resolve(queue.shift()) : new Promise(r => waiters.push(r)); },
        async expect(name) {
          for (;;) {
            const el = await this.next();
            if (el === null) throw new Error('closed while waiting for ' + name);
            if (el.localName === name) return el;
          }
        },
        close() { ws.close(); },
      });
    };
  });
}
async function run(url, domain, user, pass, peer, fileText) {
  const c = await connect(url);
  const open = "<open xmlns='" + FRAMING + "' to='" + domain + "' version='1.0'/>";
  c.send(open);
  await c.expect('open');
  const feats = await c.expect('features');
  const mechs = Array.from(feats.getElementsByTagName('mechanism')).map(m => m.textContent);
  if (!mechs.includes('PLAIN')) throw new Error('no PLAIN: ' + mechs);
  if (feats.getElementsByTagName('starttls').length) throw new Error('STARTTLS offered over WebSocket');
  c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + btoa('\0' + user + '\0' + pass) + "</auth>");
  const sasl = await c.next();
  if (sasl.localName !== 'success') throw new Error('SASL: ' + sasl.outerHTML);
  c.send(open);
  await c.expect('open');
  await c.expect('features');
  c.send("<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>chromium</resource></bind></iq>");
  const bound = await c.expect('iq');
  const jid = bound.getElementsByTagName('jid')[0].textContent;
  c.send("<message xmlns='jabber:client' to='" + peer + "' type='chat' id='from-browser'><body>hello from chromium</body></message>");
  const reply = await c.expect('message');
  const body = reply.getElementsByTagName('body')[0].textContent;

  c.send("<iq xmlns='jabber:client' type='get' id='slot' to='upload." + domain + "'><request xmlns='urn:xmpp:http:upload:0' filename='note.txt' size='" +
    new TextEncoder().encode(fileText).length + "' content-type='text/plain'/></iq>");
  const slot = await c.expect('iq');
  if (slot.getAttribute('type') !== 'result') throw new Error('slot: ' + slot.outerHTML);
  const put = slot.getElementsByTagName('put')[0].getAttribute('url');
  const get = slot.getElementsByTagName('get')[0].getAttribute('url');
  const pr = await fetch(put, {method: 'PUT', body: fileText, headers: {'Content-Type': 'text/plain'}});
  if (pr.status !== 201) throw new Error('PUT ' + pr.status);
  const gr = await fetch(get);
  const got = await gr.text();
  c.send("<message xmlns='jabber:client' to='" + peer + "' type='chat' id='file'><body>" + get + "</body>" +
    "<x xmlns='jabber:x:oob'><url>" + get + "</url></x></message>");
  c.send("<close xmlns='" + FRAMING + "'/>");
  await c.expect('close');
  return {jid, body, getStatus: gr.status, type: gr.headers.get('Content-Type'), got};
}
</script></body></html>`

// webDriver speaks the W3C WebDriver protocol to chromedriver.
type webDriver struct {
	base, session string
}

func (d *webDriver) call(method, path string, in any) (json.RawMessage, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Value json.RawMessage }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, out.Value)
	}
	return out.Value, nil
}

// startBrowser runs chromedriver and opens a headless Chromium session that
// accepts the test server's self-signed certificates.
func startBrowser(t *testing.T) *webDriver {
	t.Helper()
	driver, err := exec.LookPath("chromedriver")
	if err != nil {
		if os.Getenv("DORMOUSE_TEST_BROWSER") != "" {
			t.Fatal("DORMOUSE_TEST_BROWSER is set but chromedriver is not installed")
		}
		t.Skip("no browser: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver) to run the browser test; .ci/run does")
	}
	browser := "/usr/bin/chromium"
	if _, err := os.Stat(browser); err != nil {
		t.Skip("chromedriver found but not /usr/bin/chromium; install Debian's chromium")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	d := &webDriver{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.call(http.MethodGet, "/status", nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	v, err := d.call(http.MethodPost, "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":         "chrome",
		"acceptInsecureCerts": true,
		"goog:chromeOptions": map[string]any{
			"binary": browser,
			// --ignore-certificate-errors: only this throwaway profile
			// trusts the test server's self-signed certificate.
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--ignore-certificate-errors", "--user-data-dir=" + t.TempDir()},
		},
	}}})
	if err != nil {
		t.Fatalf("browser session: %v\n%s", err, out.String())
	}
	var s struct{ SessionID string }
	if err := json.Unmarshal(v, &s); err != nil || s.SessionID == "" {
		t.Fatalf("session: %s %v", v, err)
	}
	d.session = "/session/" + s.SessionID
	t.Cleanup(func() { _, _ = d.call(http.MethodDelete, d.session, nil) })
	if _, err := d.call(http.MethodPost, d.session+"/timeouts", map[string]any{"script": 30000, "pageLoad": 30000}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBrowser: headless Chromium, driven over WebDriver, loads a page from
// another origin (allowed by http.allowed_origins), connects over
// wss:// (RFC 7395), logs in with PLAIN, chats with a native client over
// TCP, and shares a file with XEP-0363 (fetch PUT and GET across origins,
// CORS) that the native client then downloads.
func TestBrowser(t *testing.T) {
	d := startBrowser(t)
	page := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, browserPage)
	}))
	defer page.Close()
	ts := start(t, func(c *config.Config) { c.HTTP.AllowedOrigins = []string{page.URL} })
	ts.users("alice", "bob")
	bob := ts.dial("bob", "phone")

	if _, err := d.call(http.MethodPost, d.session+"/url", map[string]string{"url": page.URL}); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ts.addr(server.ListenerHTTP))
	wsURL := "wss://localhost:" + port + server.WebSocketPath
	const fileText = "a file shared from the browser ✓"
	type result struct {
		JID, Body, Type, Got string
		GetStatus            int
		Error                string
	}
	done := make(chan result, 1)
	go func() {
		v, err := d.call(http.MethodPost, d.session+"/execute/async", map[string]any{
			"script": `const done = arguments[arguments.length - 1];
run(...Array.from(arguments).slice(0, -1)).then(done, e => done({error: String(e) + '\n' + document.getElementById('log').textContent}));`,
			"args": []string{wsURL, "localhost", "alice", "secret-alice", "bob@localhost/phone", fileText},
		})
		var r result
		if err != nil {
			r.Error = err.Error()
		} else if err := json.Unmarshal(v, &r); err != nil {
			r.Error = fmt.Sprintf("%s: %v", v, err)
		}
		done <- r
	}()
	// bob gets the browser's message and answers.
	el := expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "from-browser" })
	if el.AttrValue("from") != "alice@localhost/chromium" || !xmppBody(el, "hello from chromium") {
		t.Fatalf("bob got %s", el)
	}
	bob.SendRaw(chat("alice@localhost/chromium", "to-browser", "hello from Go"))
	file := expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "file" })
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the browser did not finish")
	}
	if r.Error != "" {
		t.Fatalf("browser: %s", r.Error)
	}
	if r.JID != "alice@localhost/chromium" || r.Body != "hello from Go" || r.GetStatus != 200 || r.Type != "text/plain" || r.Got != fileText {
		t.Errorf("browser result %+v", r)
	}
	// The native client downloads what the browser shared.
	url := file.Child("jabber:x:oob", "x").ChildText("jabber:x:oob", "url")
	resp, err := httpsClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != fileText {
		t.Errorf("native download of %s: %s %q", url, resp.Status, b)
	}
}

func xmppBody(el *xml.Element, want string) bool {
	return strings.TrimSpace(el.ChildText("jabber:client", "body")) == want
}
