// Package apikey issues and verifies API keys inside a Go service: prefixed
// keys shown once (sk_live_…, sk_test_…), stored only as a digest (SHA-256,
// or HMAC-SHA-256 under a server-side pepper), verified in constant time,
// with revocation, expiry, environments, scopes and rotation.
//
// A Manager does the work over a Store (store/memstore, store/sqlitestore,
// store/sqlstore). Create returns the key once; Verify checks a presented
// key:
//
//	m, err := apikey.New(memstore.New())
//	key, secret, err := m.Create(ctx, apikey.CreateParams{Name: "CI", Scopes: []string{"webhooks:read"}})
//	// show secret to the user, once
//	k, err := m.Verify(ctx, presented, "webhooks:read")
//	if errors.Is(err, apikey.ErrInvalidKey) { /* 401 */ }
//
// Security model: the plaintext key never reaches a store, a log line, an
// error string or JSON. Failures are uniform (every authentication failure
// matches ErrInvalidKey) and store failures fail closed
// (ErrStoreUnavailable). See the README for the key format and what a
// secret scanner can check.
//
// # Names of options
//
// One rule, in this package and in admin, leak, redis and store/*: the
// options of a constructor (New's Option; admin.NewHandler, leak.GitHub,
// leak.GitLab, leak.Public, redis.NewLimiter, redis.NewInvalidator,
// sqlstore.New, sqlstore.NewPoller, sqlitestore.Open, pgnotify.New) are
// named With… for what they set (WithCache, WithPepper) or Without… for what
// they turn off (WithoutUsageTracking). The options of one middleware
// (MiddlewareOption, passed to Manager.Middleware) are named for what they
// set, without With: Cost, RequiredScopes, OnError, Realm. So
// apikey.New(s, apikey.Cost(2)) does not read as if it might compile. One
// name means one thing across packages: WithLogger is always a logger,
// WithClock always the source of time, and redis.WithNamespace (the Redis
// key namespace) is not apikey.WithPrefix (the API keys' prefix). Functions
// that return a context are named for it: audit.ContextWithActor,
// ContextWithAuthMethod, Manager.NewContext.
package apikey

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/keyward/apikey/audit"
)

// Key is the record of an API key, without the key itself. The plaintext
// is returned once, by Create and Rotate.
type Key struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Prefix      string            `json:"prefix"` // first 12 characters, e.g. "sk_live_a1b2"
	OwnerID     string            `json:"owner_id,omitempty"`
	Environment string            `json:"environment"` // "live" or "test"
	Scopes      []string          `json:"scopes"`
	Metadata    map[string]string `json:"metadata,omitempty"`

	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt  time.Time `json:"revoked_at,omitzero"` // zero: not revoked
	LastUsedAt time.Time `json:"last_used_at,omitzero"`

	Disabled     bool  `json:"disabled"`
	RequestCount int64 `json:"request_count"`

	// Plan names the key's rate-limit plan (see WithPlans); RateLimit, when
	// set, overrides it for this key.
	Plan      string `json:"plan,omitempty"`
	RateLimit Limit  `json:"rate_limit,omitzero"`
	// Quota is the key's usage budget, nil for none.
	Quota *Quota `json:"quota,omitempty"`

	// Rotation links: the key this one replaced, and the key that replaced it.
	RotatedFromID string `json:"rotated_from_id,omitempty"`
	RotatedToID   string `json:"rotated_to_id,omitempty"`
}

// Clone returns a deep copy of k.
func (k *Key) Clone() *Key {
	c := *k
	c.Scopes = slices.Clone(k.Scopes)
	c.Metadata = maps.Clone(k.Metadata)
	c.Quota = cloneQuota(k.Quota)
	return &c
}

func cloneQuota(q *Quota) *Quota {
	if q == nil {
		return nil
	}
	c := *q
	return &c
}

// Status is a key's state at a point in time.
type Status string

const (
	StatusActive   Status = "active"
	StatusRevoked  Status = "revoked"
	StatusExpired  Status = "expired"
	StatusDisabled Status = "disabled"
)

