package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Help names each default once, and never shows the --db value, which
// may hold a password.
func TestHelpShowsDefaultsOnce(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://app:hunter2@db/app"
	for _, args := range [][]string{
		{"--db", dsn, "--help"},
		{"--db", dsn, "create", "--help"},
		{"--db", dsn, "list", "--help"},
		{"--prefix", "acme", "rotate", "--help"},
	} {
		r := runCLI(args...)
		assert.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		assert.NotContains(t, r.stdout, "hunter2", "%v", args)
		for _, line := range strings.Split(r.stdout, "\n") {
			assert.LessOrEqual(t, strings.Count(line, "(default"), 1, "%v: %q", args, line)
		}
		assert.Contains(t, r.stdout, "(default $APIKEY_DB)", "%v", args)
	}
	r := runCLI("create", "--help")
	assert.Contains(t, r.stdout, `environment: live or test (default "live")`, "other defaults still shown")
	r = runCLI("list", "--help")
	assert.Contains(t, r.stdout, "(1-1000) (default 100)")
}
