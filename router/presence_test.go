package router_test

import (
	"strings"
	"testing"
	"unsafe"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
)

// TestSetLastPresence: the packed presence, its priority and its
// capabilities' verification string (SHA-1 only), sharing the packed
// bytes unless the value needed escaping.
func TestSetLastPresence(t *testing.T) {
	const caps = "<c xmlns='http://jabber.org/protocol/caps' "
	for i, tc := range []struct {
		in      string
		prio    int8
		ver     string
		sharing bool
	}{
		0: {in: "<presence/>"},
		1: {in: "<presence><priority>-5</priority>" + caps + "hash='sha-1' node='n' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>",
			prio: -5, ver: "q07IKJEyjvHSyhy//CH0CxmKi8w=", sharing: true},
		2: {in: "<presence>" + caps + "hash='md5' node='n' ver='abc'/></presence>"},
		3: {in: "<presence>" + caps + "node='n' ver='abc'/></presence>"},
		4: {in: "<presence>" + caps + "hash='sha-1' node='n' ver='a&amp;b'/></presence>", ver: "a&b"},
		5: {in: "<presence><priority>300</priority><x xmlns='urn:x'>" + caps + "hash='sha-1' ver='nested'/></x></presence>"},
	} {
		var x router.Resource
		x.SetLastPresence(routertest.Parse(t, tc.in))
		if x.Presence != tc.in || x.Priority != tc.prio || x.CapsVer != tc.ver {
			t.Errorf("%d: presence %q priority %d caps %q; want %q %d %q", i, x.Presence, x.Priority, x.CapsVer, tc.in, tc.prio, tc.ver)
		}
		shares := x.CapsVer != "" && strings.Contains(x.Presence, x.CapsVer) &&
			unsafe.StringData(x.CapsVer) == unsafe.StringData(x.Presence[strings.Index(x.Presence, x.CapsVer):])
		if shares != tc.sharing {
			t.Errorf("%d: verification string shares the packed bytes: %v, want %v", i, shares, tc.sharing)
		}
	}
}