// Status returns the key's state at now. Revoked wins over expired, expired
// over disabled.
func (k *Key) Status(now time.Time) Status {
	switch {
	case !k.RevokedAt.IsZero():
		return StatusRevoked
	case k.expired(now):
		return StatusExpired
	case k.Disabled:
		return StatusDisabled
	}
	return StatusActive
}

// expired: now >= ExpiresAt.
func (k *Key) expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// CreateParams describes a new key.
type CreateParams struct {
	Name        string   // 1–200 characters of UTF-8; required
	OwnerID     string   // the tenant (organization, user); up to 200 characters
	Environment string   // "live" (default) or "test"
	Scopes      []string // see the package's scope rules; at most 100
	// ExpiresAt is when the key stops working; zero means never (or the
	// maximum lifetime, when WithMaxLifetime is set).
	ExpiresAt time.Time
	Metadata  map[string]string // at most 16 KiB of keys and values
	// Plan and RateLimit set the key's rate limit (see WithPlans,
	// WithKeyLimit); zero values mean the Manager's default.
	Plan      string
	RateLimit Limit
	// Quota gives the key a usage budget (Limit and Refill; it starts
	// full). Nil: none.
	Quota *Quota
}

const (
	maxNameLen     = 200
	maxOwnerLen    = 200
	maxMetadataLen = 16 << 10
	defaultLimit   = 100
	maxLimit       = 1000
)

// Manager issues, verifies and manages keys over a Store. It is safe for
// concurrent use. Close it to flush usage counts.
type Manager struct {
	store        Store
	format       keyFormat
	schemes      []digestScheme // [0] for new keys; the rest still verify
	acceptLive   bool
	acceptTest   bool
	policy       *scopePolicy
	now          func() time.Time
	maxLifetime  time.Duration
	logger       *slog.Logger
	usage        *usageTracker // nil when usage tracking is off
	cache        *verifyCache  // always set; positive caching may be off
	limits       limitPolicy
	storeTimeout time.Duration
	inv          Invalidator // nil without WithInvalidator
	unsubscribe  func()
	unwatch      func() // nil unless the Invalidator reports its health
	audit        *auditor

	stop, done chan struct{} // the background loop, when there is one
	closeOnce  sync.Once
	closed     atomic.Bool
	closeErr   error
}

// New returns a Manager over store. It starts a goroutine that writes usage
// counts behind (unless WithoutUsageTracking); Close stops it.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, paramErr("store", "must not be nil")
	}
	c := defaultConfig()
	for _, opt := range opts {
		opt(&c)
	}
	v, err := c.validate()
	if err != nil {
		return nil, err
	}
	m := &Manager{store: store, format: v.format, schemes: v.schemes, acceptLive: v.live, acceptTest: v.test,
		policy: v.policy, now: c.clock, maxLifetime: c.maxLifetime, logger: c.logger, limits: v.limits,
		storeTimeout: c.storeTimeout, cache: newVerifyCache(v.maxAge, v.negTicks, c.negativeSize)}
	if m.audit, err = newAuditor(&c, store, m.logger); err != nil {
		return nil, err
	}
	if c.usageInterval > 0 {
		m.usage = newUsageTracker(store, m.now, m.logger)
	}
	if v.maxAge > 0 || v.negTicks > 0 || m.usage != nil {
		m.startBackground(v.tick, c.usageInterval)
	}
	m.subscribe(c.invalidator)
	return m, nil
}

// ScopeVocabulary returns the scopes set with WithScopeVocabulary, sorted,
// or nil when any scope is accepted.
func (m *Manager) ScopeVocabulary() []string { return slices.Clone(m.policy.vocabulary) }

