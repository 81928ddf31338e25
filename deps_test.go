package apikey_test

import (
	"os/exec"
	"strings"
	"testing"
)

// A program that uses only the memory store must not build the SQLite
// driver: modernc.org/sqlite takes minutes to compile the first time (the
// README's first lines say so), the memory-store path only seconds.
func TestMemoryStorePathBuildsWithoutSQLite(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".", "./store/memstore", "./admin").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "modernc.org/") {
			t.Errorf("the memory-store path depends on %s", pkg)
		}
	}
}
