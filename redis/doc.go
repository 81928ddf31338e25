// Package redis runs github.com/keyward/apikey on many instances of a
// service: a rate Limiter whose buckets live in Redis, so every instance
// draws from one budget, and an Invalidator over Redis pub/sub, so a key
// revoked, rotated or disabled on one instance is refused by the others at
// once rather than after their cache's staleness bound.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	lim, err := redis.NewLimiter(rdb)
//	...
//	inv, err := redis.NewInvalidator(rdb)
//	...
//	defer inv.Close()
//	m, err := apikey.New(store,
//		apikey.WithLimiter(lim),
//		apikey.WithInvalidator(inv),
//		apikey.WithKeyLimit(apikey.PerMinute(600)))
//
// # Limiter
//
// The Limiter makes the same decisions as apikey.NewLocalLimiter's, a token
// bucket per apikey.LimitKey with Requests per Period and up to Burst at
// once, so the X-RateLimit-* headers do not depend on which one runs. Each
// decision is one Lua script (EVALSHA, falling back to EVAL), one round
// trip, whatever the number of buckets: either every bucket has room and
// all are taken from, or none is touched.
//
// If Redis cannot be reached, Allow returns an error; the Manager then
// refuses the request with apikey.ErrStoreUnavailable (fail closed), or
// lets it through under apikey.WithLimiterFailOpen.
//
// Clocks: by default the time of a decision is the one the Manager passes
// (its clock, WithClock), which keeps tests deterministic. Instances on
// several machines then share buckets across their clocks' skew: a bucket
// never moves back in time, so an instance whose clock is behind sees
// fewer tokens until its clock catches up, and one ahead by d may be
// credited up to d's worth of tokens once. Keep clocks synchronized (NTP
// keeps them within milliseconds), or use WithRedisTime to take the time
// from the Redis server instead (the Manager's clock is then ignored).
// Note that the Manager's default clock is its start time plus the
// monotonic time since: a step of the wall clock after the instance started
// (an NTP correction shortly after boot) is not seen by its limiter until
// it restarts, so NTP alone does not bound the skew; WithRedisTime does.
//
// Redis keys are the namespace (WithNamespace, default "apikey:rl:")
// followed by the LimitKey, length-prefixed so that no two LimitKeys share
// a Redis key: "apikey:rl:<len(Policy)>:<Policy>:<Subject>". The apikey
// package puts key IDs, owner IDs and route names there, never key
// material. Each bucket expires once it would be full again, plus a margin
// (WithTTLMargin), so memory is bounded by the buckets in use.
//
// On Redis Cluster the buckets of one decision must hash to one slot: use
// a namespace with a hash tag, such as "{apikey}:rl:" (all buckets then
// live on one shard).
//
// # Invalidator
//
// The Invalidator publishes the ID of every changed key on a channel
// (WithChannel, default "apikey:invalidate") and evicts it from the cache
// of every subscribed Manager. go-redis reconnects and resubscribes after a
// connection loss; evictions published while an instance was disconnected
// are lost to it, and that instance sees those changes within its cache's
// staleness bound, as without an Invalidator.
package redis
