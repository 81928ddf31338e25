package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/apikey"
)

//go:embed limiter.lua
var limiterLua string

//go:embed refund.lua
var refundLua string

// DefaultNamespace is the default namespace of the Limiter's Redis keys:
// the prefix they all start with.
const DefaultNamespace = "apikey:rl:"

// DefaultTimeout is how long, by default, a decision or a refund waits
// for Redis: a request's whole budget, far above one round trip.
const DefaultTimeout = time.Second

// DefaultTTLMargin is how long, by default, a bucket is kept after it
// would be full again.
const DefaultTTLMargin = time.Second

// Limiter is an apikey.Limiter over Redis, shared by every instance that
// uses the same Redis and namespace. It is safe for concurrent use.
type Limiter struct {
	client    goredis.UniversalClient
	script    *goredis.Script
	refund    *goredis.Script
	prefix    string
	redisTime bool
	margin    time.Duration
	timeout   time.Duration
}

var _ apikey.Limiter = (*Limiter)(nil)

// Option configures a Limiter.
type Option func(*limiterConfig)

type limiterConfig struct {
	prefix    string
	redisTime bool
	margin    time.Duration
	timeout   time.Duration
}

// WithNamespace sets the namespace of the Limiter's Redis keys: the prefix
// they all start with (default DefaultNamespace). Limiters in different
// namespaces share nothing. (Not apikey.WithPrefix, the API keys' prefix.)
func WithNamespace(ns string) Option { return func(c *limiterConfig) { c.prefix = ns } }

// WithRedisTime makes decisions at the Redis server's time (TIME) instead
// of the time the Manager passes, so that the clocks of the instances do
// not matter. The Manager's clock (apikey.WithClock) is then ignored.
func WithRedisTime() Option { return func(c *limiterConfig) { c.redisTime = true } }

// WithTTLMargin sets how long a bucket is kept after it would be full again
// (default DefaultTTLMargin). Buckets expire on the Redis server's clock: a
// margin larger than the skew between it and the instances' clocks keeps a
// bucket from expiring before the instances think it is full.
func WithTTLMargin(d time.Duration) Option { return func(c *limiterConfig) { c.margin = d } }

// WithTimeout bounds each decision and refund (default DefaultTimeout; 0
// leaves only the caller's context), so that a slow Redis fails fast into
// the Manager's fail-open or fail-closed choice. The bound and the caller's context are kept
// whatever the client: also one built without ContextTimeoutEnabled,
// which go-redis would let block on the socket for its read timeout.
func WithTimeout(d time.Duration) Option { return func(c *limiterConfig) { c.timeout = d } }

// NewLimiter returns a Limiter on client. It does not contact Redis.
func NewLimiter(client goredis.UniversalClient, opts ...Option) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("apikey/redis: NewLimiter: client must not be nil")
	}
	c := limiterConfig{prefix: DefaultNamespace, margin: DefaultTTLMargin, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&c)
	}
	switch {
	case c.prefix == "":
		return nil, errors.New("apikey/redis: NewLimiter: the namespace must not be empty")
	case c.margin < 0:
		return nil, errors.New("apikey/redis: NewLimiter: TTL margin must not be negative")
	case c.timeout < 0:
		return nil, errors.New("apikey/redis: NewLimiter: timeout must not be negative")
	}
	return &Limiter{client: client, script: goredis.NewScript(limiterLua),
		refund: goredis.NewScript(refundLua), prefix: c.prefix,
		redisTime: c.redisTime, margin: c.margin, timeout: c.timeout}, nil
}

// Key returns the Redis key of the bucket k: the prefix, then the Policy's
// length, the Policy and the Subject, so that no two LimitKeys share one.
func (l *Limiter) Key(k apikey.LimitKey) string {
	b := make([]byte, 0, len(l.prefix)+len(k.Policy)+len(k.Subject)+8)
	b = append(b, l.prefix...)
	b = strconv.AppendInt(b, int64(len(k.Policy)), 10)
	b = append(b, ':')
	b = append(b, k.Policy...)
	b = append(b, ':')
	b = append(b, k.Subject...)
	return string(b)
}

