package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The zip holds the module's own files under module@version/ and nothing of
// nested modules, version control directories, vendored packages or
// symlinks. The expected go.sum lines are what the go command computed for
// the same tree committed to git (`GOPROXY=direct go mod download -json`),
// so both the file selection and the hashes agree with it.
func TestPublish(t *testing.T) {
	mod := t.TempDir() // not a git work tree: the files on disk are taken
	writeTree(t, mod, map[string]string{
		"go.mod":              "module github.com/Example/Mod\n\ngo 1.26.0\n",
		"mod.go":              "package mod\n",
		"sub/sub.go":          "package sub\n",
		"a/vendor.go":         "package q\n",
		"a/vendorx/v.go":      "package v\n",
		"nested/go.mod":       "module github.com/Example/Mod/nested\n",
		"nested/nested.go":    "package nested\n",
		"nested/deep/deep.go": "package deep\n",
		".git/config":         "[core]\n",
		"vendor/modules.txt":  "# x\n",
		"vendor/other.txt":    "hi\n",
		"vendor/x/x.go":       "package x\n",
		"sub/vendor/y/y.go":   "package y\n",
	})
	if err := os.Symlink("mod.go", filepath.Join(mod, "link.go")); err != nil {
		t.Fatal(err)
	}
	const version = "v0.0.0-20261122155706-3e3daaacea30"
	out := t.TempDir()
	sums, err := publish(out, mod, version)
	if err != nil {
		t.Fatal(err)
	}
	wantSums := "github.com/Example/Mod " + version + " h1:nFevg5gGjlL/LFAGkMtW4tArvDCnuzYUm5IhDFXJYHM=\n" +
		"github.com/Example/Mod " + version + "/go.mod h1:rF5nbtASxfEyAv8mlv6Ul6qvCDs5b3drZoDphNj2f8s=\n"
	if sums != wantSums {
		t.Errorf("go.sum lines:\n%s\nwant:\n%s", sums, wantSums)
	}

	base := filepath.Join(out, "github.com", "!example", "!mod", "@v") // upper case escaped
	zr, err := zip.OpenReader(filepath.Join(base, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	prefix := "github.com/Example/Mod@" + version + "/"
	var want []string
	for _, f := range []string{"a/vendor.go", "a/vendorx/v.go", "go.mod", "mod.go", "sub/sub.go", "vendor/other.txt"} {
		want = append(want, prefix+f)
	}
	if !slices.Equal(names, want) {
		t.Errorf("zip holds %q, want %q", names, want)
	}

	info, err := os.ReadFile(filepath.Join(base, version+".info"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Version":"` + version + `","Time":"2026-11-22T15:57:06Z"}`; string(info) != want {
		t.Errorf(".info = %s, want %s", info, want)
	}
	latest, err := os.ReadFile(filepath.Join(base, "..", "@latest"))
	if err != nil || string(latest) != string(info) {
		t.Errorf("@latest = %s, %v; want the .info", latest, err)
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	mod := t.TempDir()
	writeTree(t, mod, map[string]string{"go.mod": "go 1.26.0\n"})
	if _, err := publish(t.TempDir(), mod, "v1.0.0"); err == nil || !strings.Contains(err.Error(), "module line") {
		t.Errorf("go.mod without a module line: err = %v", err)
	}
	writeTree(t, mod, map[string]string{"go.mod": "module example.com/m\n"})
	if _, err := publish(t.TempDir(), mod, "1.0.0"); err == nil {
		t.Error("a version without the leading v was accepted")
	}
}
