package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstart starts the example on a free port and runs the curl lines
// it prints, as a user would paste them.
func TestQuickstart(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", filepath.Join(t.TempDir(), "keys.db"), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	var curls []string
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if strings.HasPrefix(line, "curl ") {
			curls = append(curls, line)
		} else if line == "" && len(curls) > 0 {
			break // the server is listening once the lines are out
		}
	}
	go io.Copy(io.Discard, pr)

	wantStatus := []int{http.StatusOK, http.StatusOK, http.StatusCreated, http.StatusUnauthorized}
	if len(curls) != len(wantStatus) {
		t.Fatalf("printed %d curl lines, want %d: %q", len(curls), len(wantStatus), curls)
	}
	for i, line := range curls {
		out, err := exec.CommandContext(ctx, "sh", "-c", line+" --silent --show-error").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		status, _, _ := strings.Cut(string(out), "\r\n")
		if want := " " + http.StatusText(wantStatus[i]); !strings.HasSuffix(status, want) {
			t.Errorf("%s:\n got %q, want status %d", line, status, wantStatus[i])
		}
	}
}
