package sqlstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlstore"
)

// syncBuffer is a log sink safe for the poll loop and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond (a poll loop runs on real time) for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
	}
}

// A failed poll makes the Manager verify against the store, logged and
// counted, until a poll succeeds; the change made meanwhile is not missed.
func TestPollerFailedPoll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openSQLite(t)
	s := newSQLiteStore(t, db)
	var logs syncBuffer
	p, err := sqlstore.NewPoller(ctx, s, sqlstore.WithPollInterval(20*time.Millisecond),
		sqlstore.WithPollLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	var mlogs syncBuffer
	m, err := apikey.New(s, apikey.WithCache(time.Hour), apikey.WithInvalidator(p), apikey.WithoutUsageTracking(),
		apikey.WithLogger(slog.New(slog.NewTextHandler(&mlogs, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "k"})
	require.NoError(t, err)
	_, err = m.Verify(ctx, secret)
	require.NoError(t, err)

	// The feed becomes unreadable (as if the connection were lost).
	_, err = db.Exec("ALTER TABLE key_changes RENAME TO key_changes_away")
	require.NoError(t, err)
	waitFor(t, "the failed poll is reported", func() bool { return p.Outages() == 1 })
	assert.Contains(t, logs.String(), "reading the change feed failed")
	assert.Contains(t, mlogs.String(), "verifying every key against the store")
	// Changed behind the Manager's back, and the eviction cannot come.
	_, err = db.Exec("UPDATE api_keys SET disabled = 1 WHERE id = ?", []byte(k.ID))
	require.NoError(t, err)
	_, err = m.Verify(ctx, secret)
	require.ErrorIs(t, err, apikey.ErrDisabled, "no cached answer while the feed is down")

	_, err = db.Exec("ALTER TABLE key_changes_away RENAME TO key_changes")
	require.NoError(t, err)
	waitFor(t, "the poller recovers", func() bool { return bytes.Contains([]byte(mlogs.String()), []byte("caught up")) })
	_, err = m.Verify(ctx, secret)
	require.ErrorIs(t, err, apikey.ErrDisabled)
	assert.Equal(t, uint64(1), p.Outages())
}
