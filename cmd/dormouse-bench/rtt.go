package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
)

// probeDelay is the one-way delay the round-trip probe adds in each
// direction. It makes the count independent of how fast the server
// answers: with it, everything a client sends without waiting (TLS
// Finished and the next stream header, say) reaches the proxy long before
// any answer can come back, so data the server sends unprompted (TLS 1.3
// session tickets) never splits a client flight in two.
const probeDelay = 5 * time.Millisecond

// countRoundTrips runs dial once (a login, or a resumption) through a
// loopback proxy that delays every chunk by probeDelay in each direction
// and watches the client side of the connection. A round trip is a client
// flight answered by the server: one is counted each time data reaches the
// client after the client last sent something. The TCP handshake counts as
// one more. Closing the stream is not counted (the client does not wait
// for the server's answer).
//
// It returns the round trips, the time dial took through the proxy (about
// round trips × 2 × probeDelay plus processing), and the negotiated TLS
// version, cipher suite and key exchange.
func countRoundTrips(ctx context.Context, o options, dial func(po options) (*xmpptest.Client, error)) (rt int, d time.Duration, tlsInfo string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, "", err
	}
	defer ln.Close()

	var mu sync.Mutex
	var clientSent bool // the client sent something since it last received
	var answered int
	note := func(fromClient bool) {
		mu.Lock()
		defer mu.Unlock()
		if fromClient {
			clientSent = true
		} else if clientSent {
			clientSent = false
			answered++
		}
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cc, err := ln.Accept()
		if err != nil {
			return
		}
		defer cc.Close()
		sc, err := net.Dial("tcp", o.addr)
		if err != nil {
			return
		}
		defer sc.Close()
		go func() { <-done; cc.Close(); sc.Close() }() // count taken: tear down
		var pw sync.WaitGroup
		pw.Add(2)
		go func() { defer pw.Done(); delayCopy(sc, cc, func() { note(true) }, nil, done) }()
		go func() { defer pw.Done(); delayCopy(cc, sc, nil, func() { note(false) }, done) }()
		pw.Wait()
	}()
	defer wg.Wait()
	defer close(done)

	po := o
	po.addr = ln.Addr().String()
	t0 := time.Now()
	c, err := dial(po)
	if err != nil {
		return 0, 0, "", fmt.Errorf("round-trip probe: %w", err)
	}
	d = time.Since(t0)
	if tc, ok := c.Conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		tlsInfo = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite) + " " + st.CurveID.String()
		if st.DidResume {
			tlsInfo += " resumed"
		}
	}
	// Let anything in flight settle before reading the count, then close.
	time.Sleep(4 * probeDelay)
	mu.Lock()
	rt = answered + 1 // + the TCP handshake
	mu.Unlock()
	c.Conn.Close()
	return rt, d, tlsInfo, nil
}

// delayCopy copies src to dst, delivering each chunk probeDelay after it
// was read. onRead is called when a chunk is read from src, onWrite just
// before it is written to dst.
func delayCopy(dst, src net.Conn, onRead, onWrite func(), done <-chan struct{}) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				if onRead != nil {
					onRead()
				}
				select {
				case ch <- chunk{buf[:n], time.Now().Add(probeDelay)}:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		if w := time.Until(c.at); w > 0 {
			time.Sleep(w)
		}
		if onWrite != nil {
			onWrite()
		}
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	// Half-close so the other direction sees EOF and the proxy winds down.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