// Create issues a new key. It returns the stored record and the key itself,
// which is not kept anywhere: show it to the user once.
func (m *Manager) Create(ctx context.Context, p CreateParams) (*Key, string, error) {
	now := m.timestamp()
	if p.Environment == "" {
		p.Environment = EnvLive
	}
	if err := m.validateCreate(&p, now); err != nil {
		return nil, "", err
	}
	scopes, err := m.policy.normalizeGrant(p.Scopes)
	if err != nil {
		return nil, "", err
	}
	rec, secret, err := m.newRecord(Key{
		Name:        p.Name,
		OwnerID:     p.OwnerID,
		Environment: p.Environment,
		Scopes:      scopes,
		Metadata:    maps.Clone(p.Metadata),
		CreatedAt:   now,
		ExpiresAt:   p.ExpiresAt.UTC().Truncate(time.Microsecond),
		Plan:        p.Plan,
		RateLimit:   p.RateLimit,
		Quota:       newQuota(p.Quota, now),
	})
	if err != nil {
		return nil, "", err
	}
	if err := m.store.Insert(ctx, rec); err != nil {
		return nil, "", storeErr("create", err)
	}
	if m.cache.neg != nil {
		m.cache.neg.remove(rec.Digest)
	}
	m.audit.record(ctx, audit.KeyCreated, &rec.Key, nil)
	return rec.Key.Clone(), secret, nil
}

// newRecord completes k with a fresh ID and key, and returns the record to
// insert and the key.
func (m *Manager) newRecord(k Key) (*Record, string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, "", fmt.Errorf("apikey: generating id: %w", err)
	}
	secret := m.format.generate(k.Environment)
	k.ID = id.String()
	k.Prefix = displayPrefix(secret)
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	s := &m.schemes[0]
	return &Record{Key: k, Digest: s.digest(secret), DigestScheme: s.name}, secret, nil
}

func (m *Manager) validateCreate(p *CreateParams, now time.Time) error {
	if err := validateName(p.Name); err != nil {
		return err
	}
	if utf8.RuneCountInString(p.OwnerID) > maxOwnerLen || !utf8.ValidString(p.OwnerID) {
		return paramErr("owner_id", "must be at most 200 characters of UTF-8")
	}
	if !m.accepts(p.Environment) {
		return paramErr("environment", "must be one of the accepted environments (live, test)")
	}
	if err := validateMetadata(p.Metadata); err != nil {
		return err
	}
	if err := m.limits.validate(p.Plan, p.RateLimit); err != nil {
		return err
	}
	if err := p.Quota.validate(); err != nil {
		return err
	}
	if !p.ExpiresAt.IsZero() {
		// Compare what will be stored, in microseconds, with the stored
		// creation time: an expiry under 1 µs ahead would be born expired,
		// and one that truncates to the zero time would never expire.
		p.ExpiresAt = p.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !p.ExpiresAt.After(now) {
			return paramErr("expires_at", "must be in the future")
		}
	}
	if p.ExpiresAt.IsZero() {
		p.ExpiresAt = m.Expiry(now, 0)
	} else if m.maxLifetime > 0 && p.ExpiresAt.After(now.Add(m.maxLifetime)) {
		return paramErr("expires_at", "must be within the maximum lifetime of "+m.maxLifetime.String())
	}
	return nil
}

func validateName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > maxNameLen || !utf8.ValidString(name) {
		return paramErr("name", "must be 1 to 200 characters of UTF-8")
	}
	return nil
}

func validateMetadata(md map[string]string) error {
	size := 0
	for k, v := range md {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return paramErr("metadata", "keys must be non-empty UTF-8 and values UTF-8")
		}
		size += len(k) + len(v)
	}
	if size > maxMetadataLen {
		return paramErr("metadata", "must be at most 16 KiB of keys and values")
	}
	return nil
}

func (m *Manager) accepts(env string) bool {
	return env == EnvLive && m.acceptLive || env == EnvTest && m.acceptTest
}

// Verify checks a presented key and that it grants every required scope.
// On success it returns the key's record, which is shared: treat it as
// read-only (Clone it to keep or change it).
//
// Every authentication failure matches ErrInvalidKey (the specific reason,
// such as ErrRevoked, is also matchable and logged by the middleware);
// a missing scope matches ErrInsufficientScope; a store failure matches
// ErrStoreUnavailable and must fail closed. Malformed keys, wrong checksums,
// wrong prefixes and refused environments are rejected before any hashing
// or store call.
//
// A key over one of its rate limits gets an error matching ErrRateLimited
// (a *RateLimitError carrying the Decision); each successful Verify costs
// one request of every limit that applies. Use Check for the Decision (the
// rate-limit headers), a cost or any-of scopes.
func (m *Manager) Verify(ctx context.Context, rawKey string, requiredScopes ...string) (*Key, error) {
	rec, _, err := m.check(ctx, rawKey, requiredScopes, false, 1, nil)
	if err != nil {
		return nil, err
	}
	return &rec.Key, nil
}