// Allow implements apikey.Limiter: one script call decides every request
// together, taking from all buckets or from none.
func (l *Limiter) Allow(ctx context.Context, now time.Time, reqs []apikey.LimitRequest) (apikey.Decision, error) {
	if len(reqs) == 0 {
		return apikey.Decision{Allowed: true}, nil
	}
	keys := make([]string, len(reqs))
	args := make([]any, 0, 4+5*len(reqs))
	mode := "0"
	if l.redisTime {
		mode = "1"
	}
	args = append(args, mode, now.Unix(), now.Nanosecond(), l.margin.Milliseconds())
	for i, r := range reqs {
		if err := validLimit(r.Limit); err != nil {
			return apikey.Decision{}, fmt.Errorf("apikey/redis: limit %q: %w", r.Name, err)
		}
		keys[i] = l.Key(r.Key)
		p := r.Limit.Period
		args = append(args, r.Limit.Requests, int64(p/time.Second), int64(p%time.Second), burst(r.Limit), max(r.Cost, 1))
	}
	var res []any
	err := bounded(ctx, l.timeout, func(ctx context.Context) error {
		r, err := l.script.Run(ctx, l.client, keys, args...).Slice()
		if err == nil {
			res = r // only read once bounded returned nil
		}
		return err
	})
	if err != nil {
		return apikey.Decision{}, fmt.Errorf("apikey/redis: limiter: %w", err)
	}
	allowed, at, tokens, err := parseReply(res, len(reqs))
	if err != nil {
		return apikey.Decision{}, err
	}
	if l.redisTime {
		now = at
	}
	d := decide(now, reqs, tokens)
	if d.Allowed != allowed {
		// Both sides compare the same numbers; this cannot happen.
		return apikey.Decision{}, errors.New("apikey/redis: limiter: script and client disagree on the decision")
	}
	return d, nil
}

// Refund implements apikey.Limiter: one script call gives every bucket
// its request's cost back, never above its burst; buckets that expired
// meanwhile (full again) are left alone.
func (l *Limiter) Refund(ctx context.Context, now time.Time, reqs []apikey.LimitRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	keys := make([]string, len(reqs))
	args := make([]any, 0, 4+len(reqs))
	mode := "0"
	if l.redisTime {
		mode = "1"
	}
	args = append(args, mode, now.Unix(), now.Nanosecond(), l.margin.Milliseconds())
	for i, r := range reqs {
		keys[i] = l.Key(r.Key)
		args = append(args, max(r.Cost, 1))
	}
	err := bounded(ctx, l.timeout, func(ctx context.Context) error {
		return l.refund.Run(ctx, l.client, keys, args...).Err()
	})
	if err != nil {
		return fmt.Errorf("apikey/redis: limiter refund: %w", err)
	}
	return nil
}

func validLimit(l apikey.Limit) error {
	if l.Requests <= 0 || l.Period <= 0 || l.Burst < 0 {
		return errors.New("requests and period must be positive, burst not negative")
	}
	return nil
}

func burst(l apikey.Limit) int {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

// parseReply reads the script's {allowed, nowSec, nowNsec, tokens...}.
func parseReply(res []any, n int) (allowed bool, now time.Time, tokens []float64, err error) {
	if len(res) != 3+n {
		return false, now, nil, fmt.Errorf("apikey/redis: limiter: unexpected reply of %d values", len(res))
	}
	ints := [3]int64{}
	for i := range ints {
		v, ok := res[i].(int64)
		if !ok {
			return false, now, nil, fmt.Errorf("apikey/redis: limiter: unexpected reply value %T", res[i])
		}
		ints[i] = v
	}
	tokens = make([]float64, n)
	for i := range tokens {
		s, ok := res[3+i].(string)
		if !ok {
			return false, now, nil, fmt.Errorf("apikey/redis: limiter: unexpected reply value %T", res[3+i])
		}
		if tokens[i], err = strconv.ParseFloat(s, 64); err != nil {
			return false, now, nil, fmt.Errorf("apikey/redis: limiter: %w", err)
		}
	}
	return ints[0] == 1, time.Unix(ints[1], ints[2]), tokens, nil
}

// decide builds the Decision from the tokens each bucket held at now, by
// the rules of apikey.NewLocalLimiter's (decideLocked): the denying request
// with the longest wait, or, when all have room, the one with the smallest
// fraction of its burst left.
func decide(now time.Time, reqs []apikey.LimitRequest, tokens []float64) apikey.Decision {
	best := apikey.Decision{Allowed: true, Remaining: math.MaxInt}
	tightest := math.Inf(1)
	for i, r := range reqs {
		cost := max(r.Cost, 1)
		b := burst(r.Limit)
		d := apikey.Decision{Policy: r.Name, Limit: r.Limit.Requests, Window: r.Limit.Period}
		if tokens[i] < float64(cost) {
			d.RetryAfter = durationFor(float64(cost)-tokens[i], r.Limit)
			if cost > b {
				d.RetryAfter = r.Limit.Period // it never fits
			}
			d.Remaining = max(int(tokens[i]), 0)
			d.Reset = now.Add(durationFor(float64(b)-tokens[i], r.Limit))
			if best.Allowed || d.RetryAfter > best.RetryAfter {
				best = d
			}
			continue
		}
		if !best.Allowed {
			continue
		}
		left := tokens[i] - float64(cost)
		if frac := left / float64(b); frac < tightest {
			tightest = frac
			d.Allowed = true
			d.Remaining = int(left)
			d.Reset = now.Add(durationFor(float64(b)-left, r.Limit))
			best = d
		}
	}
	return best
}

// durationFor is how long limit takes to refill tokens (as in apikey).
func durationFor(tokens float64, limit apikey.Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(tokens * float64(limit.Period) / float64(limit.Requests)))
}
