package redis_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/apikey"
)

// benchReqs is a decision over n buckets that always has room.
func benchReqs(n int) []apikey.LimitRequest {
	l := apikey.Limit{Requests: 1 << 30, Period: time.Second}
	reqs := []apikey.LimitRequest{req("key", "k_bench", l, 1), req("owner", "org_bench", l, 1), req("webhook_jobs", "k_bench", l, 1)}
	return reqs[:n]
}

// benchLimiter runs one decision per op and reports the p50 and p99
// latency of a decision, in µs.
func benchLimiter(b *testing.B, lim apikey.Limiter) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "1bucket", 3: "3buckets"}[n], func(b *testing.B) {
			reqs := benchReqs(n)
			ctx := context.Background()
			durs := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				start := time.Now()
				d, err := lim.Allow(ctx, start, reqs)
				durs = append(durs, time.Since(start))
				if err != nil || !d.Allowed {
					b.Fatal(d, err)
				}
			}
			reportPercentiles(b, durs)
		})
	}
	b.Run("parallel", func(b *testing.B) {
		reqs := benchReqs(1)
		var mu sync.Mutex
		var all []time.Duration
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			var durs []time.Duration
			for pb.Next() {
				start := time.Now()
				d, err := lim.Allow(ctx, start, reqs)
				durs = append(durs, time.Since(start))
				if err != nil || !d.Allowed {
					b.Error(d, err)
					return
				}
			}
			mu.Lock()
			all = append(all, durs...)
			mu.Unlock()
		})
		reportPercentiles(b, all)
	})
}

func reportPercentiles(b *testing.B, durs []time.Duration) {
	if len(durs) == 0 {
		return
	}
	slices.Sort(durs)
	at := func(q float64) float64 {
		return float64(durs[min(int(q*float64(len(durs))), len(durs)-1)]) / float64(time.Microsecond)
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkRedisLimiter: one decision per op against the real Redis
// (APIKEY_TEST_REDIS): one script call, one round trip.
func BenchmarkRedisLimiter(b *testing.B) {
	benchLimiter(b, newLimiter(b, newClient(b), unique("bench")))
}

// BenchmarkLocalLimiter is the in-process limiter, for comparison.
func BenchmarkLocalLimiter(b *testing.B) {
	benchLimiter(b, apikey.NewLocalLimiter(0))
}
