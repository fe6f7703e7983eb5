package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

// requestSlot asks upload.localhost for a slot; it returns the PUT and GET
// URLs, or the error stanza.
func requestSlot(t *testing.T, c *xmpptest.Client, id, name string, size int, ctype string) (put, get string, errEl *xml.Element) {
	t.Helper()
	res, err := c.IQ(id, fmt.Sprintf("<iq type='get' to='upload.localhost' id='%s'><request xmlns='urn:xmpp:http:upload:0' filename='%s' size='%d' content-type='%s'/></iq>", id, name, size, ctype))
	if err != nil {
		t.Fatal(err)
	}
	if res.AttrValue("type") == "error" {
		return "", "", res
	}
	slot := res.Child("urn:xmpp:http:upload:0", "slot")
	if slot == nil {
		t.Fatalf("no slot: %s", res)
	}
	return slot.Child("urn:xmpp:http:upload:0", "put").AttrValue("url"), slot.Child("urn:xmpp:http:upload:0", "get").AttrValue("url"), nil
}

func doPUT(t *testing.T, u string, body []byte, ctype string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := httpsClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestUpload: XEP-0363 end to end over TLS: disco#info with the size limit,
// a slot, the PUT, a GET by another (native) client with the headers and
// ranges, and the refusals: a tampered or reused slot, a wrong length, a
// file too large, the quota.
func TestUpload(t *testing.T) {
	ts := start(t, func(c *config.Config) {
		c.Upload.MaxFileSize = 1000
		c.Upload.Quota = 1500
	})
	ts.users("alice", "bob")
	alice := ts.dial("alice", "phone")

	info, err := alice.IQ("d1", "<iq type='get' to='upload.localhost' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"var='urn:xmpp:http:upload:0'", "category='store'", "<value>1000</value>", "var='max-file-size'"} {
		if !xmpptest.Contains(info, s) {
			t.Errorf("disco#info lacks %s: %s", s, info)
		}
	}
	items, err := alice.IQ("d2", "<iq type='get' to='localhost' id='d2'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if err != nil || !xmpptest.Contains(items, "jid='upload.localhost'") {
		t.Errorf("disco#items of the server: %s %v", items, err)
	}

	body := bytes.Repeat([]byte("0123456789"), 80)
	put, get, errEl := requestSlot(t, alice, "s1", "ünï cödé.jpg", len(body), "image/jpeg")
	if errEl != nil {
		t.Fatal(errEl)
	}
	if !strings.HasPrefix(get, "https://localhost:") || !strings.HasPrefix(put, get+"?") {
		t.Fatalf("urls %s %s", put, get)
	}
	// Tampered: the size changed.
	tampered := strings.Replace(put, "size=800", "size=900", 1)
	if r := doPUT(t, tampered, append(body, body[:100]...), "image/jpeg"); r.StatusCode != http.StatusForbidden {
		t.Errorf("tampered slot: %s", r.Status)
	}
	if r := doPUT(t, put, body[:700], "image/jpeg"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("short body: %s", r.Status)
	}
	if r := doPUT(t, put, body, "text/html"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("other content type: %s", r.Status)
	}
	if r := doPUT(t, put, body, "image/jpeg"); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", r.Status)
	}
	if r := doPUT(t, put, body, "image/jpeg"); r.StatusCode != http.StatusConflict {
		t.Errorf("slot reused: %s", r.Status)
	}

	// bob's native client downloads it.
	resp, err := httpsClient().Get(get)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("GET: %s, %d bytes", resp.Status, len(got))
	}
	h := resp.Header
	if h.Get("Content-Type") != "image/jpeg" || h.Get("Content-Length") != "800" || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "inline; filename*=utf-8''") || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET headers %v", h)
	}
	req, _ := http.NewRequest(http.MethodGet, get, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err = httpsClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != "0123456789" || resp.Header.Get("Content-Range") != "bytes 10-19/800" {
		t.Errorf("range: %s %q %v", resp.Status, got, resp.Header)
	}
	if r, err := httpsClient().Get(get + "x"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("another name: %v %v", r, err)
	}

	// Limits.
	if _, _, e := requestSlot(t, alice, "s2", "big.bin", 1001, "application/octet-stream"); e == nil ||
		xmpptest.ErrorCondition(e) != "not-acceptable" || !xmpptest.Contains(e, "<max-file-size>1000</max-file-size>") {
		t.Errorf("too large: %v", e)
	}
	if _, _, e := requestSlot(t, alice, "s3", "more.bin", 800, "application/octet-stream"); e == nil || xmpptest.ErrorCondition(e) != "resource-constraint" {
		t.Errorf("over quota: %v", e)
	}
	// Two slots granted within the quota, the second PUT goes over.
	p1, _, e1 := requestSlot(t, alice, "s4", "a.txt", 400, "text/plain")
	p2, _, e2 := requestSlot(t, alice, "s5", "b.txt", 400, "text/plain")
	if e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
	if r := doPUT(t, p1, body[:400], "text/plain"); r.StatusCode != http.StatusCreated {
		t.Errorf("within quota: %s", r.Status)
	}
	if r := doPUT(t, p2, body[:400], "text/plain"); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("over quota at PUT: %s", r.Status)
	}
}
