package apikey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/memstore"
)

// sinkRecorder is an audit.Sink that keeps what it receives.
type sinkRecorder struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (s *sinkRecorder) Audit(_ context.Context, ev *audit.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, *ev)
}

func (s *sinkRecorder) actions() []audit.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Action
	for _, ev := range s.evs {
		out = append(out, ev.Action)
	}
	return out
}

func TestAuditEveryManagementAction(t *testing.T) {
	t.Parallel()
	sink := &sinkRecorder{}
	m := newManager(t, memstore.New(), apikey.WithAuditSink(sink))
	actor := audit.Actor{Type: audit.ActorUser, ID: "user_7", ClientAddr: "192.0.2.9:5000", RequestID: "req_1"}
	ctx := audit.ContextWithActor(context.Background(), actor)

	k, secret1, err := m.Create(ctx, apikey.CreateParams{Name: "ci", OwnerID: "org_1", Scopes: []string{"read"}})
	require.NoError(t, err)
	_, err = m.Update(ctx, k.ID, apikey.UpdateParams{Name: ptr("renamed"), Metadata: map[string]string{"a": "b"}})
	require.NoError(t, err)
	_, err = m.Disable(ctx, k.ID)
	require.NoError(t, err)
	_, err = m.Enable(ctx, k.ID)
	require.NoError(t, err)
	next, secret2, err := m.Rotate(ctx, k.ID, time.Minute)
	require.NoError(t, err)
	require.NoError(t, m.Revoke(ctx, next.ID))

	want := []audit.Action{audit.KeyCreated, audit.KeyUpdated, audit.KeyDisabled,
		audit.KeyEnabled, audit.KeyRotated, audit.KeyCreated, audit.KeyRevoked}
	assert.Equal(t, want, sink.actions())

	stored, err := m.ListAudit(context.Background(), audit.Query{OwnerID: "org_1"})
	require.NoError(t, err)
	require.Len(t, stored, len(want), "every event is persisted in the store")
	for i, ev := range stored {
		assert.Equal(t, want[i], ev.Action)
		assert.Equal(t, audit.Success, ev.Outcome)
		assert.Equal(t, actor, audit.Actor{Type: ev.ActorType, ID: ev.ActorID, ClientAddr: ev.ClientAddr, RequestID: ev.RequestID})
		assert.Equal(t, "org_1", ev.OwnerID)
		assert.Equal(t, time.UTC, ev.Time.Location())
		assert.NotEmpty(t, ev.ID)
	}
	assert.Equal(t, "renamed", stored[4].KeyName)
	assert.Equal(t, map[string]string{"fields": "name,metadata"}, stored[1].Details)
	assert.Equal(t, map[string]string{"new_key_id": next.ID, "grace_seconds": "60"}, stored[4].Details)
	assert.Equal(t, map[string]string{"rotated_from_id": k.ID}, stored[5].Details)
	assert.Equal(t, next.ID, stored[6].KeyID)

	byKey, err := m.ListAudit(context.Background(), audit.Query{KeyID: k.ID, Action: audit.KeyRotated})
	require.NoError(t, err)
	require.Len(t, byKey, 1)

	// No event carries a key, in any form it could be printed.
	all, err := json.Marshal(stored)
	require.NoError(t, err)
	for _, secret := range []string{secret1, secret2} {
		assert.NotContains(t, string(all), secret)
		assert.NotContains(t, string(all), secret[12:], "not even the part after the prefix")
	}
}

func TestAuditActorFromContextKey(t *testing.T) {
	t.Parallel()
	sink := &sinkRecorder{}
	m := newManager(t, memstore.New(), apikey.WithAuditSink(sink))
	caller, _ := create(t, m, apikey.CreateParams{OwnerID: "org_1"})
	ctx := m.NewContext(context.Background(), caller)
	_, _, err := m.Create(ctx, apikey.CreateParams{Name: "child", OwnerID: "org_1"})
	require.NoError(t, err)
	require.NoError(t, m.Revoke(context.Background(), caller.ID))
	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Len(t, sink.evs, 3)
	assert.Equal(t, audit.ActorSystem, sink.evs[0].ActorType, "no actor in the context")
	assert.Equal(t, audit.ActorAPIKey, sink.evs[1].ActorType)
	assert.Equal(t, caller.ID, sink.evs[1].ActorID)
}

