// Command modproxy writes a module proxy directory (GOPROXY=file://DIR) that
// serves module trees on disk at chosen versions, so CI can test the nested
// modules with the workspace off, and `go install …@version`, against the
// current root without publishing anything.
//
//	go run ./internal/modproxy -o DIR MODDIR=VERSION...
//
// For each module it writes the .info, .mod and .zip files and @latest of
// the GOPROXY protocol, and prints the two go.sum lines of the module (the
// same h1: hashes the go command computes), so a caller can put them in a
// go.sum. The zip follows the module zip rules (golang.org/x/mod/zip): every
// name starts with module@version/, and subtrees holding another go.mod,
// version-control directories, vendored packages and irregular files are
// left out. In a git work tree only the files git tracks or would track
// (not ignored) are taken, so build output lying around is not served.
// Only the standard library: the root go.mod gains nothing from it.
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

func main() {
	out := flag.String("o", "", "proxy directory to write (created if missing)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: modproxy -o DIR MODDIR=VERSION...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, arg := range flag.Args() {
		dir, version, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "modproxy: %q is not MODDIR=VERSION\n", arg)
			os.Exit(2)
		}
		sums, err := publish(*out, dir, version)
		if err != nil {
			fmt.Fprintf(os.Stderr, "modproxy: %s: %v\n", dir, err)
			os.Exit(1)
		}
		fmt.Print(sums)
	}
}

// publish writes the module in dir at version into the proxy directory out
// and returns its go.sum lines.
func publish(out, dir, version string) (string, error) {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	modPath := modulePath(gomod)
	if modPath == "" {
		return "", errors.New("go.mod has no module line")
	}
	t, err := versionTime(version)
	if err != nil {
		return "", err
	}
	files, err := moduleFiles(dir)
	if err != nil {
		return "", err
	}
	zipData, zipSum, err := moduleZip(dir, modPath+"@"+version+"/", files)
	if err != nil {
		return "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, t})
	if err != nil {
		return "", err
	}
	esc, err := escapePath(modPath)
	if err != nil {
		return "", err
	}
	base := filepath.Join(out, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	escVersion, err := escapePath(version)
	if err != nil {
		return "", err
	}
	for name, data := range map[string][]byte{
		escVersion + ".info": info,
		escVersion + ".mod":  gomod,
		escVersion + ".zip":  zipData,
		"list":               nil, // pseudo-versions are not listed; @latest names it
		"../@latest":         info,
	} {
		if err := os.WriteFile(filepath.Join(base, filepath.FromSlash(name)), data, 0o644); err != nil {
			return "", err
		}
	}
	modSum := hash1([]hashedFile{{"go.mod", sha256.Sum256(gomod)}})
	return fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", modPath, version, zipSum, modPath, version, modSum), nil
}

var moduleLine = regexp.MustCompile(`(?m)^module\s+"?([^"\s]+)"?\s*(//.*)?$`)

func modulePath(gomod []byte) string {
	m := moduleLine.FindSubmatch(gomod)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// pseudoTime matches the timestamp of every pseudo-version form:
// vX.0.0-yyyymmddhhmmss-hash, vX.Y.Z-pre.0.yyyymmddhhmmss-hash and
// vX.Y.(Z+1)-0.yyyymmddhhmmss-hash.
var pseudoTime = regexp.MustCompile(`[-.](\d{14})-[0-9a-f]{12}$`)

// versionTime is the time a pseudo-version records, or now for a tag.
func versionTime(version string) (time.Time, error) {
	if !strings.HasPrefix(version, "v") {
		return time.Time{}, fmt.Errorf("version %q does not start with v", version)
	}
	m := pseudoTime.FindStringSubmatch(version)
	if m == nil {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	return time.Parse("20060102150405", m[1])
}

// moduleFiles lists the files of the module rooted at dir, slash-separated
// and relative to dir, under the module zip rules.
func moduleFiles(dir string) ([]string, error) {
	candidates, err := gitFiles(dir)
	if err != nil {
		return nil, err
	}
	if candidates == nil { // not a git work tree: take what is on disk
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				rel, err := filepath.Rel(dir, p)
				if err != nil {
					return err
				}
				candidates = append(candidates, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Directories that hold another module (their go.mod) are cut out with
	// everything below them.
	var nested []string
	for _, f := range candidates {
		if path.Base(f) == "go.mod" && f != "go.mod" {
			nested = append(nested, path.Dir(f)+"/")
		}
	}
	var files []string
	for _, f := range candidates {
		if excluded(f, nested) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the work tree but not yet in git's index
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue // symlinks and other irregular files are never in a module zip
		}
		files = append(files, f)
	}
	slices.Sort(files)
	return files, nil
}

func excluded(f string, nested []string) bool {
	for _, n := range nested {
		if strings.HasPrefix(f, n) {
			return true
		}
	}
	for _, elem := range strings.Split(path.Dir(f), "/") {
		switch elem {
		case ".git", ".hg", ".svn", ".bzr":
			return true
		}
	}
	return vendored(f)
}

// vendored reports whether f is left out of a module zip as vendored, by
// golang.org/x/mod/zip's rule: a file in a package below a vendor directory,
// and vendor/modules.txt.
func vendored(f string) bool {
	if f == "vendor/modules.txt" {
		return true
	}
	var i int
	if strings.HasPrefix(f, "vendor/") {
		i = len("vendor/")
	} else if strings.Contains(f, "/vendor/") {
		// Not the index after "/vendor/": x/mod keeps this offset so that no
		// published checksum changes (go.dev/issue/31562).
		i = len("/vendor/")
	} else {
		return false
	}
	return strings.Contains(f[i:], "/")
}

// gitFiles lists the files git tracks or would track in dir, or nil when dir
// is not in a git work tree.
func gitFiles(dir string) ([]string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, nil
	}
	if err := exec.Command("git", "-C", dir, "rev-parse", "--is-inside-work-tree").Run(); err != nil {
		return nil, nil
	}
	cmd := exec.Command("git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %v: %s", err, stderr.String())
	}
	var files []string
	for _, f := range strings.Split(string(outb), "\x00") {
		if f != "" && !slices.Contains(files, f) { // a conflicted file is listed once per stage
			files = append(files, f)
		}
	}
	return files, nil
}

type hashedFile struct {
	name string
	sum  [sha256.Size]byte
}

// hash1 is the go command's "h1:" hash (golang.org/x/mod/sumdb/dirhash.Hash1):
// the SHA-256 of the sorted lines "<hex sha256>  <name>\n".
func hash1(files []hashedFile) string {
	slices.SortFunc(files, func(a, b hashedFile) int { return strings.Compare(a.name, b.name) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%x  %s\n", f.sum, f.name)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// moduleZip zips files under prefix (module@version/) and returns the zip
// and its h1: hash.
func moduleZip(dir, prefix string, files []string) ([]byte, string, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hashed := make([]hashedFile, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return nil, "", err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + f, Method: zip.Deflate})
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(data); err != nil {
			return nil, "", err
		}
		hashed = append(hashed, hashedFile{prefix + f, sha256.Sum256(data)})
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), hash1(hashed), nil
}

// escapePath is the module proxy's case encoding: every upper-case letter
// becomes '!' and its lower case.
func escapePath(p string) (string, error) {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r == '!' || r >= unicode.MaxASCII:
			return "", fmt.Errorf("cannot escape %q", p)
		case 'A' <= r && r <= 'Z':
			b.WriteByte('!')
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
