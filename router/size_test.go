package router

import (
	"testing"
	"unsafe"
)

// TestResourceSize keeps a bound resource's entry in the 96-byte size
// class: every session, live or hibernated, has one.
func TestResourceSize(t *testing.T) {
	if n := unsafe.Sizeof(Resource{}); n > 96 {
		t.Errorf("Resource is %d bytes, over its size class of 96", n)
	}
}
