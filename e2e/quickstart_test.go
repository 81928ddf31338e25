package e2e

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quickstart is examples/quickstart, built and running on a free port.
type quickstart struct {
	base  string // http://127.0.0.1:port
	login string // the one-time sign-in link it printed
}

// startQuickstart builds the example from the root module and runs it
// with a new SQLite file, as a user would.
func startQuickstart(t *testing.T) *quickstart {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "quickstart")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./examples/quickstart")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/quickstart: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "keys.db"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	q := &quickstart{}
	found := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			line := strings.TrimSpace(lines.Text())
			if i := strings.Index(line, "/login?token="); i > 0 && strings.HasPrefix(line, "http://") {
				q.base, q.login = line[:i], line
				close(found)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("the quickstart printed no sign-in link")
	}
	return q
}

// status sends GET /webhooks with key, as a client of the API would.
func (q *quickstart) status(t *testing.T, key string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, q.base+"/webhooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
