package apikey

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Rate limits.
//
// A Limit is a sustained rate with a burst (a token bucket): Requests per
// Period, up to Burst at once. Limits apply per key (the key's own
// RateLimit, else its Plan's, else WithKeyLimit), per owner (WithOwnerPlan:
// every key of an organization shares one budget), and per route
// (RouteLimit in the middleware). Several can apply to one request: it
// passes only if every one has room, and then takes from all; the Decision
// describes the tightest. Failed authentication never consumes a key's
// limits.

// Limit allows Requests per Period, and up to Burst at once (0: Requests).
type Limit struct {
	Requests int           `json:"requests"`
	Period   time.Duration `json:"-"`
	Burst    int           `json:"burst,omitempty"`
}

// PerSecond, PerMinute, PerHour and PerDay return the Limit of n requests
// per that period, with bursts of n.
func PerSecond(n int) Limit { return Limit{Requests: n, Period: time.Second} }
func PerMinute(n int) Limit { return Limit{Requests: n, Period: time.Minute} }
func PerHour(n int) Limit   { return Limit{Requests: n, Period: time.Hour} }
func PerDay(n int) Limit    { return Limit{Requests: n, Period: 24 * time.Hour} }

// IsZero reports whether l is the zero Limit, which means "no limit".
func (l Limit) IsZero() bool { return l.Requests == 0 && l.Period == 0 && l.Burst == 0 }

func (l Limit) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

// rate is tokens per second, computed as the Redis limiter's script does.
func (l Limit) rate() float64 { return float64(l.Requests) / l.Period.Seconds() }

// String is "100/1m0s" (or "100/1m0s burst 20").
func (l Limit) String() string {
	s := strconv.Itoa(l.Requests) + "/" + l.Period.String()
	if l.Burst > 0 && l.Burst != l.Requests {
		s += " burst " + strconv.Itoa(l.Burst)
	}
	return s
}

func (l Limit) validate(field string) error {
	if l.IsZero() {
		return nil
	}
	if l.Requests <= 0 || l.Period <= 0 || l.Burst < 0 {
		return paramErr(field, "requests and period must be positive, burst not negative")
	}
	return nil
}

// Decision is a limiter's answer for one request.
type Decision struct {
	Allowed bool
	// failedOpen: the limiter failed and WithLimiterFailOpen let the
	// request through; nothing was taken, so a refusal gives nothing back.
	// Beside Allowed, it takes no room.
	failedOpen bool
	// Policy names the limit that decided: "key", "owner", a route limit's
	// name, or a plan ("plan:team"). Never key material.
	Policy     string
	Limit      int           // Requests of that limit
	Window     time.Duration // its Period
	Remaining  int           // requests left at once, after this one
	Reset      time.Time     // when Remaining is back to the full burst
	RetryAfter time.Duration // when not Allowed: the wait before a retry can pass
}

// LimitKey names one bucket: a policy and what it is counted for (a key
// ID, an owner ID, a key ID and a path value …).
type LimitKey struct {
	Policy  string
	Subject string
}

// LimitRequest asks a Limiter for cost tokens of bucket Key under Limit.
type LimitRequest struct {
	Key   LimitKey
	Limit Limit
	Cost  int
	// Name is what Decision.Policy reports for this request.
	Name string
}

// Limiter decides requests against rate limits. Allow decides every
// request in reqs together at now: if each bucket has room for its cost it
// takes from all and allows; otherwise it takes nothing and denies. The
// Decision describes the denying request with the longest wait or, when
// allowed, the one with the fewest requests left. An error means the
// limiter could not decide (a Redis limiter whose server is down); the
// Manager fails closed on it unless told otherwise.
//
// Refund gives back what an allowed Allow(ctx, now', reqs) took, when the
// request is refused later on (a scope gate's 403, a route limit's 429
// downstream): each bucket gets its request's cost back, never above its
// burst; a bucket that no longer exists (expired, evicted: it is full
// again) is left alone. Requests for one bucket must be merged as for
// Allow. A refund is a later, separate step: a concurrent request decided
// between the two sees the budget still taken and may be refused, and one
// decided after sees it given back; the two never make more pass than the
// limit allows. An error means nothing, or not everything, was given back.
type Limiter interface {
	Allow(ctx context.Context, now time.Time, reqs []LimitRequest) (Decision, error)
	Refund(ctx context.Context, now time.Time, reqs []LimitRequest) error
}

