package main

import (
	"path/filepath"
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