// CheckOptions are the requirements of Check.
type CheckOptions struct {
	Scopes   []string // required: all of them, or one with AnyScope
	AnyScope bool
	// Cost is what the request takes from rate limits and quotas (0: 1).
	Cost int
}

// Check is Verify with options, also returning the rate-limit Decision
// that describes the tightest limit applied (zero when none applies), for
// X-RateLimit-* headers. The Decision is also set when the error is a
// *RateLimitError.
func (m *Manager) Check(ctx context.Context, rawKey string, o CheckOptions) (*Key, Decision, error) {
	rec, d, err := m.check(ctx, rawKey, o.Scopes, o.AnyScope, o.Cost, nil)
	if err != nil {
		return nil, d, err
	}
	return &rec.Key, d, nil
}

// check decides a request once: authenticate rawKey, check its scopes,
// then take cost from every limit that applies (and the route's extra
// limit requests) and from the quota, all or none. A refused request takes
// nothing.
func (m *Manager) check(ctx context.Context, rawKey string, scopes []string, anyScope bool, cost int, route []LimitRequest) (*Record, Decision, error) {
	rec, err := m.authorize(ctx, rawKey, scopes, anyScope)
	if err != nil {
		return nil, Decision{}, err
	}
	d, _, err := m.charge(ctx, rec, cost, route)
	if err != nil {
		return nil, d, err
	}
	return rec, d, nil
}

// authorize authenticates rawKey and checks its scopes; it takes nothing
// from any budget.
func (m *Manager) authorize(ctx context.Context, rawKey string, scopes []string, anyScope bool) (*Record, error) {
	rec, err := m.authenticate(ctx, rawKey)
	if err != nil {
		return nil, err
	}
	if anyScope && !m.policy.anyOf(rec.Scopes, scopes) || !anyScope && !m.policy.allOf(rec.Scopes, scopes) {
		return nil, &KeyError{KeyID: rec.ID, Err: &ScopeError{Required: slices.Clone(scopes), Any: anyScope}}
	}
	return rec, nil
}

// HasScopes reports whether k grants every one of scopes under this
// Manager's wildcards and implications.
func (m *Manager) HasScopes(k *Key, scopes ...string) bool { return m.policy.allOf(k.Scopes, scopes) }

// HasAnyScope reports whether k grants at least one of scopes (or scopes is
// empty).
func (m *Manager) HasAnyScope(k *Key, scopes ...string) bool { return m.policy.anyOf(k.Scopes, scopes) }

// authenticate is Verify without scopes. It never allocates on success.
func (m *Manager) authenticate(ctx context.Context, rawKey string) (*Record, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	env, err := m.format.parse(rawKey)
	if err != nil {
		return nil, err
	}
	if !m.accepts(env) {
		return nil, ErrWrongEnvironment
	}
	d := m.schemes[0].digest(rawKey)
	var rec *Record
	entry, fresh := m.cache.get(d)
	if fresh {
		rec = entry.rec.Load()
	} else if rec, entry, err = m.fill(ctx, rawKey, d); err != nil {
		return nil, err
	}
	switch {
	case !rec.RevokedAt.IsZero():
		m.audit.recordUse(ctx, audit.KeyRevokedUsed, &rec.Key)
		return nil, &KeyError{KeyID: rec.ID, Err: ErrRevoked}
	case !rec.ExpiresAt.IsZero() && rec.expired(m.now()): // the clock is read only when needed
		m.audit.recordUse(ctx, audit.KeyExpiredUsed, &rec.Key)
		return nil, &KeyError{KeyID: rec.ID, Err: ErrExpired}
	case rec.Disabled:
		return nil, &KeyError{KeyID: rec.ID, Err: ErrDisabled}
	}
	if m.usage != nil {
		if entry != nil {
			m.usage.recordCached(&entry.usage, rec.ID)
		} else {
			m.usage.record(rec.ID)
		}
	}
	return rec, nil
}

