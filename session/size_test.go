package session

import (
	"testing"
	"unsafe"
)

// TestStructSizes keeps a parked connection's Conn and a hibernated
// Session within their allocation size classes (448 and 256 bytes): one
// field too many, or bools spread between words, moves every idle or
// hibernated session to the next class (+32 bytes each). If a field is
// needed, measure again (DORMOUSE_SM_MEM, README) and raise the limit here.
func TestStructSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"Conn", unsafe.Sizeof(Conn{}), 448},
		{"Session", unsafe.Sizeof(Session{}), 256},
		{"hibEntry", unsafe.Sizeof(hibEntry{}), 32},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, over its size class of %d", tc.name, tc.size, tc.max)
		}
	}
}
