package apikey

import (
	"context"
	"fmt"
	"time"
)

// Rate limits.
//
// A Limit is a sustained rate with a burst (a token bucket): Requests per
// Period, up to Burst at once. Limits apply per key (the key's own
// RateLimit, else its Plan's, else WithKeyLimit), per owner (WithOwnerPlan:
// every key of an organization shares one budget), and per route
// (LimitRoute in the middleware). Several can apply to one request: it
// passes only if every one has room, and then takes from all; the Decision
// describes the tightest. Failed authentication never consumes a key's
// limits.

// Limit allows Requests per Period, and up to Burst at once (0: Requests).
type Limit struct {
	Requests int           `json:"requests"`
	Period   time.Duration `json:"-"`
	Burst    int           `json:"burst,omitempty"`
}

// PerSecond, PerMinute and PerHour return the Limit of n requests
// per that period, with bursts of n. There is no PerDay: a day-long token
// bucket refills all day long, which is rarely what "per day" means; a
// Quota with RefillDaily is (or Limit{Requests: n, Period: 24 * time.Hour}).
func PerSecond(n int) Limit { return Limit{Requests: n, Period: time.Second} }
func PerMinute(n int) Limit { return Limit{Requests: n, Period: time.Minute} }
func PerHour(n int) Limit   { return Limit{Requests: n, Period: time.Hour} }

// isZero reports whether l is the zero Limit, which means "no limit".
func (l Limit) isZero() bool { return l.Requests == 0 && l.Period == 0 && l.Burst == 0 }

func (l Limit) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

// rate is tokens per second, computed as the Redis limiter's script does.
func (l Limit) rate() float64 { return float64(l.Requests) / l.Period.Seconds() }

func (l Limit) validate(field string) error {
	if l.isZero() {
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
	// Policy names the limit that decided: "key", "owner", "quota", a route
	// limit's name, or a plan ("plan:team"). Never key material.
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
