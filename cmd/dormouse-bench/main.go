// Command dormouse-bench is a load generator for XMPP servers. It speaks
// XMPP itself (internal/xmpptest: STARTTLS or direct TLS, SCRAM, bind) and
// works against any server with pre-created accounts named by a pattern:
// Dormouse, Prosody and ejabberd are measured with it side by side
// (bench/peers.sh, docs/benchmarks.md).
//
// Scenarios (-scenario):
//
//	login       N logins with C concurrent: logins/s, latency p50/p99, round
//	            trips per login (counted once through a delaying proxy), and
//	            with -pid the server's CPU time per login
//	idle        hold N authenticated sessions (-sm: with XEP-0198 enabled);
//	            with -pid, server RSS growth per session
//	throughput  P pairs exchange chat messages addressed to each other's full
//	            JID, each sender keeping at most W in flight: delivered
//	            msgs/s, end-to-end latency p50/p99 from a timestamp in the
//	            body, and with -pid the server's CPU time per 1,000 messages;
//	            -rate R paces the senders to R msgs/s in all (latency then
//	            from each message's scheduled send time)
//
//	resume      N sessions with XEP-0198 (resume='true') each get -queue
//	            messages they read but do not acknowledge; every TCP
//	            connection is reset, then each session reconnects and
//	            resumes: TCP connect → <resumed/> latency p50/p99, round
//	            trips (one more session resumed through the delaying proxy),
//	            with -pid the server's CPU per resumption; -direct-tls for
//	            XEP-0368
//	hibernate   hold N SM sessions, reset them all without resuming, wait;
//	            with -pid, server RSS per session before login, live and
//	            hibernated; then a sample resumes to check the server kept
//	            them
//	mam         a sender sends -prefill chat messages to a receiver (both
//	            accounts from -first); once delivered, the receiver runs
//	            -queries XEP-0313 queries of each shape (last page, first
//	            page since the prefill, last page with a 'with' filter):
//	            p50/p99 per shape, each result's count checked
//	push        the tool is the XEP-0357 app server, connected as an
//	            XEP-0114 component; a client enables push and goes away
//	            (-push-mode hibernate or offline), another sends -bursts
//	            bursts of -burst messages: message → publish latency for the
//	            first message of a burst, publishes per burst. A server that
//	            does not advertise urn:xmpp:push:0 gets a result line with
//	            "unsupported": true and an exit status of 0
//
// Every connection makes a full TLS handshake (no session resumption) and,
// by default, offers only the X25519 key exchange, which all servers under
// test support, so that each does the same cryptographic work (-tls-groups
// default: Go's preference, post-quantum hybrid first).
//
// Loops are bounded (counts, -duration and a 30-minute hard limit) and the
// tool stops by itself. Every result is one JSON line on stdout; failures
// print a JSON line with "error" and exit 1 (a scenario the server does not
// support adds "unsupported": true and exits 0). The target (and the
// component listener) must be a loopback address: the tool refuses
// anything else.
//
// Every result also says how busy the machine was while measuring
// (machine_busy_cpu_s from /proc/stat, and other_cpu_s: what neither the
// generator nor the server used), so a run disturbed by other work on the
// machine can be recognized and repeated.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario    string
	label       string // free text copied to the result (e.g. the server's name)
	addr        string
	domain      string
	userPattern string // fmt pattern with one %d
	password    string // fmt pattern with one %d, or fixed
	mechanism   string
	directTLS   bool
	sasl2       bool     // resume: SASL2 + Bind 2 + FAST + inline resumption
	tlsResume   bool     // clients keep TLS session tickets
	fast        bool     // login: FAST token logins (implies sasl2)
	tokens      []string // login with -fast: each account's FAST token
	n           int
	accounts    int // accounts available (index = i % accounts); 0: n
	concurrency int
	pairs       int
	window      int
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	settle      time.Duration
	pid         int
	dbProcess   string // -db-process
	admin       string // the server's admin listener: Go heap after a GC (idle)
	noStore     bool
	sm          bool
	presence    bool
	rttProbe    bool
	idleWarmup  int
	tlsGroups   string
	tlsConfig   *tls.Config
	websocket   string // wss:// URL: connect over WebSocket instead of TCP
	tags        tags

	first         int           // first account index (resume, hibernate, mam, push)
	queue         int           // unacknowledged messages per session at the cut (resume)
	hibernateWait time.Duration // wait after the cut before reading RSS (hibernate)
	resumeCheck   int           // hibernated sessions resumed afterwards as a check (hibernate)
	hibernateAck  bool          // acknowledge the presence echo before the cut: nothing queued (hibernate)
	prefill       int           // archived messages (mam)
	queries       int           // queries per shape (mam)
	page          int           // page size (mam)
	push          pushOptions
}

