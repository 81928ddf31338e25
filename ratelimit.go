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

	"golang.org/x/time/rate"
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

// rate is tokens per second.
func (l Limit) rate() rate.Limit { return rate.Limit(float64(l.Requests) / l.Period.Seconds()) }

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

// LocalLimiter is the in-process Limiter: a token bucket per LimitKey
// (golang.org/x/time/rate), in bounded memory. When a shard holds too many
// buckets, full ones are dropped first (a full bucket is the same as a new
// one), then the least recently used: an evicted busy bucket starts full
// again, which can only let more through, never lock a caller out.
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
	buckets map[LimitKey]*bucket
}

type bucket struct {
	lim   *rate.Limiter
	limit Limit
	used  time.Time
}

// NewLocalLimiter returns a LocalLimiter keeping at most maxBuckets buckets
// (0: DefaultLimiterBuckets).
func NewLocalLimiter(maxBuckets int) *LocalLimiter {
	if maxBuckets <= 0 {
		maxBuckets = DefaultLimiterBuckets
	}
	l := &LocalLimiter{perShard: max(maxBuckets/limiterShards, 1), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[LimitKey]*bucket{}
	}
	return l
}

// shardOf picks k's shard: a keyed hash of the subject (which requests
// influence), mixed with the policy's length (which the server chooses).
func (l *LocalLimiter) shardOf(k LimitKey) int {
	return int((maphash.String(l.seed, k.Subject) + uint64(len(k.Policy))) % limiterShards)
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
	for _, r := range reqs {
		sh := &l.shards[l.shardOf(r.Key)]
		sh.mu.Lock()
		if b, ok := sh.buckets[r.Key]; ok {
			// A negative take: rate.Limiter caps the tokens at the burst
			// whenever it reads them.
			b.lim.AllowN(now, -max(r.Cost, 1))
		}
		sh.mu.Unlock()
	}
}

// allow is Allow without the interface, so that callers in this package
// keep their requests on the stack.
func (l *LocalLimiter) allow(now time.Time, reqs []LimitRequest) Decision {
	const onStack = 8
	var shardBuf [onStack]int
	var bucketBuf [onStack]*bucket
	shards, buckets := shardBuf[:0], bucketBuf[:0]
	if len(reqs) > onStack {
		shards, buckets = make([]int, 0, len(reqs)), make([]*bucket, 0, len(reqs))
	}
	for _, r := range reqs {
		shards = append(shards, l.shardOf(r.Key))
	}
	buckets = buckets[:len(reqs)]
	switch len(reqs) {
	case 0:
		return Decision{Allowed: true}
	case 1:
		sh := &l.shards[shards[0]]
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return l.decideLocked(now, reqs, shards, buckets)
	}
	// Lock every shard involved, in index order (no deadlock), so that the
	// check of all and the take from all are one step.
	var locked [limiterShards]bool
	for _, i := range shards {
		locked[i] = true
	}
	for i := range locked {
		if locked[i] {
			l.shards[i].mu.Lock()
		}
	}
	d := l.decideLocked(now, reqs, shards, buckets)
	for i := range locked {
		if locked[i] {
			l.shards[i].mu.Unlock()
		}
	}
	return d
}

// decideLocked checks every request, then takes from all or none. The
// shards of reqs (shards[i] is that of reqs[i]) are locked; buckets is
// scratch space of len(reqs).
func (l *LocalLimiter) decideLocked(now time.Time, reqs []LimitRequest, shards []int, buckets []*bucket) Decision {
	best := Decision{Allowed: true, Remaining: math.MaxInt}
	var tightest float64 = math.Inf(1)
	for i, r := range reqs {
		b := l.bucketLocked(&l.shards[shards[i]], r.Key, r.Limit, now)
		buckets[i] = b
		cost := max(r.Cost, 1)
		tokens := b.lim.TokensAt(now)
		d := Decision{Policy: r.Name, Limit: r.Limit.Requests, Window: r.Limit.Period}
		if tokens < float64(cost) {
			d.RetryAfter = durationFor(float64(cost)-tokens, r.Limit)
			if cost > r.Limit.burst() {
				d.RetryAfter = r.Limit.Period // it never fits; say so plainly
			}
			d.Remaining = max(int(tokens), 0)
			d.Reset = now.Add(durationFor(float64(r.Limit.burst())-tokens, r.Limit))
			if best.Allowed || d.RetryAfter > best.RetryAfter {
				best = d
			}
			continue
		}
		if !best.Allowed {
			continue
		}
		left := tokens - float64(cost)
		if frac := left / float64(r.Limit.burst()); frac < tightest {
			tightest = frac
			d.Allowed = true
			d.Remaining = int(left)
			d.Reset = now.Add(durationFor(float64(r.Limit.burst())-left, r.Limit))
			best = d
		}
	}
	if best.Allowed {
		for i, r := range reqs {
			buckets[i].lim.AllowN(now, max(r.Cost, 1))
		}
	}
	return best
}

// bucketLocked returns the bucket of k, creating it (full) or updating its
// limit if the limit changed.
func (l *LocalLimiter) bucketLocked(sh *limiterShard, k LimitKey, limit Limit, now time.Time) *bucket {
	b, ok := sh.buckets[k]
	if !ok {
		if len(sh.buckets) >= l.perShard {
			l.evictLocked(sh, now)
		}
		b = &bucket{lim: rate.NewLimiter(limit.rate(), limit.burst()), limit: limit}
		b.lim.SetLimitAt(now, limit.rate()) // start the bucket's clock at now, full
		sh.buckets[k] = b
	} else if b.limit != limit {
		b.lim.SetLimitAt(now, limit.rate())
		b.lim.SetBurstAt(now, limit.burst())
		b.limit = limit
	}
	b.used = now
	return b
}

// evictLocked makes room in sh, down to three quarters of its share so
// that eviction stays amortized O(1) per insert: full buckets go first,
// then the least recently used. Buckets used at now (by the decision in
// progress) are never dropped.
func (l *LocalLimiter) evictLocked(sh *limiterShard, now time.Time) {
	target := l.perShard * 3 / 4
	for k, b := range sh.buckets {
		if !b.used.Equal(now) && b.lim.TokensAt(now) >= float64(b.limit.burst()) {
			delete(sh.buckets, k)
		}
	}
	if len(sh.buckets) <= target {
		return
	}
	oldest := make([]time.Time, 0, len(sh.buckets))
	for _, b := range sh.buckets {
		oldest = append(oldest, b.used)
	}
	cut := quantile(oldest, len(oldest)-target-1)
	for k, b := range sh.buckets {
		if !b.used.After(cut) && !b.used.Equal(now) {
			delete(sh.buckets, k)
			l.evictions.Add(1)
		}
	}
}

// quantile returns the k-th smallest time (partial selection).
func quantile(ts []time.Time, k int) time.Time {
	lo, hi := 0, len(ts)-1
	for lo < hi {
		p := ts[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for ts[i].Before(p) {
				i++
			}
			for ts[j].After(p) {
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
		n += len(l.shards[i].buckets)
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
