package apikey

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// failingLimiter fails every call.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, time.Time, []LimitRequest) (Decision, error) {
	return Decision{}, errors.New("limiter down")
}

func (failingLimiter) Refund(context.Context, time.Time, []LimitRequest) error {
	return errors.New("limiter down")
}

// TestPolicyRefund: limitPolicy.refund merges duplicates as decide does,
// gives back through the local limiter without allocating, and logs a
// failing limiter's error instead of returning it.
func TestPolicyRefund(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	local := newLocalLimiter(0)
	p := limitPolicy{limiter: local, local: local, logger: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	r := LimitRequest{Key: LimitKey{Policy: "p", Subject: "s"}, Limit: PerHour(3), Cost: 1, Name: "p"}
	if _, err := p.decide(ctx, []LimitRequest{r, r}); err != nil {
		t.Fatal(err)
	}
	p.refund(ctx, []LimitRequest{r, r}) // both back: the merged cost of 2
	d, err := p.decide(ctx, []LimitRequest{r})
	if err != nil || d.Remaining != 2 {
		t.Fatalf("after the refund: %+v, %v; want 2 remaining", d, err)
	}
	reqs := []LimitRequest{r}
	if n := testing.AllocsPerRun(100, func() { p.refund(ctx, reqs) }); n != 0 {
		t.Errorf("refund through the local limiter allocates %v times", n)
	}

	var log bytes.Buffer
	failing := limitPolicy{limiter: failingLimiter{}, logger: slog.New(slog.NewTextHandler(&log, nil)), now: p.now}
	failing.refund(ctx, []LimitRequest{r})
	if !strings.Contains(log.String(), "limiter down") {
		t.Errorf("the refund's failure was not logged: %q", log.String())
	}
}

// TestConcurrentEvictionInTwoShards: shards evict in parallel, each under
// its own lock, so what they share (the eviction count) must be safe for
// concurrent use (go test -race once reported the count's writes).
func TestConcurrentEvictionInTwoShards(t *testing.T) {
	t.Parallel()
	l := newLocalLimiter(limiterShards * 4) // four buckets a shard
	// Subjects of two distinct shards, enough to evict in each many times.
	var subjects [2][]string
	for i := 0; len(subjects[0]) < 200 || len(subjects[1]) < 200; i++ {
		s := "s" + strconv.Itoa(i)
		switch l.shardOf(LimitKey{Policy: "key", Subject: s}) {
		case 0:
			subjects[0] = append(subjects[0], s)
		case 1:
			subjects[1] = append(subjects[1], s)
		}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for _, subs := range subjects {
		wg.Go(func() {
			for i, s := range subs {
				// Emptied buckets, so that eviction must drop ones in use.
				r := []LimitRequest{{Key: LimitKey{Policy: "key", Subject: s}, Limit: PerHour(2), Cost: 2}}
				if d := l.allow(start.Add(time.Duration(i)*time.Millisecond), r); !d.Allowed {
					t.Errorf("%s refused", s)
				}
			}
		})
	}
	wg.Wait()
	if l.evictions.Load() == 0 {
		t.Fatal("no bucket in use was evicted: the test did not exercise eviction")
	}
}

// TestBucketsOfEqualHash: keys whose hashes are equal (one subject under
// policies of one length) keep buckets of their own, through eviction.
func TestBucketsOfEqualHash(t *testing.T) {
	t.Parallel()
	l := newLocalLimiter(limiterShards * 16)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	policies := []string{"aaa", "bbb", "ccc"}
	if l.hashOf(LimitKey{"aaa", "s"}) != l.hashOf(LimitKey{"bbb", "s"}) {
		t.Fatal("the test needs keys of equal hash")
	}
	// Older, emptied buckets in the same shard, so that the shard evicts
	// (by LRU) while the three are inserted.
	shard := l.shardOf(LimitKey{"aaa", "s"})
	for i, added := 0, 0; added < 15; i++ {
		k := LimitKey{"key", "o" + strconv.Itoa(i)}
		if l.shardOf(k) != shard {
			continue
		}
		added++
		l.allow(now.Add(time.Duration(added-100)*time.Second), []LimitRequest{{Key: k, Limit: PerHour(3), Cost: 3}})
	}
	for i, p := range policies {
		// Cost i+1 of 3: distinct tokens left in each.
		if d := l.allow(now, []LimitRequest{{Key: LimitKey{p, "s"}, Limit: PerHour(3), Cost: i + 1}}); !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("%s: %+v", p, d)
		}
	}
	sh := &l.shards[shard]
	count := 0
	for _, head := range sh.buckets {
		for b := head; b != nil; b = b.next {
			count++
		}
	}
	if count != sh.n || sh.n > 16 || l.evictions.Load() == 0 {
		t.Errorf("shard counts %d buckets, holds %d (at most 16), %d evicted", sh.n, count, l.evictions.Load())
	}
	for i, p := range policies {
		d := l.allow(now, []LimitRequest{{Key: LimitKey{p, "s"}, Limit: PerHour(3), Cost: 1}})
		if want := 2 - i; d.Allowed != (want >= 1) || want >= 1 && d.Remaining != want-1 {
			t.Errorf("%s: %+v, want %d tokens left before", p, d, want)
		}
	}
}
