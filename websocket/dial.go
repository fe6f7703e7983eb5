package websocket

import (
	"context"
	"fmt"
	"net"
	"net/http"

	ws "github.com/coder/websocket"
)

// Dial opens an XMPP stream over the WebSocket at url for a client (tests,
// the load tool) and returns it as the byte stream of a classic XML stream:
// the translation is symmetric, so a client speaking RFC 6120 streams (a
// stream header, then elements) works over it unchanged. httpClient may be
// nil (http.DefaultClient); header is sent with the upgrade request (an
// Origin, say). Closing the connection closes the WebSocket at once.
func Dial(ctx context.Context, url string, httpClient *http.Client, header http.Header) (net.Conn, error) {
	c, resp, err := ws.Dial(ctx, url, &ws.DialOptions{
		HTTPClient:   httpClient,
		HTTPHeader:   header,
		Subprotocols: []string{Protocol},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket: dial %s: %s: %w", url, resp.Status, err)
		}
		return nil, fmt.Errorf("websocket: dial %s: %w", url, err)
	}
	if c.Subprotocol() != Protocol {
		_ = c.CloseNow()
		return nil, fmt.Errorf("websocket: the server did not accept the %q subprotocol", Protocol)
	}
	c.SetReadLimit(-1)
	nc := newConn(c, dialAddr{url}, dialAddr{url})
	ctx, cancel := context.WithCancel(context.Background())
	go nc.pump(ctx)
	go func() {
		<-nc.closed
		cancel()
		_ = c.CloseNow()
	}()
	return nc, nil
}

type dialAddr struct{ url string }

func (a dialAddr) Network() string { return "websocket" }
func (a dialAddr) String() string  { return a.url }
