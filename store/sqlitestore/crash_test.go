package sqlitestore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlitestore"
)

// crashEnv names the database file a re-executed test binary creates keys
// in until it is killed.
const crashEnv = "APIKEY_SQLITESTORE_CRASH_CHILD"

// TestCrash kills a process that is creating keys (SIGKILL, no chance to
// flush or close) and checks that every key whose Create had returned
// verifies after reopening the file.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		createUntilKilled(path)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	const want = 200
	created := map[string]string{} // id → key
	lines := bufio.NewScanner(out)
	for len(created) < want && lines.Scan() {
		id, key, ok := strings.Cut(lines.Text(), " ")
		require.True(t, ok, "child wrote %q", lines.Text())
		created[id] = key
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	// Keys created after the last line read are in the file too, or not:
	// only those reported are checked.
	err = cmd.Wait()
	require.Error(t, err, "the child must have been killed")
	require.Len(t, created, want, "lines read before the kill")

	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	m, err := apikey.New(s, apikey.WithoutUsageTracking())
	require.NoError(t, err)
	defer m.Close()
	for id, key := range created {
		k, err := m.Verify(context.Background(), key)
		require.NoError(t, err, "key %s, created before the crash, does not verify", id)
		require.Equal(t, id, k.ID)
	}
}

// createUntilKilled creates keys in path and writes "id key" to stdout after
// each Create returns, until the process is killed.
func createUntilKilled(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	s, err := sqlitestore.Open(path)
	if err != nil {
		fail(err)
	}
	m, err := apikey.New(s)
	if err != nil {
		fail(err)
	}
	for i := 0; ; i++ {
		k, key, err := m.Create(context.Background(), apikey.CreateParams{Name: fmt.Sprintf("crash %d", i)})
		if err != nil {
			fail(err)
		}
		// Verifying too puts usage counts in flight, as in a live service.
		if _, err := m.Verify(context.Background(), key); err != nil {
			fail(err)
		}
		if _, err := fmt.Fprintln(os.Stdout, k.ID, key); err != nil {
			fail(err)
		}
	}
}
