package apikey

import (
	"bytes"
	"log/slog"
	"maps"
	"time"

	"github.com/keyward/apikey/audit"
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

	auditSink     audit.Sink // see audit.go
	auditSinkSet  bool
	auditStore    audit.Store
	auditStoreSet bool
}

const (
	// defaultUsageFlushInterval is how often usage counts are written behind.
	defaultUsageFlushInterval = 10 * time.Second
	// defaultCacheTTL is the verification cache's staleness bound.
	defaultCacheTTL = 30 * time.Second
	// defaultNegativeCacheTTL and defaultNegativeCacheSize bound the cache
	// of unknown keys.
	defaultNegativeCacheTTL  = 5 * time.Second
	defaultNegativeCacheSize = 10_000
	// defaultStoreTimeout bounds a verification's store lookup.
	defaultStoreTimeout = 5 * time.Second
	minPepperLen        = 16
)

func defaultConfig() config {
	return config{
		prefix:        DefaultPrefix,
		clock:         time.Now,
		envs:          []string{EnvLive, EnvTest},
		usageInterval: defaultUsageFlushInterval,
		logger:        slog.New(slog.DiscardHandler),
		cacheTTL:      defaultCacheTTL,
		negativeTTL:   defaultNegativeCacheTTL,
		negativeSize:  defaultNegativeCacheSize,
		storeTimeout:  defaultStoreTimeout,
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

// WithLimiter replaces the in-process limiter (NewLocalLimiter), e.g. with the Redis
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

// WithAuditSink sets where audit events are sent besides the store. The
// default is NewSlogAuditSink over the Manager's logger (WithLogger), which
// discards unless a logger is set.
func WithAuditSink(s audit.Sink) Option {
	return func(c *config) { c.auditSink, c.auditSinkSet = s, true }
}

// WithAuditStore sets where audit events are persisted, instead of the
// Store (when it implements audit.Store). nil keeps no audit log in any
// store.
func WithAuditStore(s audit.Store) Option {
	return func(c *config) { c.auditStore, c.auditStoreSet = s, true }
}

// settings is what validate derives from a config.
type settings struct {
	format     keyFormat
	schemes    []digestScheme
	live, test bool
	policy     *scopePolicy
	limits     limitPolicy
	tick       time.Duration // the background loop's period
	maxAge     int64         // the verification cache's bound, in ticks; 0: off
	negTicks   int64         // the negative cache's, in ticks; 0: off
}

// validate checks every option and derives the Manager's settings; an
// invalid option is an error matching ErrInvalidParams.
func (c *config) validate() (s settings, err error) {
	if err = c.checkScalars(); err != nil {
		return s, err
	}
	if s.format, err = newKeyFormat(c.prefix); err != nil {
		return s, err
	}
	if s.schemes, err = c.digestSchemes(); err != nil {
		return s, err
	}
	if s.live, s.test, err = c.environments(); err != nil {
		return s, err
	}
	if s.policy, err = newScopePolicy(c.vocabulary, c.implications); err != nil {
		return s, err
	}
	if s.limits, err = c.limitPolicy(); err != nil {
		return s, err
	}
	s.tick, s.maxAge, s.negTicks, err = c.cacheTicks()
	return s, err
}

// checkScalars checks the options that stand alone.
func (c *config) checkScalars() error {
	switch {
	case c.clock == nil:
		return paramErr("clock", "must not be nil")
	case c.maxLifetime < 0:
		return paramErr("max_lifetime", "must not be negative")
	case c.logger == nil:
		return paramErr("logger", "must not be nil")
	case c.usageInterval < 0:
		return paramErr("usage_flush_interval", "must be positive")
	case c.cacheTTL < 0 || c.negativeTTL < 0 || c.negativeSize < 0:
		return paramErr("cache", "durations and sizes must not be negative")
	case c.storeTimeout <= 0:
		return paramErr("store_timeout", "must be positive")
	}
	return nil
}

// cacheTicks derives the background loop's period and the caches' bounds
// in ticks from the staleness bound and the negative cache's lifetime.
func (c *config) cacheTicks() (tick time.Duration, maxAge, negTicks int64, err error) {
	tick = time.Second
	switch {
	case c.cacheTTL > 0:
		tick = cacheTick(c.cacheTTL)
		if maxAge = int64(c.cacheTTL/tick) - 1; maxAge <= 0 {
			return 0, 0, 0, paramErr("cache", "staleness bound must be 0 (off) or at least 2ms")
		}
	case c.negativeTTL > 0:
		tick = cacheTick(c.negativeTTL)
	}
	if c.negativeTTL > 0 && c.negativeSize > 0 {
		negTicks = int64((c.negativeTTL + tick - 1) / tick)
	}
	return tick, maxAge, negTicks, nil
}
