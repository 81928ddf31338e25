package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/keyward/apikey"
)

// BenchByDigest inserts n records into s, then measures ByDigest of them in
// a scattered order. It is a cold lookup: nothing caches in front of s.
func BenchByDigest(b *testing.B, s apikey.Store, n int) {
	b.Helper()
	ctx := context.Background()
	digests := make([]apikey.Digest, n)
	for i := range digests {
		rec := Record(fmt.Sprintf("bench %d", i))
		if err := s.Insert(ctx, rec); err != nil {
			b.Fatalf("Insert: %v", err)
		}
		digests[i] = rec.Digest
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7919) % n // a prime stride: consecutive lookups hit distant rows
		if _, err := s.ByDigest(ctx, digests[i]); err != nil {
			b.Fatalf("ByDigest: %v", err)
		}
	}
}