// RateLimitError is the error of a request refused by a rate limit or a
// quota. It matches ErrRateLimited, and ErrQuotaExceeded for quotas.
type RateLimitError struct {
	Decision Decision
	Quota    bool // a usage quota, not a rate limit, was exhausted
}

func (e *RateLimitError) Error() string {
	what := "rate limit"
	if e.Quota {
		what = "quota"
	}
	return fmt.Sprintf("%s: %s %q exceeded, retry after %s", ErrRateLimited, what, e.Decision.Policy, e.Decision.RetryAfter)
}

func (e *RateLimitError) Is(target error) bool {
	return target == ErrRateLimited || e.Quota && target == ErrQuotaExceeded
}

// RetryAfter is how long to wait before retrying.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Decision.RetryAfter }

// LocalLimiter is the in-process Limiter: a token bucket per LimitKey, in
// bounded memory. A decision takes one shard lock and reads no clock of its
// own. When a shard holds too many buckets, full ones are dropped first (a
// full bucket is the same as a new one), then the least recently used: an
// evicted busy bucket starts full again, which can only let more through,
// never lock a caller out.
type LocalLimiter struct {
	shards    [limiterShards]limiterShard
	perShard  int
	seed      maphash.Seed // shards by a keyed hash: subjects cannot be aimed at one shard
	evictions atomic.Int64 // buckets dropped while not full; shards evict in parallel
}

const (
	limiterShards = 64
	// DefaultLimiterBuckets is how many buckets a LocalLimiter keeps at most.
	DefaultLimiterBuckets = 1 << 20
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

// NewLocalLimiter returns a LocalLimiter keeping at most maxBuckets buckets
// (0: DefaultLimiterBuckets).
func NewLocalLimiter(maxBuckets int) *LocalLimiter {
	if maxBuckets <= 0 {
		maxBuckets = DefaultLimiterBuckets
	}
	l := &LocalLimiter{perShard: max(maxBuckets/limiterShards, 1), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[uint64]*bucket{}
	}
	return l
}

// shardOf picks k's shard: a keyed hash of the subject (which requests
// influence), mixed with the policy's length (which the server chooses).
func (l *LocalLimiter) shardOf(k LimitKey) int { return int(l.hashOf(k) % limiterShards) }

// hashOf is the hash that picks k's shard and indexes its bucket there
// (one string hashed per decision, where a map of LimitKeys hashes two
// more). Keys of equal hash share a chain.
func (l *LocalLimiter) hashOf(k LimitKey) uint64 {
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
func (l *LocalLimiter) Allow(ctx context.Context, now time.Time, reqs []LimitRequest) (Decision, error) {
	return l.allow(now, reqs), nil
}

// Refund implements Limiter.
func (l *LocalLimiter) Refund(ctx context.Context, now time.Time, reqs []LimitRequest) error {
	l.refund(now, reqs)
	return nil
}

// refund is Refund without the interface. Each bucket is given back under
// its own shard's lock: giving back needs no all-or-none.
func (l *LocalLimiter) refund(now time.Time, reqs []LimitRequest) {
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
func (l *LocalLimiter) allow(now time.Time, reqs []LimitRequest) Decision {
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
func (l *LocalLimiter) decideLocked(now time.Time, reqs []LimitRequest, hashes []uint64, buckets []*bucket) Decision {
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
func (l *LocalLimiter) allowOne(now time.Time, r *LimitRequest) Decision {
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
func (l *LocalLimiter) bucketLocked(sh *limiterShard, h uint64, k LimitKey, limit Limit, now int64) *bucket {
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
func (l *LocalLimiter) evictLocked(sh *limiterShard, now int64) {
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
func (l *LocalLimiter) buckets() int {
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
