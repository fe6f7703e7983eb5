// Package natstest gives tests the NATS server they run against (CI runs
// one at 127.0.0.1:4222) and subject prefixes of their own, so that tests
// running in parallel, here or on other machines sharing the server,
// never hear each other.
package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Env names the NATS server address tests use instead of 127.0.0.1:4222.
const Env = "DORMOUSE_TEST_NATS"

// Addr returns the host:port of the test NATS server. Without one it
// skips the test, or fails it when CI is set (CI provides NATS).
func Addr(tb testing.TB) string {
	tb.Helper()
	addr := strings.TrimPrefix(os.Getenv(Env), "nats://")
	if addr == "" {
		addr = "127.0.0.1:4222"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("natstest: NATS at %s is not reachable on CI: %v", addr, err)
		}
		tb.Skipf("skipping: no NATS server at %s (run nats-server, or set %s)", addr, Env)
	}
	c.Close()
	return addr
}

// URL is Addr as a nats:// URL.
func URL(tb testing.TB) string {
	tb.Helper()
	return "nats://" + Addr(tb)
}

// Prefix returns a new random subject prefix.
func Prefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "dormouse_test_" + hex.EncodeToString(b[:])
}
