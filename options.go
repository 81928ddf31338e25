package apikey

import (
	"bytes"
	"log/slog"
	"maps"
	"time"
)

// Option configures a Manager. Options are checked by New, which reports
// an invalid one as an error matching ErrInvalidParams.
type Option func(*config)

type config struct {
	prefix        string
	peppers       [][]byte
	clock         func() time.Time
	envs          []string
	vocabulary    []string
	implications  map[string][]string
	maxLifetime   time.Duration
	usageInterval time.Duration // 0: usage tracking off
	logger        *slog.Logger
	cacheTTL      time.Duration // 0: no verification cache
	negativeTTL   time.Duration
	negativeSize  int
	invalidator   Invalidator
	storeTimeout  time.Duration
	sha256Legacy  bool
	noV1Digests   bool
	limiter       Limiter
	keyLimit      Limit
	plans         map[string]Limit
	ownerPlan     func(ownerID string) string
	limiterOpen   bool
	clockSet      bool

	auditSink     AuditSink // see audit.go
	auditSinkSet  bool
	auditStore    AuditStore
	auditStoreSet bool
}

const (
	// DefaultUsageFlushInterval is how often usage counts are written behind.
	DefaultUsageFlushInterval = 10 * time.Second
	// DefaultCacheTTL is the verification cache's staleness bound.
	DefaultCacheTTL = 30 * time.Second
	// DefaultNegativeCacheTTL and DefaultNegativeCacheSize bound the cache
	// of unknown keys.
	DefaultNegativeCacheTTL  = 5 * time.Second
	DefaultNegativeCacheSize = 10_000
	// DefaultStoreTimeout bounds a verification's store lookup.
	DefaultStoreTimeout = 5 * time.Second
	minPepperLen        = 16
)

func defaultConfig() config {
	return config{
		prefix:        DefaultPrefix,
		clock:         time.Now,
		envs:          []string{EnvLive, EnvTest},
		usageInterval: DefaultUsageFlushInterval,
		logger:        slog.New(slog.DiscardHandler),
		cacheTTL:      DefaultCacheTTL,
		negativeTTL:   DefaultNegativeCacheTTL,
		negativeSize:  DefaultNegativeCacheSize,
		storeTimeout:  DefaultStoreTimeout,
	}
}

// WithPrefix sets the key prefix: 1–16 characters of [a-z0-9]. The default
// is "sk" (keys look like sk_live_…).
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithPepper makes digests HMAC-SHA-256 under a server-side secret, so a
// stolen database cannot be checked against guessed keys without it. Keep
// peppers in a secrets manager, never in source. Each must be at least 16
// bytes (32 random bytes recommended).
//
// New keys use the first pepper. Keys digested under a later pepper still
// verify and are re-hashed to the first pepper on use: to rotate a pepper,
// put the new one first and drop the old one once its keys have been used
// or retired. To bring in keys from before any pepper was set, add
// WithUnpepperedFallback for the transition.
func WithPepper(peppers ...[]byte) Option {
	return func(c *config) {
		c.peppers = make([][]byte, len(peppers))
		for i, p := range peppers {
			c.peppers[i] = bytes.Clone(p)
		}
	}
}

// WithUnpepperedFallback makes keys stored with plain SHA-256 (from before
// WithPepper was set) still verify, re-hashing each to the first pepper on
// use. Use it only while migrating: with it, anyone who can write to the
// database can add a working key without knowing the pepper.
func WithUnpepperedFallback() Option { return func(c *config) { c.sha256Legacy = true } }

// WithoutV1Digests stops looking keys up under the digest schemes of
// earlier versions ("sha256" and "hmac-sha256:<pepper id>", over the whole
// key). By default a key stored under one still verifies and is re-hashed
// to the current scheme on use, which makes an unknown key cost three store
// lookups instead of one (with an older pepper or WithUnpepperedFallback,
// five instead of three). Set this on a new installation, or once every
// older key has been used or retired (no record's digest_scheme lacks
// "/v2"). Older peppers (WithPepper) and WithUnpepperedFallback still work.
func WithoutV1Digests() Option { return func(c *config) { c.noV1Digests = true } }

// WithStoreTimeout bounds each store call of a Verify (default 5 s): the
// lookup and a metered key's quota update. A store that does not answer in
// time fails the verification with ErrStoreUnavailable (fail closed).
func WithStoreTimeout(d time.Duration) Option { return func(c *config) { c.storeTimeout = d } }

// WithKeyLimit sets the default rate limit of every key that has neither
// its own RateLimit nor a Plan. Default: none.
func WithKeyLimit(l Limit) Option { return func(c *config) { c.keyLimit = l } }

// WithPlans names rate-limit plans, e.g. {"free": PerMinute(60), "team":
// PerMinute(300)}. A key refers to one with CreateParams.Plan; an owner
// with WithOwnerPlan.
func WithPlans(plans map[string]Limit) Option {
	return func(c *config) { c.plans = maps.Clone(plans) }
}

// WithOwnerPlan gives each owner (organization) a plan whose limit all of
// the owner's keys share, as Hook Mesh limits per organization. fn returns
// the owner's plan name, or "" for none; it runs on every Verify, so it
// must be fast (a map lookup, not a query).
func WithOwnerPlan(fn func(ownerID string) string) Option {
	return func(c *config) { c.ownerPlan = fn }
}

// WithLimiter replaces the in-process LocalLimiter, e.g. with the Redis
// limiter for services on many machines.
func WithLimiter(l Limiter) Option { return func(c *config) { c.limiter = l } }