// tags are -tag key=value pairs copied into the result line.
type tags map[string]string

func (t tags) String() string { return fmt.Sprint(map[string]string(t)) }

func (t tags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	t[k] = v
	return nil
}

func main() {
	o := options{tags: tags{}}
	flag.StringVar(&o.scenario, "scenario", "login", "login, idle, throughput, resume, hibernate, mam or push")
	flag.StringVar(&o.label, "label", "", "label copied into the result (e.g. the server's name)")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:5222", "server address (loopback only)")
	flag.StringVar(&o.domain, "domain", "localhost", "XMPP domain")
	flag.StringVar(&o.userPattern, "users", "bench%d", "account localpart pattern (%d = index from 0)")
	flag.StringVar(&o.password, "password", "bench%d", "password, or pattern with %d")
	flag.StringVar(&o.mechanism, "mech", "SCRAM-SHA-1", "SASL mechanism")
	flag.BoolVar(&o.directTLS, "direct-tls", false, "connect with direct TLS (XEP-0368)")
	flag.StringVar(&o.websocket, "websocket", "", "connect over XMPP over WebSocket (RFC 7395) at this wss:// URL instead of -addr")
	flag.BoolVar(&o.sasl2, "sasl2", false, "log in with SASL2 + Bind 2 and a FAST token, resume inline in SASL2 (resume)")
	flag.BoolVar(&o.fast, "fast", false, "log in with a FAST token (XEP-0484) obtained first for each account; implies -sasl2 (login)")
	flag.BoolVar(&o.tlsResume, "tls-resume", false, "keep TLS session tickets, so reconnects do abbreviated TLS handshakes")
	flag.StringVar(&o.tlsGroups, "tls-groups", "X25519", "TLS key exchange groups offered, comma-separated, or \"default\" for Go's (X25519MLKEM768 first)")
	flag.IntVar(&o.n, "n", 1000, "logins (login) or sessions (idle)")
	flag.IntVar(&o.accounts, "accounts", 0, "accounts available, bench0..bench<accounts-1> (login); 0 means -n")
	flag.IntVar(&o.concurrency, "c", 50, "concurrent logins (login, and session set-up in idle and throughput)")
	flag.IntVar(&o.pairs, "pairs", 50, "pairs of sessions (throughput)")
	flag.IntVar(&o.window, "window", 10, "messages in flight per sender (throughput)")
	flag.Float64Var(&o.rate, "rate", 0, "messages per second sent by all senders together, paced (latency then from each message's scheduled time); 0: as fast as the window allows (throughput)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement time (throughput)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "traffic before measuring starts (throughput)")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after the last session is up before reading RSS (idle)")
	flag.IntVar(&o.pid, "pid", 0, "server PID: RSS (idle) and CPU time (login, throughput) from /proc")
	flag.StringVar(&o.dbProcess, "db-process", "", "command name of the server's database processes (postgres): their CPU is reported (db_cpu_s) and not counted as other load")
	flag.StringVar(&o.admin, "admin", "", "Dormouse's admin listener (host:port, loopback): the live Go heap after a forced GC, before and after (idle)")
	flag.BoolVar(&o.noStore, "no-store", true, "mark messages <no-store/> so they are not archived (throughput)")
	flag.BoolVar(&o.sm, "sm", false, "enable XEP-0198 stream management on each session (idle)")
	flag.IntVar(&o.idleWarmup, "idle-warmup", 20, "sessions opened and closed before the server's RSS is first read (idle)")
	flag.BoolVar(&o.presence, "presence", true, "send initial presence on each session (idle)")
	flag.BoolVar(&o.rttProbe, "rtt-probe", true, "count round trips of one login through a delaying proxy first (login)")
	flag.IntVar(&o.first, "first", 0, "first account index used (resume, hibernate, mam, push; see each scenario for how many follow)")
	flag.IntVar(&o.queue, "queue", 5, "messages each session has read but not acknowledged when its connection is cut (resume)")
	flag.DurationVar(&o.hibernateWait, "hibernate-wait", 10*time.Second, "wait after cutting the sessions before reading RSS (hibernate)")
	flag.IntVar(&o.resumeCheck, "resume-check", 20, "hibernated sessions resumed at the end to check the server kept them (hibernate)")
	flag.BoolVar(&o.hibernateAck, "hibernate-ack", false, "each session reads the echo of its presence and acknowledges it before the cut, so the server queues nothing for it (hibernate: the session's own cost)")
	flag.IntVar(&o.prefill, "prefill", 2000, "messages archived before querying (mam)")
	flag.IntVar(&o.queries, "queries", 50, "queries of each shape (mam)")
	flag.IntVar(&o.page, "page", 50, "page size, RSM <max/> (mam)")
	flag.StringVar(&o.push.componentAddr, "component-addr", "127.0.0.1:5347", "the server's XEP-0114 component listener (push)")
	flag.StringVar(&o.push.domain, "component-domain", "push.localhost", "the app server's component domain (push)")
	flag.StringVar(&o.push.secret, "component-secret", "bench-push-secret", "the component's shared secret (push)")
	flag.StringVar(&o.push.mode, "push-mode", "hibernate", "where the pushed client is: hibernate (XEP-0198 session cut) or offline (stream closed) (push)")
	flag.IntVar(&o.push.bursts, "bursts", 5, "bursts of messages (push)")
	flag.IntVar(&o.push.burst, "burst", 5, "messages per burst (push)")
	flag.DurationVar(&o.push.gap, "burst-gap", 2*time.Second, "time given to each burst's publishes (push)")
	flag.Var(o.tags, "tag", "key=value copied into the result (repeatable; e.g. -tag rep=2)")
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, 30*time.Minute) // hard bound
	defer cancel2()

	start := time.Now()
	before := o.snapshot()
	res, err := run(ctx, o)
	if res == nil {
		res = map[string]any{}
	}
	res["scenario"] = o.scenario
	res["tls_groups"] = o.tlsGroups
	if o.label != "" {
		res["label"] = o.label
	}
	for k, v := range o.tags {
		res[k] = v
	}
	res["time"] = start.UTC().Format(time.RFC3339)
	res["wall_s"] = time.Since(start).Seconds()
	res["generator_cpu_s"] = (cpuTime() - before.gen).Seconds()
	res["generator_gomaxprocs"] = runtime.GOMAXPROCS(0)
	res["loadavg_start"] = before.load
	res["loadavg_end"] = loadavg()
	if err != nil {
		res["error"] = err.Error()
	}
	if errors.Is(err, errUnsupported) {
		res["unsupported"] = true
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if err != nil && !errors.Is(err, errUnsupported) {
		fmt.Fprintln(os.Stderr, "dormouse-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (map[string]any, error) {
	if err := checkLoopback(o.addr); err != nil {
		return nil, err
	}
	var err error
	if o.tlsConfig, err = newTLSConfig(o.domain, o.tlsGroups); err != nil {
		return nil, err
	}
	if o.tlsResume {
		o.tlsConfig.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	if o.n < 1 || o.concurrency < 1 || o.pairs < 1 || o.window < 1 || o.duration <= 0 {
		return nil, errors.New("-n, -c, -pairs, -window and -duration must be positive")
	}
	if o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0) {
		return nil, errors.New("-rate must be 0 (unpaced) or a positive number of messages per second")
	}
	if o.pid != 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", o.pid)); err != nil {
			return nil, fmt.Errorf("-pid %d: %w", o.pid, err)
		}
	}
	switch o.scenario {
	case "login":
		return runLogin(ctx, o)
	case "idle":
		if o.admin != "" {
			if err := checkLoopback(o.admin); err != nil {
				return nil, err
			}
		}
		return runIdle(ctx, o)
	case "throughput":
		return runThroughput(ctx, o)
	case "resume":
		return runResume(ctx, o)
	case "hibernate":
		return runHibernate(ctx, o)
	case "mam":
		if o.prefill < 1 || o.queries < 1 || o.page < 1 {
			return nil, errors.New("-prefill, -queries and -page must be positive")
		}
		return runMAM(ctx, o)
	case "push":
		if o.push.bursts < 1 || o.push.burst < 1 || o.push.gap <= 0 {
			return nil, errors.New("-bursts, -burst and -burst-gap must be positive")
		}
		if err := checkLoopback(o.push.componentAddr); err != nil {
			return nil, err
		}
		return runPush(ctx, o)
	}
	return nil, fmt.Errorf("unknown scenario %q", o.scenario)
}

// checkLoopback refuses targets that are not on this machine's loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("-addr %q: %s is not a loopback address; this tool only loads servers on this machine", addr, ip)
		}
	}
	return nil
}

func (o options) user(i int) string { return fmt.Sprintf(o.userPattern, i) }

func (o options) pass(i int) string {
	if strings.Contains(o.password, "%d") {
		return fmt.Sprintf(o.password, i)
	}
	return o.password
}
