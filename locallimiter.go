package apikey

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// localLimiter is the in-process Limiter: a token bucket per LimitKey, in
// bounded memory. A decision takes one shard lock and reads no clock of its
// own. When a shard holds too many buckets, full ones are dropped first (a
// full bucket is the same as a new one), then the least recently used: an
// evicted busy bucket starts full again, which can only let more through,
// never lock a caller out.
type localLimiter struct {
	shards    [limiterShards]limiterShard
	perShard  int
	seed      maphash.Seed // shards by a keyed hash: subjects cannot be aimed at one shard
	evictions atomic.Int64 // buckets dropped while not full; shards evict in parallel
}

const (
	limiterShards = 64
	// defaultLimiterBuckets is how many buckets a localLimiter keeps at most.
	defaultLimiterBuckets = 1 << 20
)

type limiterShard struct {
	mu      sync.Mutex
	buckets map[uint64]*bucket // by hashOf(key), chained through next on equal hashes
	n       int                // buckets held
}

// bucket is a token bucket, updated only under its shard's lock. Its
// arithmetic is that of the Redis limiter's script, step for step in IEEE
// doubles, so that both reach the same decisions.
type bucket struct {
	key    LimitKey
	next   *bucket // another key of the same hash
	tokens float64 // at last
	last   int64   // Unix nanoseconds of the last update; never moves back
	used   int64   // Unix nanoseconds of the last decision that touched it
	rate   float64 // tokens per second
	burst  float64
	limit  Limit
}

// tokensAt is the bucket's tokens at now: none added for a now before its
// last update (an instance whose clock is behind).
func (b *bucket) tokensAt(now int64) float64 {
	tokens := b.tokens
	if d := now - b.last; d > 0 {
		// As time.Duration.Seconds and the script: whole seconds plus
		// nanoseconds / 1e9.
		tokens += (float64(d/1e9) + float64(d%1e9)/1e9) * b.rate
	}
	return min(tokens, b.burst)
}

// set stores tokens as of now, without moving the bucket back in time.
func (b *bucket) set(tokens float64, now int64) {
	b.tokens = tokens
	b.last = max(b.last, now)
}

// NewLocalLimiter returns the in-process Limiter (the default), keeping at
// most maxBuckets buckets (0: 1<<20).
func NewLocalLimiter(maxBuckets int) Limiter { return newLocalLimiter(maxBuckets) }

func newLocalLimiter(maxBuckets int) *localLimiter {
	if maxBuckets <= 0 {
		maxBuckets = defaultLimiterBuckets
	}
	l := &localLimiter{perShard: max(maxBuckets/limiterShards, 1), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[uint64]*bucket{}
	}
	return l
}

// shardOf picks k's shard: a keyed hash of the subject (which requests
// influence), mixed with the policy's length (which the server chooses).
func (l *localLimiter) shardOf(k LimitKey) int { return int(l.hashOf(k) % limiterShards) }

// hashOf is the hash that picks k's shard and indexes its bucket there
// (one string hashed per decision, where a map of LimitKeys hashes two
// more). Keys of equal hash share a chain.
func (l *localLimiter) hashOf(k LimitKey) uint64 {
	return maphash.String(l.seed, k.Subject) + uint64(len(k.Policy))*0x9e3779b97f4a7c15
}

// lookupLocked returns k's bucket in sh, or nil.
func (sh *limiterShard) lookupLocked(h uint64, k LimitKey) *bucket {
	for b := sh.buckets[h]; b != nil; b = b.next {
		if b.key == k {
			return b
		}
	}
	return nil
}

// Allow implements Limiter.
func (l *localLimiter) Allow(ctx context.Context, now time.Time, reqs []LimitRequest) (Decision, error) {
	return l.allow(now, reqs), nil
}

// Refund implements Limiter.
func (l *localLimiter) Refund(ctx context.Context, now time.Time, reqs []LimitRequest) error {
	l.refund(now, reqs)
	return nil
}

// refund is Refund without the interface. Each bucket is given back under
// its own shard's lock: giving back needs no all-or-none.
func (l *localLimiter) refund(now time.Time, reqs []LimitRequest) {
	ns := now.UnixNano()
	for _, r := range reqs {
		h := l.hashOf(r.Key)
		sh := &l.shards[h%limiterShards]
		sh.mu.Lock()
		if b := sh.lookupLocked(h, r.Key); b != nil {
			b.set(min(b.tokensAt(ns)+float64(max(r.Cost, 1)), b.burst), ns)
		}
		sh.mu.Unlock()
	}
}

