// Command dormouse-bench is a load generator for XMPP servers. It speaks
// XMPP itself (internal/xmpptest: STARTTLS or direct TLS, SCRAM, bind) and
// works against any server with pre-created accounts named by a pattern.
//
// Scenarios (-scenario):
//
//	login       N logins with C concurrent: logins/s, latency p50/p99
//	idle        hold N authenticated sessions; with -pid, server RSS per session
//	throughput  P pairs exchange chat messages with a window W: msgs/s, latency p50/p99
//
// Loops are bounded (counts and -duration) and the tool stops by itself.
// Every result is one JSON line on stdout. Target only servers you run on
// this machine (loopback).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

type options struct {
	scenario    string
	addr        string
	domain      string
	userPattern string // fmt pattern with one %d
	password    string // fmt pattern with one %d, or fixed
	mechanism   string
	directTLS   bool
	n           int
	concurrency int
	pairs       int
	window      int
	duration    time.Duration
	pid         int
	noStore     bool
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "login", "login, idle or throughput")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:5222", "server address (loopback only)")
	flag.StringVar(&o.domain, "domain", "localhost", "XMPP domain")
	flag.StringVar(&o.userPattern, "users", "bench%d", "account localpart pattern (%d = index from 0)")
	flag.StringVar(&o.password, "password", "bench%d", "password, or pattern with %d")
	flag.StringVar(&o.mechanism, "mech", "SCRAM-SHA-1", "SASL mechanism")
	flag.BoolVar(&o.directTLS, "direct-tls", false, "connect with direct TLS (XEP-0368)")
	flag.IntVar(&o.n, "n", 1000, "logins (login) or sessions (idle)")
	flag.IntVar(&o.concurrency, "c", 50, "concurrent logins")
	flag.IntVar(&o.pairs, "pairs", 50, "pairs of sessions (throughput)")
	flag.IntVar(&o.window, "window", 10, "messages in flight per pair (throughput)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement time (throughput, idle hold)")
	flag.IntVar(&o.pid, "pid", 0, "server PID, to read its RSS (idle)")
	flag.BoolVar(&o.noStore, "no-store", true, "mark messages <no-store/> (throughput)")
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, 30*time.Minute) // hard bound
	defer cancel2()

	var res map[string]any
	var err error
	start := time.Now()
	cpu0 := cpuTime()
	switch o.scenario {
	case "login":
		res, err = runLogin(ctx, o)
	case "idle":
		res, err = runIdle(ctx, o)
	case "throughput":
		res, err = runThroughput(ctx, o)
	default:
		err = fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dormouse-bench:", err)
		os.Exit(1)
	}
	res["scenario"] = o.scenario
	res["wall_s"] = time.Since(start).Seconds()
	res["generator_cpu_s"] = (cpuTime() - cpu0).Seconds()
	res["generator_gomaxprocs"] = runtime.GOMAXPROCS(0)
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func (o options) user(i int) string { return fmt.Sprintf(o.userPattern, i) }

func (o options) pass(i int) string {
	if containsVerb(o.password) {
		return fmt.Sprintf(o.password, i)
	}
	return o.password
}

func containsVerb(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' && s[i+1] == 'd' {
			return true
		}
	}
	return false
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
