package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
)

// Measurements for the closing note of the stream management work. They
// are gated by environment variables because they take a while or print
// numbers rather than check behaviour:
//
//	DORMOUSE_SM_MEASURE=1 go test ./server -run TestSMMeasureResume -v
//	DORMOUSE_SM_MEM=10000 go test ./server -run TestSMMeasureMemory -v -timeout 30m
//	go test ./server -run '^$' -bench BenchmarkSMThroughput

// countingConn counts the client's round trips: each time it reads after
// having written, it waits for the server once.
type countingConn struct {
	net.Conn
	wrote bool
	trips *atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.wrote = true
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	if c.wrote {
		c.trips.Add(1)
		c.wrote = false
	}
	return c.Conn.Read(p)
}

// delayProxy forwards TCP connections to addr, delaying every chunk by
// oneWay in each direction (an RTT of 2*oneWay).
func delayProxy(t *testing.T, addr string, oneWay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pump := func(dst, src net.Conn) {
		type chunk struct {
			b  []byte
			at time.Time
		}
		ch := make(chan chunk, 1024)
		go func() {
			for c := range ch {
				time.Sleep(time.Until(c.at))
				if _, err := dst.Write(c.b); err != nil {
					break
				}
			}
			dst.Close()
		}()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(oneWay)}
			}
			if err != nil {
				close(ch)
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go pump(s, c)
			go pump(c, s)
		}
	}()
	return l.Addr().String()
}

// TestSMMeasureResume measures the time and the client's round trips from
// TCP connect to <resumed/>, over STARTTLS and direct TLS, on loopback and
// through a proxy adding a 50 ms round trip.
func TestSMMeasureResume(t *testing.T) {
	if os.Getenv("DORMOUSE_SM_MEASURE") == "" {
		t.Skip("set DORMOUSE_SM_MEASURE=1")
	}
	ts := startSM(t, nil, nil, nil)
	ts.users("alice")
	for _, direct := range []bool{false, true} {
		for _, rtt := range []time.Duration{0, 50 * time.Millisecond} {
			addr := ts.addr("c2s")
			if direct {
				addr = ts.addr("c2s_tls")
			}
			if rtt > 0 {
				addr = delayProxy(t, addr, rtt/2)
			}
			const runs = 20
			var total time.Duration
			var trips int32
			for range runs {
				c := ts.dialSM("alice", "phone")
				c.Cut()
				waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
				var n atomic.Int32
				o := xmpptest.Options{
					Addr: addr, Domain: "localhost", User: "alice", Password: "secret-alice",
					DirectTLS: direct, Resume: c.SM, Timeout: 10 * time.Second,
					Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
						nc, err := (&net.Dialer{}).DialContext(ctx, network, a)
						if err != nil {
							return nil, err
						}
						return &countingConn{Conn: nc, trips: &n}, nil
					},
				}
				start := time.Now()
				rc, err := xmpptest.Dial(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				total += time.Since(start)
				trips = n.Load()
				rc.Close()
				waitFor(t, "end", func() bool { return ts.SessionsForTest().Stats().Resumable == 0 })
			}
			mode := "STARTTLS"
			if direct {
				mode = "direct TLS"
			}
			// +1: the TCP handshake.
			t.Logf("%-10s added RTT %-5v: connect → <resumed/> %8v average over %d, %d round trips (TCP 1 + client waits %d)",
				mode, rtt, (total / runs).Round(10*time.Microsecond), runs, trips+1, trips)
		}
	}
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memAfterGC returns the runtime's memory statistics and the RSS after
// two collections (sync.Pool victims gone) and returning free pages.
func memAfterGC() (runtime.MemStats, int64) {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, rss()
}

// startQuiet starts a server that logs nothing (test logs are kept in
// memory and would be measured).
func startQuiet(t *testing.T) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	// This measures memory, not the disk: one sender's messages are each
	// archived in a commit of their own, which with synchronous=FULL
	// waits for a disk sync (10,000 of them outlast the test's timeouts).
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db") + "?synchronous=normal"
	cfg.C2S.Listen, cfg.C2S.TLSListen, cfg.Components.Listen, cfg.Admin.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0", "", "", ""
	cfg.S2S.Listen = ""
	cfg.C2S.StanzaRate, cfg.C2S.StanzaBurst, cfg.C2S.MaxConnectionsPerIP = 1_000_000, 1_000_000, 0
	srv, err := server.New(context.Background(), cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, cfg: cfg}
	t.Cleanup(ts.stop)
	return ts
}