func TestAuditRevokedAndExpiredUseThrottled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		sink := &sinkRecorder{}
		m, err := apikey.New(memstore.New(), apikey.WithAuditSink(sink))
		require.NoError(t, err)
		defer m.Close()
		revoked, secret, err := m.Create(ctx, apikey.CreateParams{Name: "r", OwnerID: "org_1"})
		require.NoError(t, err)
		require.NoError(t, m.Revoke(ctx, revoked.ID))
		_, expSecret, err := m.Create(ctx, apikey.CreateParams{Name: "e", OwnerID: "org_1", ExpiresAt: time.Now().Add(time.Second)})
		require.NoError(t, err)
		time.Sleep(2 * time.Second) // the bubble's clock: no real wait

		for range 5 {
			_, err = m.Verify(ctx, secret)
			require.ErrorIs(t, err, apikey.ErrRevoked)
			_, err = m.Verify(ctx, expSecret)
			require.ErrorIs(t, err, apikey.ErrExpired)
		}
		time.Sleep(time.Minute)
		_, err = m.Verify(ctx, secret)
		require.ErrorIs(t, err, apikey.ErrRevoked)

		evs, err := m.ListAudit(ctx, audit.Query{Action: audit.KeyRevokedUsed})
		require.NoError(t, err)
		require.Len(t, evs, 2, "one per key per minute")
		assert.Equal(t, audit.Failure, evs[0].Outcome)
		assert.Equal(t, revoked.ID, evs[0].KeyID)
		assert.Nil(t, evs[0].Details)
		assert.Equal(t, map[string]string{"suppressed": "4"}, evs[1].Details)
		evs, err = m.ListAudit(ctx, audit.Query{Action: audit.KeyExpiredUsed})
		require.NoError(t, err)
		require.Len(t, evs, 1)
	})
}

func TestSlogAuditSink(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := apikey.NewSlogAuditSink(nil)
	require.ErrorIs(t, err, apikey.ErrInvalidParams)
	// The default sink logs to the Manager's logger.
	m := newManager(t, memstore.New(), apikey.WithLogger(logger))
	ctx := context.Background()
	k, secret := create(t, m, apikey.CreateParams{OwnerID: "org_1"})
	require.NoError(t, m.Revoke(ctx, k.ID))
	_, err = m.Verify(ctx, secret)
	require.ErrorIs(t, err, apikey.ErrRevoked)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	var levels, msgs []string
	for _, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		levels = append(levels, rec["level"].(string))
		msgs = append(msgs, rec["msg"].(string))
		assert.Equal(t, k.ID, rec["key_id"])
	}
	assert.Equal(t, []string{"authn_token_created", "authn_token_revoked", "authn_token_reuse"}, msgs)
	assert.Equal(t, []string{"INFO", "INFO", "ERROR+4"}, levels, "a revoked key presented is critical")
	assert.NotContains(t, buf.String(), secret)
	for _, a := range audit.Actions() {
		name, _ := apikey.OWASPEvent(a)
		assert.True(t, strings.HasPrefix(name, "authn_token_"), a)
	}
}

// An audit line has one time, the event's, whatever the handler.
func TestSlogAuditSinkOneTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, handler := range map[string]func(io.Writer) slog.Handler{
		"text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
		"json": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			m := newManager(t, memstore.New(), apikey.WithLogger(slog.New(handler(&buf))),
				apikey.WithClock(func() time.Time { return now }))
			create(t, m, apikey.CreateParams{OwnerID: "org_1"})
			line := strings.TrimSpace(buf.String())
			require.NotEmpty(t, line)
			key := map[string]string{"text": "time=", "json": `"time":`}[name]
			assert.Equal(t, 1, strings.Count(line, key), "one time in %s", line)
			assert.Contains(t, line, key+map[string]string{"text": "2026-05-01T12:00:00.000Z", "json": `"2026-05-01T12:00:00Z"`}[name], "the event's time")
		})
	}
}

func TestListAuditErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New(), apikey.WithAuditStore(nil))
	_, err := m.ListAudit(ctx, audit.Query{})
	require.ErrorIs(t, err, apikey.ErrNoAuditStore)
	create(t, m, apikey.CreateParams{}) // no store, no failure

	m = newManager(t, memstore.New())
	for _, q := range []audit.Query{{Action: "key.eaten"}, {Limit: -1}} {
		_, err = m.ListAudit(ctx, q)
		require.ErrorIs(t, err, apikey.ErrInvalidParams, "%+v", q)
	}
	_, err = apikey.New(memstore.New(), apikey.WithAuditSink(nil))
	require.ErrorIs(t, err, apikey.ErrInvalidParams)
}

func TestListLifecycleThroughManager(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	m := newManager(t, memstore.New(), apikey.WithClock(clock))
	soon, _ := create(t, m, apikey.CreateParams{ExpiresAt: now.Add(24 * time.Hour)})
	later, _ := create(t, m, apikey.CreateParams{ExpiresAt: now.Add(60 * 24 * time.Hour)})
	never, _ := create(t, m, apikey.CreateParams{})
	now = now.Add(2 * 24 * time.Hour) // soon has expired

	ids := func(opts apikey.ListOptions) []string {
		keys, err := m.List(ctx, opts)
		require.NoError(t, err)
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return out
	}
	assert.Equal(t, []string{later.ID, never.ID}, ids(apikey.ListOptions{Status: apikey.StatusActive}), "At defaults to now")
	assert.Equal(t, []string{soon.ID}, ids(apikey.ListOptions{Status: apikey.StatusExpired}))
	assert.Equal(t, []string{soon.ID, later.ID}, ids(apikey.ListOptions{ExpiringBefore: now.Add(90 * 24 * time.Hour)}))
	assert.Equal(t, []string{soon.ID, later.ID, never.ID}, ids(apikey.ListOptions{UnusedSince: now}))
	_, err := m.List(ctx, apikey.ListOptions{Status: "sleeping"})
	require.ErrorIs(t, err, apikey.ErrInvalidParams)
}
