package apikey_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuotaWithRefill(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := memstore.New()
		m := newManager(t, store)
		k, secret := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 3, Refill: apikey.RefillDaily}})
		assert.Equal(t, int64(3), k.Quota.Remaining, "a new quota starts full")

		_, _, err := m.Check(ctx, secret, apikey.CheckOptions{Cost: 2})
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret)
		rle := requireRateLimited(t, err)
		assert.ErrorIs(t, err, apikey.ErrQuotaExceeded)
		assert.True(t, rle.Quota)
		assert.Equal(t, "quota", rle.Decision.Policy)
		now := time.Now().UTC()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		assert.Equal(t, midnight.Sub(now), rle.Decision.RetryAfter, "until the daily refill")

		got, err := m.Get(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(0), got.Quota.Remaining, "persisted in the store")

		time.Sleep(midnight.Sub(now))
		_, err = m.Verify(ctx, secret)
		assert.NoError(t, err, "refilled at 00:00 UTC")
	})
}

func TestQuotaSurvivesRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	k, secret := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 2}})
	_, err := m.Verify(ctx, secret)
	require.NoError(t, err)
	// With a grace period both keys work, on one budget: rotating must
	// neither refill nor multiply it.
	_, nextSecret, err := m.Rotate(ctx, k.ID, time.Hour)
	require.NoError(t, err)
	_, err = m.Verify(ctx, nextSecret)
	require.NoError(t, err, "one of the two credits left")
	_, err = m.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrQuotaExceeded, "the old key draws on the same, now empty, budget")
	_, err = m.Verify(ctx, nextSecret)
	assert.ErrorIs(t, err, apikey.ErrQuotaExceeded)
}

func TestQuotaRejectsBadParams(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	for _, q := range []*apikey.Quota{{Limit: 0}, {Limit: 5, Refill: "weekly"}} {
		_, _, err := m.Create(context.Background(), apikey.CreateParams{Name: "k", Quota: q})
		var pe *apikey.ParamError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "quota", pe.Field)
	}
}

func TestMiddlewareQuotaExceeded(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	_, once := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 1}})
	_, daily := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 1, Refill: apikey.RefillDaily}})
	h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	do := func(key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	require.Equal(t, 200, do(once).Code)
	w := do(once)
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Empty(t, w.Header().Get("Retry-After"), "a quota that never refills has no retry time")
	assert.JSONEq(t, `{"error":{"code":"quota_exceeded","message":"Quota exceeded"}}`, w.Body.String())

	require.Equal(t, 200, do(daily).Code)
	w = do(daily)
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.NotEmpty(t, w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), `"code":"quota_exceeded"`)
	assert.Contains(t, w.Body.String(), `"retry_after":`)
}

func TestQuotaRefund(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var logs strings.Builder
		store := &refundFailingStore{Store: memstore.New()}
		m := newManager(t, store, apikey.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		k, secret := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 3, Refill: apikey.RefillDaily}})
		remaining := func() int64 {
			got, err := m.Get(ctx, k.ID)
			require.NoError(t, err)
			return got.Quota.Remaining
		}

		period, err := apikey.ChargeQuota(ctx, m, k.ID, 2)
		require.NoError(t, err)
		assert.Equal(t, int64(1), remaining())
		require.NoError(t, apikey.RefundQuota(ctx, m, k.ID, 2, period))
		assert.Equal(t, int64(3), remaining(), "a refused request spends no budget")

		// A refund after the refill is for a period that is over.
		period, err = apikey.ChargeQuota(ctx, m, k.ID, 1)
		require.NoError(t, err)
		now := time.Now().UTC()
		time.Sleep(time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now))
		_, err = apikey.ChargeQuota(ctx, m, k.ID, 1)
		require.NoError(t, err)
		require.NoError(t, apikey.RefundQuota(ctx, m, k.ID, 1, period))
		assert.Equal(t, int64(2), remaining(), "yesterday's credit does not come back today")

		// A failing store: logged without the key, never returned.
		store.fail.Store(true)
		require.NoError(t, apikey.RefundQuota(ctx, m, k.ID, 1, period))
		assert.Contains(t, logs.String(), "refunding")
		assert.Contains(t, logs.String(), k.ID)
		assert.NotContains(t, logs.String(), secret)
	})
}

// refundFailingStore fails RefundQuota on demand.
type refundFailingStore struct {
	apikey.Store
	fail atomic.Bool
}

func (s *refundFailingStore) RefundQuota(ctx context.Context, id string, cost int64, period time.Time) error {
	if s.fail.Load() {
		return errBackend
	}
	return s.Store.RefundQuota(ctx, id, cost, period)
}

