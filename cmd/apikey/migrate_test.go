package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// migrate says what it did.
func TestMigrateSaysWhatItDid(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "keys.db")
	r := runCLI("--db", db, "migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^schema created \(version [1-9][0-9]*\)\n$`, r.stdout)
	r = runCLI("--db", "sqlite://"+db, "migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^schema up to date \(version [1-9][0-9]*\); nothing to do\n$`, r.stdout)

	assert.Equal(t, "schema migrated from version 2 to 3", migrated(2, 3))
}

// Reading the version before migrating opens the same file the store
// opens, read-only: a path with '?', '#' or '%' in it creates no other file.
func TestMigrateReadsTheSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "keys.db?_pragma=busy_timeout(5000)#1%20")
	r := runCLI("--db", db, "migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "schema created")
	r = runCLI("--db", db, "migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "schema up to date")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, strings.HasPrefix(e.Name(), "keys.db?_pragma=busy_timeout(5000)#1%20"), "a stray file: %q", e.Name())
	}
}
