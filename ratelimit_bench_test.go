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
	reqs := []apikey.LimitRequest{{Key: apikey.LimitKey{Policy: apikey.PolicyKey, Subject: "k_0123456789abcdef"},
		Limit: apikey.PerSecond(1_000_000_000), Cost: 1, Name: apikey.PolicyKey}}
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