// lookup finds the record of rawKey, whose current digest is d, in the
// store. Not found is ErrUnknownKey; a store failure ErrStoreUnavailable.
func (m *Manager) lookup(ctx context.Context, rawKey string, d Digest) (*Record, error) {
	rec, err := m.store.ByDigest(ctx, d)
	if err == nil && subtle.ConstantTimeCompare(rec.Digest[:], d[:]) != 1 {
		// A store must match digests exactly; one that does not (a
		// case-insensitive collation, say) must not let a key through.
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) && len(m.schemes) > 1 {
		rec, err = m.authenticateLegacy(ctx, rawKey)
		if errors.Is(err, ErrNotFound) {
			// Another instance may have re-hashed the key to the current
			// scheme between the two lookups: look once more before
			// calling it unknown (and caching that).
			rec, err = m.store.ByDigest(ctx, d)
			if err == nil && subtle.ConstantTimeCompare(rec.Digest[:], d[:]) != 1 {
				err = ErrNotFound
			}
		}
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnknownKey
		}
		return nil, storeErr("verify", err)
	}
	return rec, nil
}

// fill looks up a key the cache does not hold fresh: unknown keys it
// remembers answer at once; concurrent misses share one lookup; the result
// is cached unless a change raced it.
func (m *Manager) fill(ctx context.Context, rawKey string, d Digest) (*Record, *cacheEntry, error) {
	c := m.cache
	if c.neg != nil && c.neg.has(d, c.epoch.Load()) {
		return nil, nil, ErrUnknownKey
	}
	gen := c.gen.Load()
	rec, err := c.flights.do(ctx, d, gen, func() (*Record, error) {
		// Shared by every caller waiting on d: one caller's cancellation
		// must not fail the others, and a hung store must not hang them.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.storeTimeout)
		defer cancel()
		return m.lookup(fctx, rawKey, d)
	})
	if err != nil {
		if err == ErrUnknownKey && c.neg != nil {
			c.neg.add(d, c.epoch.Load())
		}
		return nil, nil, err
	}
	return rec, c.put(d, rec, gen), nil
}

// changed evicts key id from this Manager's cache and tells the others. It
// is called after every write to a key, failed or not: a write that timed
// out may still have committed, and an eviction too many costs nothing.
func (m *Manager) changed(ctx context.Context, id string) {
	m.cache.evictID(id)
	if m.inv != nil {
		if err := m.inv.Publish(ctx, id); err != nil {
			m.logger.LogAttrs(ctx, slog.LevelWarn, "apikey: publishing a cache eviction failed; other instances see the change within their staleness bound",
				slog.String("key_id", id), slog.String("error", err.Error()))
		}
	}
}

// authenticateLegacy looks rawKey up under the older digest schemes (older
// peppers, or plain SHA-256 from before a pepper was set) and re-hashes a
// key it finds to the current scheme, so the next lookup is direct.
func (m *Manager) authenticateLegacy(ctx context.Context, rawKey string) (*Record, error) {
	for i := 1; i < len(m.schemes); i++ {
		d := m.schemes[i].digest(rawKey)
		rec, err := m.store.ByDigest(ctx, d)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(rec.Digest[:], d[:]) != 1 || rec.DigestScheme != m.schemes[i].name {
			continue
		}
		cur := &m.schemes[0]
		if err := m.store.SetDigest(ctx, rec.ID, d, cur.digest(rawKey), cur.name); err != nil && !errors.Is(err, ErrNotFound) {
			// The key is still valid; the re-hash is retried on next use.
			m.logger.LogAttrs(ctx, slog.LevelWarn, "apikey: re-hashing key to the current pepper failed",
				slog.String("key_id", rec.ID), slog.String("error", err.Error()))
		}
		return rec, nil
	}
	return nil, ErrNotFound
}