// allow is Allow without the interface, so that callers in this package
// keep their requests on the stack.
func (l *localLimiter) allow(now time.Time, reqs []LimitRequest) Decision {
	switch len(reqs) {
	case 0:
		return Decision{Allowed: true}
	case 1:
		return l.allowOne(now, &reqs[0])
	}
	const onStack = 8
	var hashBuf [onStack]uint64
	var bucketBuf [onStack]*bucket
	hashes, buckets := hashBuf[:0], bucketBuf[:0]
	if len(reqs) > onStack {
		hashes, buckets = make([]uint64, 0, len(reqs)), make([]*bucket, 0, len(reqs))
	}
	for _, r := range reqs {
		hashes = append(hashes, l.hashOf(r.Key))
	}
	buckets = buckets[:len(reqs)]
	// Lock every shard involved, in index order (no deadlock), so that the
	// check of all and the take from all are one step.
	var locked [limiterShards]bool
	for _, h := range hashes {
		locked[h%limiterShards] = true
	}
	for i := range locked {
		if locked[i] {
			l.shards[i].mu.Lock()
		}
	}
	d := l.decideLocked(now, reqs, hashes, buckets)
	for i := range locked {
		if locked[i] {
			l.shards[i].mu.Unlock()
		}
	}
	return d
}

// decideLocked checks every request, then takes from all or none. The
// shards of reqs (hashes[i] is reqs[i]'s hashOf) are locked; buckets is
// scratch space of len(reqs).
func (l *localLimiter) decideLocked(now time.Time, reqs []LimitRequest, hashes []uint64, buckets []*bucket) Decision {
	ns := now.UnixNano()
	// The Decision is built once, for the request that decides: the
	// denying one with the longest wait (the first of equals), else the
	// one with the smallest fraction of its burst left.
	deny, pick := -1, -1
	var wait time.Duration
	var denyTokens, pickLeft float64
	tightest := math.Inf(1)
	for i := range reqs {
		r := &reqs[i]
		b := l.bucketLocked(&l.shards[hashes[i]%limiterShards], hashes[i], r.Key, r.Limit, ns)
		buckets[i] = b
		cost := float64(max(r.Cost, 1))
		tokens := b.tokensAt(ns)
		if tokens < cost {
			if w := retryAfter(r, tokens, cost); deny < 0 || w > wait {
				deny, wait, denyTokens = i, w, tokens
			}
			continue
		}
		if deny >= 0 {
			continue
		}
		left := tokens - cost
		if frac := left / b.burst; frac < tightest {
			tightest, pick, pickLeft = frac, i, left
		}
	}
	if deny >= 0 {
		return denied(now, &reqs[deny], denyTokens, wait)
	}
	for i := range reqs {
		buckets[i].take(float64(max(reqs[i].Cost, 1)), ns)
	}
	return allowed(now, &reqs[pick], pickLeft)
}

// allowOne is allow for one request: no scratch space, and the Decision
// built after the lock is released.
func (l *localLimiter) allowOne(now time.Time, r *LimitRequest) Decision {
	ns := now.UnixNano()
	cost := float64(max(r.Cost, 1))
	h := l.hashOf(r.Key)
	sh := &l.shards[h%limiterShards]
	sh.mu.Lock()
	b := l.bucketLocked(sh, h, r.Key, r.Limit, ns)
	tokens := b.tokensAt(ns)
	ok := tokens >= cost
	if ok {
		b.set(tokens-cost, ns) // take, which cannot fail here
	}
	sh.mu.Unlock()
	if ok {
		return allowed(now, r, tokens-cost)
	}
	return denied(now, r, tokens, retryAfter(r, tokens, cost))
}

// retryAfter is how long r waits for cost tokens where tokens are left.
func retryAfter(r *LimitRequest, tokens, cost float64) time.Duration {
	if cost > float64(r.Limit.burst()) {
		return r.Limit.Period // it never fits; say so plainly
	}
	return durationFor(cost-tokens, r.Limit)
}

