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

// BenchVerify measures Manager.Verify of one of n keys over s, with a
// required scope. With the default options the cache is warm after the
// first call; pass apikey.WithCache(0) for a cold lookup on every call.
func BenchVerify(b *testing.B, s apikey.Store, n int, opts ...apikey.Option) {
	b.Helper()
	ctx := context.Background()
	m, err := apikey.New(s, opts...)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	b.Cleanup(func() { _ = m.Close() })
	var secret string
	for i := range n {
		_, sk, err := m.Create(ctx, apikey.CreateParams{Name: "bench", Scopes: []string{"webhooks:read"}})
		if err != nil {
			b.Fatalf("Create: %v", err)
		}
		if i == n/2 {
			secret = sk
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, "webhooks:read"); err != nil {
			b.Fatalf("Verify: %v", err)
		}
	}
}