// Get returns the key with this id, revoked or not, or ErrNotFound.
func (m *Manager) Get(ctx context.Context, id string) (*Key, error) {
	rec, err := m.store.ByID(ctx, id)
	if err != nil {
		return nil, storeErr("get", err)
	}
	return m.view(rec), nil
}

// List returns a page of keys; see ListOptions. The next page starts After
// the last key returned; a page shorter than the limit is the last.
func (m *Manager) List(ctx context.Context, opts ListOptions) ([]*Key, error) {
	var err error
	if opts.Limit, err = pageLimit(opts.Limit); err != nil {
		return nil, err
	}
	if err := m.lifecycleDefaults(&opts); err != nil {
		return nil, err
	}
	recs, err := m.store.List(ctx, opts)
	if err != nil {
		return nil, storeErr("list", err)
	}
	keys := make([]*Key, len(recs))
	for i, rec := range recs {
		keys[i] = m.view(rec)
	}
	return keys, nil
}

// view returns a caller-owned copy of rec's key, with usage not yet written
// behind added in.
func (m *Manager) view(rec *Record) *Key {
	k := rec.Key.Clone()
	if m.usage != nil {
		m.usage.addPending(k)
	}
	reportLastUsed(k)
	return k
}

// Update changes a key's name, metadata or disabled flag; nil fields are
// left as they are. ErrNotFound for unknown or revoked keys.
func (m *Manager) Update(ctx context.Context, id string, p UpdateParams) (*Key, error) {
	if p.Name != nil {
		if err := validateName(*p.Name); err != nil {
			return nil, err
		}
	}
	if err := validateMetadata(p.Metadata); err != nil {
		return nil, err
	}
	p.Metadata = maps.Clone(p.Metadata)
	rec, err := m.store.Update(ctx, id, p)
	m.changed(ctx, id)
	if err != nil {
		return nil, storeErr("update", err)
	}
	m.auditUpdate(ctx, &rec.Key, p)
	return m.view(rec), nil
}

// Disable stops a key from authenticating until Enable; unlike Revoke it
// can be undone.
func (m *Manager) Disable(ctx context.Context, id string) (*Key, error) {
	disabled := true
	return m.Update(ctx, id, UpdateParams{Disabled: &disabled})
}

// Enable undoes Disable.
func (m *Manager) Enable(ctx context.Context, id string) (*Key, error) {
	disabled := false
	return m.Update(ctx, id, UpdateParams{Disabled: &disabled})
}

// Revoke stops a key at once and for good; it stays listable with RevokedAt.
// Revoking an unknown or already revoked key is ErrNotFound. Once Revoke
// returns, no Verify that starts afterwards accepts the key.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	rec, err := m.store.Revoke(ctx, id, m.timestamp())
	m.changed(ctx, id)
	if err != nil {
		return storeErr("revoke", err)
	}
	m.audit.record(ctx, audit.KeyRevoked, &rec.Key, nil)
	return nil
}

// Rotate issues a successor of key id with the same name, owner,
// environment, scopes, metadata and lifetime, and makes the old key stop
// working at now+grace (grace 0: at once; an earlier expiry stays). The keys
// are linked (RotatedToID, RotatedFromID). It returns the new key's record
// and the new key, shown once. ErrNotFound for an unknown or revoked key,
// ErrConflict for a key already rotated or expired.
func (m *Manager) Rotate(ctx context.Context, id string, grace time.Duration) (*Key, string, error) {
	if grace < 0 {
		return nil, "", paramErr("grace", "must not be negative")
	}
	old, err := m.store.ByID(ctx, id)
	if err != nil {
		return nil, "", storeErr("rotate", err)
	}
	switch {
	case !old.RevokedAt.IsZero():
		return nil, "", fmt.Errorf("apikey: rotate: key is revoked: %w", ErrNotFound)
	case old.RotatedToID != "":
		return nil, "", fmt.Errorf("apikey: rotate: key was already rotated: %w", ErrConflict)
	}
	now := m.timestamp()
	if old.expired(now) {
		// Rotating would renew it: issue a new key instead.
		return nil, "", fmt.Errorf("apikey: rotate: key has expired: %w", ErrConflict)
	}
	next := Key{
		Name:          old.Name,
		OwnerID:       old.OwnerID,
		Environment:   old.Environment,
		Scopes:        slices.Clone(old.Scopes),
		Metadata:      maps.Clone(old.Metadata),
		CreatedAt:     now,
		Disabled:      old.Disabled,
		RotatedFromID: old.ID,
		Plan:          old.Plan,
		RateLimit:     old.RateLimit,
		// The successor continues the old key's budget: rotating must not
		// refill a quota.
		Quota: cloneQuota(old.Quota),
	}
	next.ExpiresAt = m.Expiry(now, old.lifetime())
	rec, secret, err := m.newRecord(next)
	if err != nil {
		return nil, "", err
	}
	oldRec, err := m.store.Rotate(ctx, id, now.Add(grace).Truncate(time.Microsecond), rec)
	m.changed(ctx, id)
	if err != nil {
		return nil, "", storeErr("rotate", err)
	}
	m.auditRotate(ctx, &oldRec.Key, &rec.Key, grace)
	return rec.Key.Clone(), secret, nil
}

