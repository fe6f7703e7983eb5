package roster_test

import (
	"testing"
	"time"

	"dormouse.im/dormouse/roster"
)

func TestTmpTiming(t *testing.T) {
	start := time.Now()
	e := newEnv(t, roster.Config{}, "alice@localhost")
	t.Logf("setup %v", time.Since(start))
	start = time.Now()
	e.online("alice@localhost/phone")
	t.Logf("online %v", time.Since(start))
	t.Cleanup(func() { start = time.Now() })
	t.Cleanup(func() {})
}
