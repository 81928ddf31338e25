package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinary builds the command and runs it as an operator would: the
// bootstrap of the first management key, and an exit code.
func TestBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "apikey")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	db := filepath.Join(dir, "keys.db")
	cmd := exec.Command(bin, "--db", db, "create", "--name", "admin", "--scope", "api_keys:manage")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	assert.Regexp(t, `^sk_live_[0-9A-Za-z]{49}$`, lines[len(lines)-1], "the key, last, for scripts")
	assert.Contains(t, stderr.String(), "shown only this once")

	err = exec.Command(bin, "--db", db, "get", "no-such-key").Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, exitNotFound, exit.ExitCode())

	// A key pasted as --db is refused, not made a SQLite file, nor echoed.
	key := lines[len(lines)-1]
	cmd = exec.Command(bin, "--db", key, "list")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	require.True(t, errors.As(err, &exit), "%v: %s", err, out)
	assert.Equal(t, exitUsage, exit.ExitCode())
	assert.Contains(t, string(out), "looks like an API key")
	assert.NotContains(t, string(out), key[12:], "the key is not echoed")
	assert.NoFileExists(t, filepath.Join(dir, key))
}
