package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// BenchConsumeQuota measures ConsumeQuota of a metered key that was
// rotated rotations times (0: never rotated, the common case), through its
// oldest key.
func BenchConsumeQuota(b *testing.B, s apikey.Store, rotations int) {
	b.Helper()
	ctx := context.Background()
	rec := Record(fmt.Sprintf("bench quota %d", rotations))
	rec.Quota = &apikey.Quota{Limit: 1 << 60, Remaining: 1 << 60}
	if err := s.Insert(ctx, rec); err != nil {
		b.Fatalf("Insert: %v", err)
	}
	prev := rec.ID
	for i := range rotations {
		next := Record(fmt.Sprintf("bench quota %d next %d", rotations, i))
		if _, err := s.Rotate(ctx, prev, base.AddDate(1, 0, 0), next); err != nil {
			b.Fatalf("Rotate: %v", err)
		}
		prev = next.ID
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ConsumeQuota(ctx, rec.ID, 1, time.Time{}); err != nil {
			b.Fatalf("ConsumeQuota: %v", err)
		}
	}
}
