package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Errors name the command once, without the library's "apikey: " again,
// and a missing schema says what to run.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "keys.db")
	r := runCLI("--db", db, "get", "no-such-id")
	assert.Equal(t, exitNotFound, r.code)
	assert.Equal(t, "apikey get: not found\n", r.stderr)

	// The library's own "rotate: " after "apikey rotate: " would name it twice.
	r = runCLI("--db", db, "create", "--name", "x")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := strings.Fields(lines[0])[1]
	require.Equal(t, exitOK, runCLI("--db", db, "rotate", id).code)
	r = runCLI("--db", db, "rotate", id)
	assert.Equal(t, exitConflict, r.code)
	assert.Equal(t, "apikey rotate: key was already rotated: conflict\n", r.stderr)

	r = runCLI("--db", db, "create", "--name", string(make([]byte, 201)))
	assert.Equal(t, exitUsage, r.code)
	assert.NotContains(t, r.stderr, "apikey: ")

	conn, err := sql.Open("sqlite", db)
	require.NoError(t, err)
	_, err = conn.Exec("DROP TABLE api_keys")
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	r = runCLI("--db", db, "get", "no-such-id")
	assert.Equal(t, exitFailure, r.code, r.stderr)
	assert.Contains(t, r.stderr, "hint: ")
	assert.Contains(t, r.stderr, "run 'apikey migrate'")
	assert.NotContains(t, r.stderr, "apikey: ")
}
