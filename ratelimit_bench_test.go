package apikey_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/keyward/apikey"
)

// BenchmarkLocalLimiterAllow is one decision on one bucket with room, with
// the clock read it needs; BenchmarkXTimeRateAllow is the peer: a
// golang.org/x/time/rate Limiter's Allow, which reads the clock too. Run
// them together (BENCHMARKS.md).
func BenchmarkLocalLimiterAllow(b *testing.B) {
	l := apikey.NewLocalLimiter(0)
	reqs := []apikey.LimitRequest{{Key: apikey.LimitKey{Policy: "key", Subject: "k_0123456789abcdef"},
		Limit: apikey.PerSecond(1_000_000_000), Cost: 1, Name: "key"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := l.Allow(ctx, time.Now(), reqs); !d.Allowed {
			b.Fatal("refused")
		}
	}
}

func BenchmarkXTimeRateAllow(b *testing.B) {
	l := rate.NewLimiter(1_000_000_000, 1_000_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if !l.Allow() {
			b.Fatal("refused")
		}
	}
}

// BenchmarkVerifyLimitAdded measures what the local limiter adds to Verify
// as a paired difference: each iteration verifies once on a Manager
// without a limit and once on one with a per-key limit (always room),
// timing each call, so that load on a shared machine falls on both alike.
// It reports the two means and their difference (added-ns).
func BenchmarkVerifyLimitAdded(b *testing.B) {
	plain, plainKey := benchManager(b)
	limited, limitedKey := benchManager(b, apikey.WithKeyLimit(apikey.PerSecond(1_000_000_000)))
	ctx := context.Background()
	var tPlain, tLimited time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := plain.Verify(ctx, plainKey, "webhooks:read"); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := limited.Verify(ctx, limitedKey, "webhooks:read"); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		// Alternate the order, so that neither call always follows the other.
		tPlain, tLimited = tPlain+t1.Sub(t0), tLimited+t2.Sub(t1)
		n++
		plain, limited, plainKey, limitedKey, tPlain, tLimited = limited, plain, limitedKey, plainKey, tLimited, tPlain
	}
	if n%2 == 1 {
		tPlain, tLimited = tLimited, tPlain
	}
	b.ReportMetric(float64(tPlain)/float64(n), "verify-ns")
	b.ReportMetric(float64(tLimited)/float64(n), "limited-ns")
	b.ReportMetric(float64(tLimited-tPlain)/float64(n), "added-ns")
}
