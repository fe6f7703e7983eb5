package s2s

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/testca"
	"dormouse.im/dormouse/stanza"
)

// countRouter counts routed stanzas and signals when want arrived.
type countRouter struct {
	fakeRouter
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (r *countRouter) Route(_ context.Context, _ *stanza.Stanza) {
	if r.n.Add(1) == r.want {
		close(r.done)
	}
}

// benchPair starts b.example (counting what it receives) and a service
// for a.example (and the extra local domains) reaching it over SRV
// records that point to loopback.
func benchPair(b *testing.B, extra ...string) (a *Service, recv *countRouter, cleanup func()) {
	ca := testca.New(b)
	names := append([]string{"a.example"}, extra...)
	acert, _, _ := ca.Issue(b, names...)
	bcert, _, _ := ca.Issue(b, "b.example")
	recv = &countRouter{fakeRouter: *newFakeRouter("b.example")}
	bs := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{bcert}}, RootCAs: ca.Pool(), Secret: []byte("b"), MaxConnectionsPerIP: 1000}, recv, noDNS{}, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = bs.Serve(l, false) }()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	dns := srvDNS{
		srv:  map[string][]*net.SRV{"xmpp-server b.example": {{Target: "xmpp.b.example.", Port: port}}},
		addr: map[string][]net.IPAddr{"xmpp.b.example": {{IP: net.IPv4(127, 0, 0, 1)}}},
	}
	a = New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{acert}}, RootCAs: ca.Pool(), Secret: []byte("a"), MaxQueue: 1 << 20},
		newFakeRouter(names...), dns, nil)
	return a, recv, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		_ = bs.Shutdown(ctx)
	}
}

// wait waits for ch, failing the benchmark after a minute.
func wait(b *testing.B, ch <-chan struct{}) {
	select {
	case <-ch:
	case <-time.After(time.Minute):
		b.Fatal("timed out")
	}
}

// Messages per second through one stream, from Send on one server to
// Route on the other (TLS 1.3 on loopback).
func BenchmarkStreamThroughput(b *testing.B) {
	a, recv, cleanup := benchPair(b)
	defer cleanup()
	st := msg(b, "alice@a.example/phone", "bob@b.example")
	// Set the stream up before timing.
	recv.want, recv.done = 1, make(chan struct{})
	if err := a.Send(context.Background(), st); err != nil {
		b.Fatal(err)
	}
	wait(b, recv.done)
	recv.n.Store(0)
	recv.want, recv.done = int64(b.N), make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for a.Send(context.Background(), st) != nil {
			time.Sleep(time.Millisecond) // queue full: let the writer drain
		}
	}
	wait(b, recv.done)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// Setting up a stream: SRV lookup, TCP, STARTTLS, certificate checks, SASL
// EXTERNAL and the stream restart, then closing it.
func BenchmarkStreamSetup(b *testing.B) {
	a, _, cleanup := benchPair(b)
	defer cleanup()
	b.ReportAllocs()
	for range b.N {
		if err := a.Check(context.Background(), "a.example", "b.example", func(string) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// Memory of an idle authenticated stream: both ends (the outgoing stream
// of one server and the incoming stream of the other) in one process.
func BenchmarkIdleStreamMemory(b *testing.B) {
	const n = 100
	var extra []string
	for i := range n {
		extra = append(extra, "d"+strconv.Itoa(i)+".a.example")
	}
	a, recv, cleanup := benchPair(b, extra...)
	defer cleanup()
	recv.want, recv.done = n, make(chan struct{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, d := range extra {
		if err := a.Send(context.Background(), msg(b, "u@"+d, "bob@b.example")); err != nil {
			b.Fatal(err)
		}
	}
	wait(b, recv.done)
	time.Sleep(100 * time.Millisecond)
	for range b.N {
		runtime.GC()
	}
	runtime.ReadMemStats(&after)
	if got := len(a.Streams()); got != n {
		b.Fatalf("%d streams", got)
	}
	per := float64(after.HeapInuse-before.HeapInuse) / n
	b.ReportMetric(per, "heap-bytes/stream-pair")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}
