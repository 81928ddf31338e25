package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// A --db that is, or holds, an API key of any prefix is refused with exit
// 2, creates no file, and is not echoed.
func TestDBThatLooksLikeAKey(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, prefix := range []string{"sk", "acme9"} {
		m, err := apikey.New(memstore.New(), apikey.WithPrefix(prefix), apikey.WithoutUsageTracking())
		require.NoError(t, err)
		_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "k", Environment: apikey.EnvTest})
		require.NoError(t, err)
		require.NoError(t, m.Close())
		keys = append(keys, key)
	}
	dir := t.TempDir()
	for _, key := range keys {
		for _, db := range []string{
			filepath.Join(dir, key),
			"sqlite://" + filepath.Join(dir, key),
			filepath.Join(dir, key) + "?_pragma=busy_timeout(5000)",
			filepath.Join(dir, " "+key+"\n"),
			"postgres://app:" + key + "@db/app",
		} {
			r := runCLI("--db", db, "list")
			assert.Equal(t, exitUsage, r.code, "%q: %s", db, r.stderr)
			assert.Contains(t, r.stderr, "looks like an API key")
			assert.NotContains(t, r.stdout+r.stderr, key[len(key)-20:], "not echoed")
		}
		_, err := os.Stat(filepath.Join(dir, key))
		assert.ErrorIs(t, err, os.ErrNotExist, "no SQLite file named after the key")
		// A key pasted with a character missing or one too many, or glued
		// to a letter, still holds its whole secret: refused alike.
		for _, near := range []string{key[:len(key)-1], key + "X", "X" + key} {
			r := runCLI("--db", filepath.Join(dir, near), "list")
			assert.Equal(t, exitUsage, r.code, "%q: %s", near, r.stderr)
			assert.NotContains(t, r.stdout+r.stderr, key[len(key)-20:len(key)-1], "not echoed")
			_, err := os.Stat(filepath.Join(dir, near))
			assert.ErrorIs(t, err, os.ErrNotExist, "no SQLite file named after a near-key")
		}
	}
	// Ordinary paths, even with key-ish words, still open.
	for _, name := range []string{"keys.db", "sk_live_keys.db", "sk_test_" + "0123456789"} {
		r := runCLI("--db", filepath.Join(dir, name), "list")
		assert.Equal(t, exitOK, r.code, "%s: %s", name, r.stderr)
	}
}

// A key pasted where a command, a flag or a flag's value belongs is not
// echoed in the usage error either.
func TestUsageErrorsDoNotEchoAKey(t *testing.T) {
	t.Parallel()
	m, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking())
	require.NoError(t, err)
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "k"})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	db := filepath.Join(t.TempDir(), "keys.db")
	for _, args := range [][]string{
		{"--db", db, key},
		{"--db", db, "create", "--name", "x", "--expires-at", key},
		{"--db", db, "rotate", "id", "--grace", key},
		{"--db", db, "list", "--limit", key},
		{"--db", db, "--" + key, "list"},
		{"--db", db, "list", "--" + key + "=1"},
	} {
		r := runCLI(args...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
		assert.NotContains(t, r.stdout+r.stderr, key[12:], "%v: not echoed", args[2:])
	}
}