// TestSMMeasureMemory hibernates DORMOUSE_SM_MEM sessions (each with
// resumption enabled and one queued message) and reports the heap and RSS
// growth per hibernated session, and the goroutines they hold (none).
func TestSMMeasureMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DORMOUSE_SM_MEM"))
	if n <= 0 {
		t.Skip("set DORMOUSE_SM_MEM=10000")
	}
	ts := startQuiet(t)
	const accounts = 100
	for i := range accounts {
		ts.addUser(fmt.Sprintf("u%d", i), "secret-u")
	}
	ts.users("bob")
	bob := ts.dial("bob", "pc")
	// Warm up: one session of each kind, so pools and maps exist.
	w, _ := ts.dialErr(xmpptest.Options{User: "u0", Password: "secret-u", Resource: "warm", SM: true})
	w.Cut()
	waitFor(t, "warm-up hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	time.Sleep(200 * time.Millisecond)
	g0 := runtime.NumGoroutine()
	m0, r0 := memAfterGC()

	var wg sync.WaitGroup
	var failed atomic.Int32
	next := atomic.Int64{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				u := fmt.Sprintf("u%d", i%accounts)
				c, err := ts.dialErr(xmpptest.Options{User: u, Password: "secret-u", Resource: fmt.Sprintf("r%d", i), SM: true})
				if err != nil {
					failed.Add(1)
					continue
				}
				c.Cut()
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d logins failed", failed.Load())
	}
	deadline := time.Now().Add(time.Minute)
	for ts.SessionsForTest().Stats().Hibernated < int64(n+1) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// The sessions alone, then one message queued for each.
	time.Sleep(500 * time.Millisecond) // let closed client connections settle
	mS, rS := memAfterGC()
	for i := range n {
		bob.Sendf("<message to='u%d@localhost/r%d' type='chat'><body>hello %d</body></message>", i%accounts, i, i)
	}
	if _, err := bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let closed client connections and timers settle
	g1 := runtime.NumGoroutine()
	m1, r1 := memAfterGC()
	h0, h1 := m0.HeapInuse, m1.HeapInuse
	if path := os.Getenv("DORMOUSE_SM_MEMPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	st := ts.SessionsForTest().Stats()
	per := func(a, b uint64) int64 { return (int64(b) - int64(a)) / int64(n) }
	t.Logf("%d hibernated sessions (%d accounts), each with 1 queued message: heap in use +%.1f MiB (%d B/session), RSS +%.1f MiB (%d B/session), goroutines %d → %d",
		st.Hibernated-1, accounts, float64(h1-h0)/(1<<20), int64(h1-h0)/int64(n), float64(r1-r0)/(1<<20), (r1-r0)/int64(n), g0, g1)
	t.Logf("per hibernated session: live heap objects (HeapAlloc) %d B without its queue + %d B for the queued message; heap in use (HeapInuse, spans) %d B + %d B; RSS %d B + %d B",
		per(m0.HeapAlloc, mS.HeapAlloc), per(mS.HeapAlloc, m1.HeapAlloc), per(m0.HeapInuse, mS.HeapInuse), per(mS.HeapInuse, m1.HeapInuse),
		(rS-r0)/int64(n), (r1-rS)/int64(n))
	if g1-g0 > 20 {
		t.Errorf("hibernated sessions hold goroutines: %d → %d", g0, g1)
	}
	_ = io.EOF
}

// benchServer starts a server for benchmarks (the test helpers take a
// *testing.T).
func benchServer(b *testing.B, users ...string) *server.Server {
	b.Helper()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db")
	cfg.C2S.Listen, cfg.C2S.TLSListen, cfg.Components.Listen, cfg.Admin.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0", "", "", ""
	cfg.S2S.Listen = ""
	cfg.C2S.StanzaRate, cfg.C2S.StanzaBurst = 1_000_000, 1_000_000
	if os.Getenv("DORMOUSE_BENCH_ARCHIVE") == "" {
		cfg.MAM.Default = "never" // measure the session path, not the archive's disk writes
	}
	srv, err := server.New(context.Background(), cfg, "bench", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, u := range users {
		c, err := auth.NewCredentials("secret-"+u, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Stores.Accounts.CreateAccount(context.Background(), u+"@localhost", c); err != nil {
			b.Fatal(err)
		}
	}
	return srv
}

// BenchmarkSMThroughput measures message throughput alice → bob over real
// sockets, without stream management and with it on both streams (the
// server counts alice's stanzas, queues bob's until acknowledged and asks
// bob for acks every 5 stanzas; bob answers each <r/>).
func BenchmarkSMThroughput(b *testing.B) {
	for _, withSM := range []bool{false, true} {
		name := "plain"
		if withSM {
			name = "sm"
		}
		b.Run(name, func(b *testing.B) {
			srv := benchServer(b, "alice", "bob")
			dial := func(u string) *xmpptest.Client {
				c, err := xmpptest.Dial(context.Background(), xmpptest.Options{
					Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost",
					User: u, Password: "secret-" + u, Resource: "r", SM: withSM,
				})
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			alice, bob := dial("alice"), dial("bob")
			defer alice.Close()
			defer bob.Close()
			msg := "<message to='bob@localhost/r' type='chat'><body>The quick brown fox jumps over the lazy dog; 64 bytes of text.</body></message>"
			done := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for got := 0; got < b.N; {
					el, err := bob.Next()
					if err != nil {
						done <- err
						return
					}
					if el.Name.Local == "message" {
						got++
					}
				}
				done <- nil
			}()
			const batch = 16
			burst := strings.Repeat(msg, batch)
			for i := 0; i < b.N; i += batch {
				s := burst
				if b.N-i < batch {
					s = strings.Repeat(msg, b.N-i)
				}
				if err := alice.SendRaw(s); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkLogin measures whole logins over real sockets: TCP, STARTTLS,
// SCRAM-SHA-256, bind and the closing of the stream. Client and server run
// in this process, so the time and the allocations are both sides'; compare
// runs of the same code before and after a change.
func BenchmarkLogin(b *testing.B) {
	srv := benchServer(b, "alice")
	o := xmpptest.Options{
		Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost",
		User: "alice", Password: "secret-alice", Resource: "r",
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := xmpptest.Dial(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
