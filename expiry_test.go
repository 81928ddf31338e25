package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// An expiry is compared as it will be stored (in microseconds) with the
// stored creation time: nothing is created already expired, and nothing
// that truncates to the zero time lives for ever.
func TestCreateRefusesExpiriesThatTruncateToNow(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 500, time.UTC) // 500 ns into a microsecond
	m, err := apikey.New(memstore.New(), apikey.WithClock(func() time.Time { return now }), apikey.WithoutUsageTracking())
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		expires time.Time
	}{
		{"400 ns ahead of the clock", now.Add(400 * time.Nanosecond)},
		{"the clock itself", now},
		{"100 ns after the zero time", time.Time{}.Add(100 * time.Nanosecond)},
	} {
		_, _, err := m.Create(ctx, apikey.CreateParams{Name: "x", ExpiresAt: tc.expires})
		require.ErrorIs(t, err, apikey.ErrInvalidParams, tc.name)
		var pe *apikey.ParamError
		require.ErrorAs(t, err, &pe, tc.name)
		assert.Equal(t, "expires_at", pe.Field, tc.name)
	}
	k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "x", ExpiresAt: now.Add(time.Microsecond)})
	require.NoError(t, err, "the next microsecond is in the future")
	assert.Equal(t, apikey.StatusActive, k.Status(now))
	_, err = m.Verify(ctx, secret)
	require.NoError(t, err, "not born expired")
}