// Close flushes usage counts and stops the Manager: later Verify calls fail
// with ErrClosed (which matches ErrStoreUnavailable). It does not close the
// Store. Calling it again returns the first result. A Verify running while
// Close flushes may succeed without its use being counted.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		if m.unsubscribe != nil {
			m.unsubscribe()
		}
		if m.unwatch != nil {
			m.unwatch()
		}
		m.stopBackground()
		if m.usage != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m.closeErr = m.usage.flush(ctx)
		}
	})
	return m.closeErr
}

// timestamp is the time the Manager records: UTC, in microseconds, the
// precision every store keeps, so a record reads back as it was written.
func (m *Manager) timestamp() time.Time {
	return m.now().UTC().Truncate(time.Microsecond)
}

// storeErr maps a Store error for the caller: ErrNotFound, ErrConflict and
// parameter errors pass through; anything else is a backend failure.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrInvalidParams),
		errors.Is(err, ErrStoreUnavailable):
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrStoreUnavailable, op, err)
}

// lifecycleDefaults checks opts' lifecycle filters and sets At. Times are
// cut to microseconds, the precision every store compares at.
func (m *Manager) lifecycleDefaults(opts *ListOptions) error {
	opts.ExpiringBefore = opts.ExpiringBefore.Truncate(time.Microsecond)
	opts.UnusedSince = opts.UnusedSince.Truncate(time.Microsecond)
	opts.At = opts.At.Truncate(time.Microsecond)
	switch opts.Status {
	case "":
		return nil
	case StatusActive, StatusRevoked, StatusExpired, StatusDisabled:
	default:
		return paramErr("status", "must be active, revoked, expired or disabled")
	}
	if opts.At.IsZero() {
		opts.At = m.timestamp()
	}
	return nil
}

// Expiry returns when a key issued at now to live for lifetime (0: for
// ever) expires under this Manager: now+lifetime within the WithMaxLifetime
// cap, or the zero time for never. Rotate gives a successor the old key's
// lifetime (ExpiresAt − CreatedAt) this way, and Create a key without
// ExpiresAt Expiry(now, 0); the admin API asks it what a key it is about to
// issue will get.
func (m *Manager) Expiry(now time.Time, lifetime time.Duration) time.Time {
	var t time.Time
	if lifetime != 0 {
		t = now.Add(lifetime)
	}
	if m.maxLifetime > 0 && (t.IsZero() || t.After(now.Add(m.maxLifetime))) {
		t = now.Add(m.maxLifetime)
	}
	return t
}

// lifetime is how long k was issued to live, 0 for ever.
func (k *Key) lifetime() time.Duration {
	if k.ExpiresAt.IsZero() {
		return 0
	}
	return k.ExpiresAt.Sub(k.CreatedAt)
}

// pageLimit applies the paging rules of List and ListAudit: 0 means 100,
// more than 1000 means 1000, negative is an error.
func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, paramErr("limit", "must not be negative")
	case n == 0:
		return defaultLimit, nil
	}
	return min(n, maxLimit), nil
}
