package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lookAlike is key with its last character changed: the pattern matches,
// the checksum does not.
func lookAlike(key string) string {
	last := "A"
	if strings.HasSuffix(key, "A") {
		last = "B"
	}
	return key[:len(key)-1] + last
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// scanFixture is a database with a live, a revoked and a disabled key, a
// key of another database, and a tree of files holding them.
type scanFixture struct {
	s                                 *session
	live, revoked, disabled, stranger keyOut
	dir                               string
}

func newScanFixture(t *testing.T) *scanFixture {
	dir := t.TempDir()
	s := &session{t: t, db: filepath.Join(dir, "keys.db")}
	other := &session{t: t, db: filepath.Join(dir, "other.db")}
	f := &scanFixture{s: s, dir: filepath.Join(dir, "src")}
	f.live = s.create("--name", "live", "--owner", "org_1")
	f.revoked = s.create("--name", "revoked")
	require.Equal(t, exitOK, s.run("revoke", f.revoked.ID).code)
	f.disabled = s.create("--name", "disabled")
	require.Equal(t, exitOK, s.run("disable", f.disabled.ID).code)
	f.stranger = other.create("--name", "elsewhere")
	s.secrets = append(s.secrets, f.stranger.Key)
	return f
}

func TestScanFiles(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	writeFile(t, filepath.Join(f.dir, "config.env"), "# settings\nAPI_KEY="+f.live.Key+"\n")
	writeFile(t, filepath.Join(f.dir, "app", "main.go"), "package main\n\nconst old = \""+f.revoked.Key+"\" // "+f.disabled.Key+"\n")
	writeFile(t, filepath.Join(f.dir, "notes.md"), strings.Join([]string{
		"a key of another service: " + f.stranger.Key,
		"a look-alike: " + lookAlike(f.live.Key),
		"another prefix: x" + f.live.Key,
		"glued: " + f.live.Key + "Z",
	}, "\n"))
	writeFile(t, filepath.Join(f.dir, ".git", "objects", "blob"), f.live.Key) // not the work tree

	r := f.s.run("scan", f.dir)
	assert.Equal(t, exitLiveKey, r.code, "a live key fails the scan: %s", r.stderr)
	assert.Contains(t, r.stderr, "found a live key")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 5, r.stdout)
	assert.Regexp(t, `^LOCATION\s+KEY\s+STATUS\s+ID\s+OWNER$`, lines[0])
	mask := func(k string) string { return k[:12] + "…" + k[len(k)-4:] }
	want := []struct{ loc, key, status, id string }{
		{filepath.Join(f.dir, "app", "main.go") + ":3", mask(f.revoked.Key), "revoked", f.revoked.ID},
		{filepath.Join(f.dir, "app", "main.go") + ":3", mask(f.disabled.Key), "disabled", f.disabled.ID},
		{filepath.Join(f.dir, "config.env") + ":2", mask(f.live.Key), "active", f.live.ID},
		{filepath.Join(f.dir, "notes.md") + ":1", mask(f.stranger.Key), "unknown", "-"},
	}
	for i, w := range want {
		assert.Equal(t, []string{w.loc, w.key, w.status, w.id}, strings.Fields(lines[i+1])[:4], lines[i+1])
	}
	f.s.noLeaks()

	// --json, and no live key: exit 0.
	var found []finding
	r = f.s.run("--json", "scan", filepath.Join(f.dir, "notes.md"), filepath.Join(f.dir, "app"))
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &found))
	require.Len(t, found, 3)
	assert.Equal(t, finding{Location: filepath.Join(f.dir, "notes.md") + ":1", Path: filepath.Join(f.dir, "notes.md"),
		Line: 1, Key: mask(f.stranger.Key), Status: "unknown"}, found[0])
	assert.Equal(t, "revoked", found[1].Status)
	f.s.noLeaks()

	r = f.s.run("scan", filepath.Join(f.dir, "nothing-here"))
	assert.Equal(t, exitFailure, r.code)
	r = f.s.run("scan")
	assert.Equal(t, exitUsage, r.code)
	empty := t.TempDir()
	r = f.s.run("scan", empty)
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, "No keys found.\n", r.stdout)
}

// Another prefix: only its keys are found.
func TestScanPrefix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &session{t: t, db: filepath.Join(dir, "keys.db")}
	acme := s.create("--prefix", "acme", "--name", "acme")
	sk := (&session{t: t, db: filepath.Join(dir, "other.db")}).create("--name", "sk")
	s.secrets = append(s.secrets, sk.Key)
	writeFile(t, filepath.Join(dir, "src", "a.txt"), acme.Key+" "+sk.Key)
	var found []finding
	r := s.run("--json", "--prefix", "acme", "scan", filepath.Join(dir, "src"))
	require.Equal(t, exitLiveKey, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &found))
	require.Len(t, found, 1)
	assert.Equal(t, acme.ID, found[0].KeyID)
	s.noLeaks()
}

// --git finds keys in the history, also where the work tree no longer
// has them, and names the commit.
func TestScanGitHistory(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	f := newScanFixture(t)
	repo := f.dir
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com",
			"-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	require.NoError(t, os.MkdirAll(repo, 0o755))
	git("init", "-q", "-b", "main")
	writeFile(t, filepath.Join(repo, "README"), "hello\n")
	git("add", ".")
	git("commit", "-q", "-m", "first")
	writeFile(t, filepath.Join(repo, "deploy", "ci.yml"), "steps:\n  - run: deploy\n    env:\n      KEY: "+f.live.Key+"\n++ "+f.revoked.Key+"\n")
	git("add", ".")
	git("commit", "-q", "-m", "oops")
	leaked := git("rev-parse", "HEAD")
	require.NoError(t, os.Remove(filepath.Join(repo, "deploy", "ci.yml")))
	git("add", "-A")
	git("commit", "-q", "-m", "remove the key")

	r := f.s.run("scan", repo)
	assert.Equal(t, exitOK, r.code, "the work tree is clean: %s", r.stderr)

	var found []finding
	r = f.s.run("--json", "scan", "--git", repo)
	assert.Equal(t, exitLiveKey, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &found))
	require.Len(t, found, 2, r.stdout)
	assert.Equal(t, leaked[:12]+":deploy/ci.yml:4", found[0].Location)
	assert.Equal(t, leaked, found[0].Commit)
	assert.Equal(t, "active", found[0].Status)
	assert.Equal(t, "deploy/ci.yml", found[1].Path)
	assert.Equal(t, 5, found[1].Line, "a line that looks like a diff header is content")
	assert.Equal(t, "revoked", found[1].Status)
	f.s.noLeaks()

	r = f.s.run("scan", "--git", t.TempDir())
	assert.Equal(t, exitFailure, r.code, "not a repository")
}
