package apikey

import (
	"testing"
	"unsafe"
)

// The request context is one allocation in the 64-byte size class: the
// decision's state must fit in it.
func TestAuthContextSize(t *testing.T) {
	if n := unsafe.Sizeof(authContext{}); n > 64 {
		t.Errorf("authContext is %d bytes, want ≤ 64", n)
	}
}
