package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// TestReportLeak acts on leaked keys on each server: revoke (refused at
// once despite the cache), disable, notify, a replay, and the key.leaked
// event persisted with where the key was found.
func TestReportLeak(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		ctx := context.Background()
		m, err := apikey.New(migrated(t, open(nil), b.dialect), apikey.WithCache(time.Minute))
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })
		for _, tc := range []struct {
			policy apikey.LeakPolicy
			want   error
		}{
			{apikey.LeakRevoke, apikey.ErrRevoked},
			{apikey.LeakDisable, apikey.ErrDisabled},
			{apikey.LeakNotify, nil},
		} {
			k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "leaky", OwnerID: "org"})
			require.NoError(t, err)
			_, err = m.Verify(ctx, secret) // cached
			require.NoError(t, err)
			for range 2 { // the second is a replay
				res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret, Source: "github:commit",
					URL: "https://github.com/o/r/blob/x/.env?token=" + secret, Policy: tc.policy})
				require.NoError(t, err)
				assert.True(t, res.Found)
			}
			_, err = m.Verify(ctx, secret)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want, tc.policy)
			}
			evs, err := m.ListAudit(ctx, audit.Query{KeyID: k.ID, Action: audit.KeyLeaked})
			require.NoError(t, err)
			require.Len(t, evs, 1, "%s: the replay is counted, not logged", tc.policy)
			assert.Equal(t, "https://github.com/o/r/blob/x/.env", evs[0].Details["url"])
			assert.Equal(t, string(tc.policy), evs[0].Details["policy"])
			got, err := m.Lookup(ctx, secret)
			require.NoError(t, err)
			assert.Equal(t, k.ID, got.ID)
		}
		res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: "sk_live_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg2LOcWk"})
		require.NoError(t, err)
		assert.False(t, res.Found, "unknown")
	})
}
