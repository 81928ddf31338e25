package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/sqlitestore"
)

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(args ...string) result {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// session runs commands against one database and keeps every output, to
// check that keys are printed only by create and rotate.
type session struct {
	t       *testing.T
	db      string
	secrets []string
	outputs []string
}

func (s *session) run(args ...string) result {
	s.t.Helper()
	r := runCLI(append([]string{"--db", s.db}, args...)...)
	s.outputs = append(s.outputs, r.stdout+r.stderr)
	return r
}

// ok runs a command that must succeed and decodes its --json output.
func (s *session) ok(into any, args ...string) {
	s.t.Helper()
	r := s.run(append([]string{"--json"}, args...)...)
	require.Equal(s.t, exitOK, r.code, "apikey %v: %s", args, r.stderr)
	require.NoError(s.t, json.Unmarshal([]byte(r.stdout), into), r.stdout)
}

type keyOut struct {
	ID, Name, Prefix, Environment, Status string
	OwnerID                               string   `json:"owner_id"`
	Scopes                                []string `json:"scopes"`
	Metadata                              map[string]string
	Disabled                              bool
	RotatedToID                           string `json:"rotated_to_id"`
	Key                                   string `json:"key"`
}

// create makes a key and remembers it; the key is printed only here.
func (s *session) create(args ...string) keyOut {
	s.t.Helper()
	var k keyOut
	s.ok(&k, append([]string{"create"}, args...)...)
	require.NotEmpty(s.t, k.Key)
	s.secrets = append(s.secrets, k.Key)
	s.outputs = s.outputs[:len(s.outputs)-1]
	return k
}

func (s *session) noLeaks() {
	all := strings.Join(s.outputs, "\n")
	for _, secret := range s.secrets {
		assert.NotContains(s.t, all, secret[12:])
	}
}

// lifecycle drives every command against dsn.
func lifecycle(t *testing.T, dsn string) {
	s := &session{t: t, db: dsn}
	if strings.Contains(dsn, "://") { // a server: no schema until migrate
		r := s.run("list")
		require.Equal(t, exitFailure, r.code, r.stderr)
		assert.Contains(t, r.stderr, "run 'apikey migrate'", "a hint")
		assert.NotContains(t, r.stderr, "apikey: ", "the prefix once")
	}
	r := s.run("migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	if strings.Contains(dsn, "://") {
		assert.Contains(t, r.stdout, "schema created (version ")
	}
	r = s.run("migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "schema up to date (version ")

	admin := s.create("--name", "admin", "--scope", "api_keys:manage")
	assert.Equal(t, []string{"api_keys:manage"}, admin.Scopes)
	assert.Empty(t, admin.OwnerID, "a service key")
	ci := s.create("--name", "CI", "--owner", "org_1", "--scope", "webhooks:read", "--scope", "webhooks:write",
		"--env", "test", "--expires-in", "90d", "--metadata", "team=platform")
	assert.Equal(t, "test", ci.Environment)
	assert.True(t, strings.HasPrefix(ci.Key, "sk_test_"))
	assert.Equal(t, map[string]string{"team": "platform"}, ci.Metadata)

	var keys []keyOut
	s.ok(&keys, "list", "--owner", "org_1")
	require.Len(t, keys, 1)
	assert.Equal(t, ci.ID, keys[0].ID)
	s.ok(&keys, "list", "--expiring-before", "100d")
	require.Len(t, keys, 1)
	s.ok(&keys, "list", "--unused-since", "1h", "--status", "active")
	require.Len(t, keys, 2, "both never used")

	var k keyOut
	s.ok(&k, "update", ci.ID, "--name", "CI pipeline")
	assert.Equal(t, "CI pipeline", k.Name)
	k = keyOut{}
	s.ok(&k, "update", "--clear-metadata", ci.ID) // flags after or before the ID
	assert.Empty(t, k.Metadata)
	s.ok(&k, "disable", ci.ID)
	assert.Equal(t, "disabled", k.Status)
	s.ok(&k, "enable", ci.ID)
	assert.Equal(t, "active", k.Status)
	s.ok(&k, "get", ci.ID)
	assert.Empty(t, k.Key, "masked")

	var rotated keyOut
	s.ok(&rotated, "rotate", ci.ID, "--grace", "1h")
	require.NotEmpty(t, rotated.Key)
	s.secrets = append(s.secrets, rotated.Key)
	s.outputs = s.outputs[:len(s.outputs)-1]
	assert.Equal(t, exitConflict, s.run("rotate", ci.ID).code, "already rotated")

	s.ok(&k, "revoke", rotated.ID)
	assert.Equal(t, "revoked", k.Status)
	assert.Equal(t, exitNotFound, s.run("revoke", rotated.ID).code, "already revoked")
	assert.Equal(t, exitNotFound, s.run("get", "no-such-key").code)

	var events []audit.Event
	s.ok(&events, "audit", "--key", ci.ID, "--oldest-first")
	var actions []audit.Action
	for _, ev := range events {
		actions = append(actions, ev.Action)
		assert.Equal(t, audit.ActorCLI, ev.ActorType)
		assert.NotEmpty(t, ev.ActorID)
	}
	assert.Equal(t, []audit.Action{audit.KeyCreated, audit.KeyUpdated, audit.KeyUpdated,
		audit.KeyDisabled, audit.KeyEnabled, audit.KeyRotated}, actions)
	s.ok(&events, "audit", "--action", "key.revoked")
	require.Len(t, events, 1)

	// The tables for people.
	r = s.run("list", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ID ")
	assert.Contains(t, r.stdout, "CI pipeline")
	assert.Contains(t, r.stdout, "revoked")
	r = s.run("audit")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "key.revoked")
	r = s.run("create", "--name", "table")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	s.secrets = append(s.secrets, lines[len(lines)-1])
	s.outputs = s.outputs[:len(s.outputs)-1]
	assert.Contains(t, r.stderr, "shown only this once")
	s.noLeaks()
}

func TestLifecycleSQLite(t *testing.T) {
	t.Parallel()
	lifecycle(t, filepath.Join(t.TempDir(), "keys.db"))
}

func TestCreatedKeyVerifies(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := &session{t: t, db: path}
	k := s.create("--name", "admin", "--scope", "api_keys:manage", "--prefix", "hd")
	assert.True(t, strings.HasPrefix(k.Key, "hd_live_"))

	store, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer store.Close()
	m, err := apikey.New(store, apikey.WithPrefix("hd"))
	require.NoError(t, err)
	defer m.Close()
	got, err := m.Verify(context.Background(), k.Key, "api_keys:manage")
	require.NoError(t, err, "a service with the same prefix accepts the key")
	assert.Equal(t, k.ID, got.ID)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "keys.db")
	for _, args := range [][]string{
		{},
		{"--db", db},
		{"--db", db, "frobnicate"},
		{"--db", db, "create"},
		{"--db", db, "create", "--name"},
		{"--db", db, "create", "--name", "x", "--expires-in", "soon"},
		{"--db", db, "create", "--name", "x", "--expires-in", "1d", "--expires-at", "2099-01-01T00:00:00Z"},
		// The zero instant is not "never" (issue 10, item 7): a usage error,
		// not a key that never expires.
		{"--db", db, "create", "--name", "x", "--expires-at", "0001-01-01T00:00:00Z"},
		{"--db", db, "create", "--name", "x", "--expires-at", "0001-01-01T00:00:00Z", "--expires-in", "1d"},
		{"--db", db, "create", "--name", "x", "--metadata", "novalue"},
		{"--db", db, "create", "--name", "x", "--scope", "a b"},
		{"--db", db, "create", "--name", "x", "--env", "prod"},
		{"--db", db, "get"},
		{"--db", db, "get", "a", "b"},
		{"--db", db, "update", "id"},
		{"--db", db, "list", "--limit", "0"},
		{"--db", db, "list", "--status", "sleeping"},
		{"--db", db, "audit", "--action", "key.eaten"},
		{"--db", db, "rotate", "id", "--grace", "-1h"},
		{"--bogus"},
		{"list"}, // no --db
	} {
		r := runCLI(args...)
		assert.Equal(t, exitUsage, r.code, "apikey %v: %s", args, r.stdout+r.stderr)
		assert.NotEmpty(t, r.stderr, "apikey %v says why", args)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := runCLI(args...)
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, "Commands:")
		assert.Contains(t, r.stdout, "Exit codes")
	}
	for _, c := range commands {
		r := runCLI(c.name, "--help")
		assert.Equal(t, exitOK, r.code, c.name)
		assert.Contains(t, r.stdout, "Usage: apikey "+c.name, c.name)
		assert.Contains(t, r.stdout, "-db", c.name)
	}
}
