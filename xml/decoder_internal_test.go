package xml

import (
	"io"
	"strings"
	"testing"
)

// TestBufferLifecycle checks the buffer management that the public API
// cannot observe: Release drops the buffer, a buffer grown for a large
// element is given up afterwards, and whitespace is not buffered.
func TestBufferLifecycle(t *testing.T) {
	const hdr = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	big := "<message><body>" + strings.Repeat("x", 100000) + "</body></message>"
	ws := strings.Repeat(" ", 1<<20)
	d := NewDecoder(io.MultiReader(
		strings.NewReader(hdr),
		strings.NewReader(big),
		strings.NewReader("<presence/>"),
		strings.NewReader(ws),
		strings.NewReader("<iq/>"),
	), Limits{})
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	if d.buf == nil || len(d.buf) != poolBufSize {
		t.Fatalf("buffer of %d bytes after the header", len(d.buf))
	}
	d.Release()
	if d.buf != nil || d.bufp != nil {
		t.Fatal("Release kept the buffer")
	}

	el, err := d.Next()
	if err != nil || len(el.Text()) != 0 || len(el.Child("jabber:client", "body").Text()) != 100000 {
		t.Fatalf("got %v", err)
	}
	if len(d.buf) != poolBufSize {
		t.Errorf("buffer of %d bytes kept after a large element", len(d.buf))
	}
	if el, err = d.Next(); err != nil || el.Name.Local != "presence" {
		t.Fatalf("got %v, %v", el, err)
	}
	if el, err = d.Next(); err != nil || el.Name.Local != "iq" {
		t.Fatalf("got %v, %v", el, err)
	}
	if len(d.buf) != poolBufSize {
		t.Errorf("buffer of %d bytes after skipping whitespace", len(d.buf))
	}

	// A partial element survives Release in a small private copy.
	d.Reset(strings.NewReader(hdr + "<message><bo"))
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
	d.Release()
	if len(d.buf) != len("<message><bo") || d.bufp != nil {
		t.Fatalf("kept %d bytes", len(d.buf))
	}
	d.r = strings.NewReader("dy>hi</body></message>")
	if el, err := d.Next(); err != nil || el.ChildText("jabber:client", "body") != "hi" {
		t.Fatalf("got %v, %v", el, err)
	}

	// The parser goes back to the pool, and its scratch space keeps
	// nothing.
	ps := d.ps
	d.Release()
	if d.ps != nil {
		t.Fatal("Release kept the parser")
	}
	for _, n := range ps.scratch[:cap(ps.scratch)] {
		if n != (Node{}) {
			t.Fatal("scratch space not cleared")
		}
	}
	for _, f := range ps.stack[:cap(ps.stack)] {
		if f != (frame{}) {
			t.Fatal("stack not cleared")
		}
	}
}