func allowed(now time.Time, r *LimitRequest, left float64) Decision {
	return Decision{Allowed: true, Policy: r.Name, Limit: r.Limit.Requests, Window: r.Limit.Period,
		Remaining: int(left), Reset: now.Add(durationFor(float64(r.Limit.burst())-left, r.Limit))}
}

func denied(now time.Time, r *LimitRequest, tokens float64, wait time.Duration) Decision {
	return Decision{Policy: r.Name, Limit: r.Limit.Requests, Window: r.Limit.Period, Remaining: max(int(tokens), 0),
		Reset: now.Add(durationFor(float64(r.Limit.burst())-tokens, r.Limit)), RetryAfter: wait}
}

// take removes cost tokens at now. Every request was checked against the
// tokens before any take, so it fails only for a bucket repeated in one
// decision (callers merge those; the script does the same): then it takes
// nothing, as golang.org/x/time/rate's AllowN, whose rule this keeps.
func (b *bucket) take(cost float64, now int64) {
	left := b.tokensAt(now) - cost
	if cost > b.burst || left < 0 && -left/b.rate*1e9 >= 1 {
		return
	}
	b.set(left, now)
}

// bucketLocked returns the bucket of k, creating it (full) or updating its
// limit if the limit changed: the tokens accrued so far under the old rate,
// capped at the new burst.
func (l *localLimiter) bucketLocked(sh *limiterShard, h uint64, k LimitKey, limit Limit, now int64) *bucket {
	b := sh.lookupLocked(h, k)
	if b == nil {
		if sh.n >= l.perShard {
			l.evictLocked(sh, now)
		}
		b = &bucket{key: k, next: sh.buckets[h], tokens: float64(limit.burst()), last: now, rate: limit.rate(),
			burst: float64(limit.burst()), limit: limit}
		sh.buckets[h] = b
		sh.n++
	} else if b.limit != limit {
		b.set(b.tokensAt(now), now)
		b.rate, b.burst, b.limit = limit.rate(), float64(limit.burst()), limit
		b.tokens = min(b.tokens, b.burst)
	}
	b.used = now
	return b
}

// evictLocked makes room in sh, down to three quarters of its share so
// that eviction stays amortized O(1) per insert: full buckets go first,
// then the least recently used. Buckets used at now (by the decision in
// progress) are never dropped.
func (l *localLimiter) evictLocked(sh *limiterShard, now int64) {
	target := l.perShard * 3 / 4
	sh.dropLocked(func(b *bucket) bool { return b.used != now && b.tokensAt(now) >= b.burst })
	if sh.n <= target {
		return
	}
	oldest := make([]int64, 0, sh.n)
	for _, head := range sh.buckets {
		for b := head; b != nil; b = b.next {
			oldest = append(oldest, b.used)
		}
	}
	cut := quantile(oldest, len(oldest)-target-1)
	dropped := sh.dropLocked(func(b *bucket) bool { return b.used <= cut && b.used != now })
	l.evictions.Add(int64(dropped))
}

// dropLocked removes the buckets of sh for which drop is true, and
// returns how many it removed.
func (sh *limiterShard) dropLocked(drop func(*bucket) bool) int {
	dropped := 0
	for h, head := range sh.buckets {
		var kept *bucket
		for b := head; b != nil; {
			next := b.next
			if drop(b) {
				dropped++
			} else {
				b.next, kept = kept, b
			}
			b = next
		}
		if kept == nil {
			delete(sh.buckets, h)
		} else {
			sh.buckets[h] = kept
		}
	}
	sh.n -= dropped
	return dropped
}

// quantile returns the k-th smallest time (partial selection).
func quantile(ts []int64, k int) int64 {
	lo, hi := 0, len(ts)-1
	for lo < hi {
		p := ts[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for ts[i] < p {
				i++
			}
			for ts[j] > p {
				j--
			}
			if i <= j {
				ts[i], ts[j] = ts[j], ts[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return ts[k]
		}
	}
	return ts[k]
}

// buckets reports how many buckets l holds.
func (l *localLimiter) buckets() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += l.shards[i].n
		l.shards[i].mu.Unlock()
	}
	return n
}

// durationFor is how long limit takes to refill tokens.
func durationFor(tokens float64, limit Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(tokens * float64(limit.Period) / float64(limit.Requests)))
}