// WithLimiterFailOpen lets requests through when the limiter fails (a
// Redis server down). The default fails closed: ErrStoreUnavailable, 503.
func WithLimiterFailOpen() Option { return func(c *config) { c.limiterOpen = true } }

// WithClock sets the source of the current time (default time.Now), for
// expiry checks and timestamps.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock, c.clockSet = now, true }
}

// WithEnvironments sets which environments Verify accepts and Create issues:
// "live", "test" or both (the default). A key of another environment is
// refused before any store call (ErrWrongEnvironment).
func WithEnvironments(envs ...string) Option {
	return func(c *config) { c.envs = envs }
}

// WithScopeVocabulary lists every scope this service knows. Create then
// rejects unknown scopes (typos) with ErrInvalidParams; "*" and
// "resource:*" are accepted when the vocabulary has scopes they cover.
func WithScopeVocabulary(scopes ...string) Option {
	return func(c *config) {
		c.vocabulary = append([]string{}, scopes...)
	}
}

// WithScopeImplications sets rules "from ⇒ to", e.g.
// {"write": {"read"}}: a key granted "write" also satisfies "read", and
// "x:write" satisfies "x:read" for every resource x. Rules between two
// single words apply to actions like this; any rule involving a ':' is
// exact. Rules are transitive.
func WithScopeImplications(rules map[string][]string) Option {
	return func(c *config) {
		c.implications = make(map[string][]string, len(rules))
		for k, v := range rules {
			c.implications[k] = append([]string{}, v...)
		}
	}
}

// WithMaxLifetime caps how long a key may live: Create rejects an ExpiresAt
// beyond now+d, gives keys without one an ExpiresAt of now+d, and Rotate
// caps the successor's lifetime the same way. 0 (the default) means no cap.
func WithMaxLifetime(d time.Duration) Option { return func(c *config) { c.maxLifetime = d } }

// WithUsageFlushInterval sets how often LastUsedAt and RequestCount are
// written to the store (default 10 s). Verify only updates counters in
// memory; a crash loses at most one interval of usage data.
func WithUsageFlushInterval(d time.Duration) Option {
	return func(c *config) {
		if d == 0 {
			d = -1 // 0 would mean "off"; an explicit 0 is a mistake
		}
		c.usageInterval = d
	}
}

// WithoutUsageTracking turns off LastUsedAt and RequestCount.
func WithoutUsageTracking() Option { return func(c *config) { c.usageInterval = 0 } }

// WithCache sets the verification cache's staleness bound: how long a
// verified key's record is reused without asking the store (default 30 s).
// Changes made through this Manager take effect at once; changes made
// through another Manager (another instance) within this bound, or at once
// with WithInvalidator. Expiry is always exact. 0 turns caching off, so
// every Verify asks the store.
func WithCache(staleness time.Duration) Option { return func(c *config) { c.cacheTTL = staleness } }

// WithNegativeCache sets how long, and for how many keys at most, a
// well-formed but unknown key is remembered as unknown (default 5 s and
// 10,000), so a flood of made-up keys costs at most one store lookup per
// distinct key per ttl. Store errors are never remembered. 0 turns it off.
func WithNegativeCache(ttl time.Duration, size int) Option {
	return func(c *config) { c.negativeTTL, c.negativeSize = ttl, size }
}

// WithInvalidator shares evictions with other Managers over the same store:
// a revoke, rotate, update or disable on one is refused by all of them at
// once, not within the staleness bound.
func WithInvalidator(inv Invalidator) Option { return func(c *config) { c.invalidator = inv } }

// WithLogger sets where the Manager logs operational problems (a failed
// usage flush, a failed re-hash). The default discards. Keys are never
// logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// digestSchemes lists the schemes Verify looks a key up under: [0] is the
// current one (new keys, re-hashing), the rest are older ones whose records
// still verify and are re-hashed on use. Each pepper brings its v2 and v1
// schemes (v1 unless WithoutV1Digests); plain SHA-256 under a pepper only
// with WithUnpepperedFallback, since anyone who can write to the database
// could add such a key.
func (c *config) digestSchemes() ([]digestScheme, error) {
	with := func(schemes []digestScheme, v2, v1 digestScheme) []digestScheme {
		if c.noV1Digests {
			return append(schemes, v2)
		}
		return append(schemes, v2, v1)
	}
	if len(c.peppers) == 0 {
		if c.sha256Legacy {
			return nil, paramErr("pepper", "WithUnpepperedFallback needs WithPepper")
		}
		return with(nil, sha256Scheme(true), sha256Scheme(false)), nil
	}
	schemes := make([]digestScheme, 0, 2*len(c.peppers)+2)
	for i, p := range c.peppers {
		if len(p) < minPepperLen {
			return nil, paramErr("pepper", "each pepper must be at least 16 bytes")
		}
		for _, q := range c.peppers[:i] {
			if bytes.Equal(p, q) {
				return nil, paramErr("pepper", "peppers must differ")
			}
		}
		schemes = with(schemes, hmacScheme(p, true), hmacScheme(p, false))
	}
	if c.sha256Legacy {
		schemes = with(schemes, sha256Scheme(true), sha256Scheme(false))
	}
	return schemes, nil
}

func (c *config) environments() (live, test bool, err error) {
	for _, e := range c.envs {
		switch e {
		case EnvLive:
			live = true
		case EnvTest:
			test = true
		default:
			return false, false, paramErr("environments", `must be "live" or "test"`)
		}
	}
	if !live && !test {
		return false, false, paramErr("environments", "must name at least one environment")
	}
	return live, test, nil
}
