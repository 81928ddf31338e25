package apikey_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"testing"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// Benchmarks measure each path against its floor in the same run; see
// BENCHMARKS.md for the command and the figures. No timing is asserted.

const benchKeys = 10_000

func benchManager(b *testing.B, opts ...apikey.Option) (*apikey.Manager, string) {
	b.Helper()
	m, err := apikey.New(memstore.New(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	var secret string
	for i := range benchKeys / 10 {
		_, s, err := m.Create(ctx, apikey.CreateParams{Name: "bench", Scopes: []string{"webhooks:read", "webhooks:write"}})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			secret = s
		}
	}
	return m, secret
}

// BenchmarkVerifyFloor is the least any verifier does: SHA-256 of the key
// from a stack buffer, a map[[32]byte] lookup and a 32-byte constant-time
// compare.
func BenchmarkVerifyFloor(b *testing.B) {
	type record struct{ digest [32]byte }
	index := make(map[[32]byte]*record, benchKeys)
	m, secret := benchManager(b)
	_ = m
	for i := range benchKeys {
		var d [32]byte
		d[0], d[1] = byte(i), byte(i>>8)
		index[d] = &record{digest: d}
	}
	want := sha256.Sum256([]byte(secret))
	index[want] = &record{digest: want}
	b.ReportAllocs()
	for b.Loop() {
		var buf [128]byte
		n := copy(buf[:], secret)
		d := sha256.Sum256(buf[:n])
		rec, ok := index[d]
		if !ok || subtle.ConstantTimeCompare(rec.digest[:], d[:]) != 1 {
			b.Fatal("floor lookup failed")
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	m, secret := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, "webhooks:read"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRateLimited is BenchmarkVerify with a per-key limit on
// the local limiter (always room): the difference is what the limiter adds.
func BenchmarkVerifyRateLimited(b *testing.B) {
	m, secret := benchManager(b, apikey.WithKeyLimit(apikey.PerSecond(1_000_000_000)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, "webhooks:read"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPepper(b *testing.B) {
	m, secret := benchManager(b, apikey.WithPepper([]byte("0123456789abcdef0123456789abcdef")))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, "webhooks:read"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel: compare ns/op at -cpu 1 and -cpu 2 for the
// scaling ratio (no global lock on the read path).
func BenchmarkVerifyParallel(b *testing.B) {
	m, secret := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Verify(ctx, secret, "webhooks:read"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyReject(b *testing.B) {
	m, secret := benchManager(b)
	ctx := context.Background()
	last := secret[len(secret)-1]
	badChecksum := secret[:len(secret)-1] + map[bool]string{true: "1", false: "0"}[last == '0']
	for _, bc := range []struct{ name, key string }{
		{"Malformed", "sk_live_not-a-key"},
		{"WrongLength", secret + "0"},
		{"BadChecksum", badChecksum},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(ctx, bc.key); err != apikey.ErrMalformedKey {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCreate(b *testing.B) {
	m, _ := benchManager(b)
	ctx := context.Background()
	p := apikey.CreateParams{Name: "bench", OwnerID: "org", Scopes: []string{"webhooks:read"}}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, _, err := m.Create(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "keys/s")
}