// Issue 10, item 1: a metered key rotating itself must not multiply its
// quota. Daily quota 10, three rotations with a 30-day grace: from the next
// day, the four live keys of the chain get 10 a day between them.
func TestQuotaRotationChainGetsOneBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, memstore.New())
		secrets, newest := rotatedThrice(t, m, 10)
		tomorrow(t)
		passed := 0
		for range 10 {
			for _, s := range secrets {
				if _, err := m.Verify(ctx, s); err == nil {
					passed++
				} else {
					require.ErrorIs(t, err, apikey.ErrQuotaExceeded)
				}
			}
		}
		assert.Equal(t, 10, passed, "the chain of 4 keys shares one daily budget")

		// Revoking the newest key takes the chain's budget with it: the
		// older keys, still in their grace period, are over quota.
		tomorrow(t)
		require.NoError(t, m.Revoke(ctx, newest))
		_, err := m.Verify(ctx, secrets[0])
		assert.ErrorIs(t, err, apikey.ErrQuotaExceeded)
	})
}

func TestQuotaRotationChainConcurrent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, memstore.New())
		secrets, _ := rotatedThrice(t, m, 10)
		tomorrow(t)
		var passed atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				for j := range 5 {
					_, err := m.Verify(ctx, secrets[(i+j)%len(secrets)])
					if err == nil {
						passed.Add(1)
					} else if !errors.Is(err, apikey.ErrQuotaExceeded) {
						t.Errorf("Verify: %v", err)
					}
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(10), passed.Load(), "80 concurrent requests across the chain")
	})
}

// rotatedThrice creates a key with a daily quota of limit and rotates it
// three times with a 30-day grace, as the key itself may through the
// management API. It returns the four secrets, all live, and the newest
// key's ID.
func rotatedThrice(t *testing.T, m *apikey.Manager, limit int64) ([]string, string) {
	t.Helper()
	k, secret := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: limit, Refill: apikey.RefillDaily}})
	secrets := []string{secret}
	for range 3 {
		next, s, err := m.Rotate(context.Background(), k.ID, 30*24*time.Hour)
		require.NoError(t, err)
		k, secrets = next, append(secrets, s)
	}
	return secrets, k.ID
}

// tomorrow waits (in a synctest bubble) until the next 00:00 UTC.
func tomorrow(t *testing.T) {
	t.Helper()
	now := time.Now().UTC()
	time.Sleep(time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now))
}

// Issue 10, item 3: with the database stalled, a metered key's request
// answers 503 within WithStoreTimeout, as a lookup does, even when the
// caller's context has no deadline.
func TestQuotaStoreTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = 500 * time.Millisecond
		store := &stallingStore{Store: memstore.New()}
		m := newManager(t, store, apikey.WithStoreTimeout(timeout))
		_, secret := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 10}})
		store.stallQuota.Store(true)

		start := time.Now()
		_, err := m.Verify(context.Background(), secret)
		assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
		assert.Equal(t, timeout, time.Since(start), "bounded by the store timeout")

		h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", secret)
		w := httptest.NewRecorder()
		start = time.Now()
		h.ServeHTTP(w, r)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Equal(t, timeout, time.Since(start))
	})
}

// The other store call Verify may make, the audit event of a revoked key
// presented, is bounded by the store timeout too.
func TestRevokedUsedAuditStoreTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = 500 * time.Millisecond
		ctx := context.Background()
		store := &stallingStore{Store: memstore.New()}
		m := newManager(t, store, apikey.WithStoreTimeout(timeout))
		k, secret := create(t, m, apikey.CreateParams{})
		require.NoError(t, m.Revoke(ctx, k.ID))
		store.stallAudit.Store(true)

		start := time.Now()
		_, err := m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrRevoked)
		assert.Equal(t, timeout, time.Since(start), "bounded by the store timeout")
	})
}

// stallingStore is a memstore whose quota updates or audit appends hang
// until their context is done: a database that takes the statement and
// answers a minute later.
type stallingStore struct {
	*memstore.Store
	stallQuota, stallAudit atomic.Bool
}

func (s *stallingStore) ConsumeQuota(ctx context.Context, id string, cost int64, period time.Time) (int64, error) {
	if s.stallQuota.Load() {
		return 0, stall(ctx)
	}
	return s.Store.ConsumeQuota(ctx, id, cost, period)
}

func (s *stallingStore) AppendAudit(ctx context.Context, ev *audit.Event) error {
	if s.stallAudit.Load() {
		return stall(ctx)
	}
	return s.Store.AppendAudit(ctx, ev)
}

// stall waits until ctx is done, or a minute.
func stall(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errBackend
	}
}
