package apikey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The plaintext key, or its secret part, must appear in none of: the
// store's records, %v/%+v/%#v of any returned value, JSON, error strings or
// log output.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := newCountingStore()
	pepper := []byte("a pepper of at least sixteen bytes")
	m := newManager(t, store, apikey.WithPepper(pepper), apikey.WithLogger(logger))
	plain := newManager(t, store, apikey.WithLogger(logger))

	var secrets []string
	var values []any
	collect := func(vs ...any) { values = append(values, vs...) }

	k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "leak", OwnerID: "org", Scopes: []string{"read"}})
	require.NoError(t, err)
	secrets = append(secrets, secret)
	collect(k)
	_, legacySecret, err := plain.Create(ctx, apikey.CreateParams{Name: "legacy"})
	require.NoError(t, err)
	secrets = append(secrets, legacySecret)

	// Successful and failing paths, a store failure, and a legacy digest
	// re-hashed to the pepper.
	v, err := m.Verify(ctx, secret, "read")
	collect(v, err)
	_, err = m.Verify(ctx, secret, "write")
	collect(err)
	_, err = m.Verify(ctx, secret+"x")
	collect(err)
	_, err = m.Verify(ctx, wrongChecksum(secret))
	collect(err)
	store.fail.Store(true)
	_, err = m.Verify(ctx, secret)
	collect(err)
	_, err = m.Verify(ctx, legacySecret)
	collect(err)
	store.fail.Store(false)
	_, err = m.Verify(ctx, legacySecret) // re-hashed to the pepper
	collect(err)

	rotated, rotatedSecret, err := m.Rotate(ctx, k.ID, time.Minute)
	require.NoError(t, err)
	secrets = append(secrets, rotatedSecret)
	collect(rotated)
	require.NoError(t, m.Revoke(ctx, rotated.ID))
	_, err = m.Verify(ctx, rotatedSecret)
	collect(err)
	listed, err := m.List(ctx, apikey.ListOptions{IncludeRevoked: true})
	require.NoError(t, err)
	collect(listed)
	for _, key := range listed {
		rec, err := store.ByID(ctx, key.ID)
		require.NoError(t, err)
		collect(rec)
	}
	require.NoError(t, m.Close())
	require.NoError(t, plain.Close())

	var out strings.Builder
	for _, v := range values {
		fmt.Fprintf(&out, "%v\n%+v\n%#v\n", v, v, v)
		if err, ok := v.(error); ok && err != nil {
			out.WriteString(err.Error())
		}
		js, err := json.Marshal(v)
		require.NoError(t, err)
		out.Write(js)
	}
	out.Write(logs.Bytes())
	all := out.String()
	require.Contains(t, all, k.ID, "the scan sees the values")
	for _, s := range secrets {
		body := s[len(s)-49:]
		assert.NotContains(t, all, s)
		assert.NotContains(t, all, body[:20], "part of the secret")
	}
}
