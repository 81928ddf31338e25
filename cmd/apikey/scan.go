package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/apikey"
)

// apikey scan PATH…: find keys of the configured prefix in files (or, with
// --git, in every commit of a repository), and say for each whether it is
// live in the database. A key is a match of the pattern whose checksum is
// right, so random look-alikes are dropped; a key is never printed, only
// its display prefix and last four characters.

// maxScanLine bounds one line; a longer line (a minified bundle) ends the
// scan of its file with a warning.
const maxScanLine = 16 << 20

// finding is one key found, as printed.
type finding struct {
	Location string `json:"location"` // path:line, or commit:path:line
	Path     string `json:"path"`
	Line     int    `json:"line"`
	Commit   string `json:"commit,omitempty"`
	Key      string `json:"key"`    // masked: sk_live_a1b2…WXYZ
	Status   string `json:"status"` // active, disabled, expired, revoked or unknown
	KeyID    string `json:"key_id,omitempty"`
	Owner    string `json:"owner_id,omitempty"`
}

// errLiveKey is returned when a live key was found: exit 5.
var errLiveKey = errors.New("found a live key: revoke it (apikey revoke ID) and remove it from the source")

type scanner struct {
	c       *cli
	pattern *regexp.Regexp
	seen    map[[sha256.Size]byte]*apikey.Key // lookups already made; nil value: unknown
	found   []finding
	live    bool
}

func scanFlags(fs *flag.FlagSet) runFunc {
	var git bool
	fs.BoolVar(&git, "git", false, "scan every commit of the repositories at PATH (git log -p --all) instead of the files")
	return func(ctx context.Context, c *cli, args []string) error {
		re, err := regexp.Compile(`\b` + regexp.QuoteMeta(c.g.prefix) + `_(?:live|test)_[0-9A-Za-z]{49}\b`)
		if err != nil {
			return err
		}
		s := &scanner{c: c, pattern: re, seen: map[[sha256.Size]byte]*apikey.Key{}}
		for _, path := range args {
			if git {
				err = s.scanGit(ctx, path)
			} else {
				err = s.scanTree(ctx, path)
			}
			if err != nil {
				return err
			}
		}
		if err := s.print(); err != nil {
			return err
		}
		if s.live {
			return errLiveKey
		}
		return nil
	}
}

// scanTree scans path, a file or a directory (without following links or
// entering .git).
func (s *scanner) scanTree(ctx context.Context, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git" && path != root:
			return filepath.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		line := 0
		return s.lines(f, path, func(b []byte) error {
			line++
			return s.scanLine(ctx, b, finding{Path: path, Line: line})
		})
	})
}

// scanGit scans the added lines of every commit of the repository at dir.
func (s *scanner) scanGit(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "-c", "core.quotePath=false", "log", "-p", "--all",
		"--no-color", "--no-ext-diff", "--no-textconv", "--format=%x00commit %H")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running git: %w", err)
	}
	var commit, path string
	line, header := 0, false // header: between "diff --git" and the first hunk
	scanErr := s.lines(out, dir, func(b []byte) error {
		switch {
		case bytes.HasPrefix(b, []byte("\x00commit ")):
			commit, path, header = string(b[len("\x00commit "):]), "", false
		case bytes.HasPrefix(b, []byte("diff --git ")):
			header = true
		case header && bytes.HasPrefix(b, []byte("+++ ")):
			path = strings.TrimPrefix(string(b[4:]), "b/")
		case bytes.HasPrefix(b, []byte("@@ ")):
			line, header = hunkStart(b), false
		case header:
		case bytes.HasPrefix(b, []byte("+")):
			err := s.scanLine(ctx, b[1:], finding{Path: path, Line: line, Commit: commit})
			line++
			return err
		case bytes.HasPrefix(b, []byte(" ")):
			line++
		}
		return nil
	})
	if scanErr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return scanErr
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git log in %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// hunkStart reads the new file's first line from "@@ -a,b +c,d @@".
func hunkStart(b []byte) int {
	_, after, ok := bytes.Cut(b, []byte(" +"))
	if !ok {
		return 0
	}
	end := bytes.IndexAny(after, ", ")
	if end < 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(after[:end]))
	return n
}

// lines calls fn with each line of r; a line over maxScanLine ends the
// scan of r with a warning.
func (s *scanner) lines(r io.Reader, name string, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxScanLine)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		fmt.Fprintf(s.c.stderr, "apikey scan: %s: a line over %d MiB; the rest is not scanned\n", clean(name), maxScanLine>>20)
		return nil
	}
	return sc.Err()
}

// scanLine looks up every key on one line.
func (s *scanner) scanLine(ctx context.Context, b []byte, at finding) error {
	if !bytes.Contains(b, []byte(s.c.g.prefix+"_")) {
		return nil // the cheap test first: most lines hold no key
	}
	for _, loc := range s.pattern.FindAllIndex(b, -1) {
		key := string(b[loc[0]:loc[1]])
		if !apikey.ValidChecksum(key) {
			continue // a look-alike
		}
		k, err := s.lookup(ctx, key)
		if err != nil {
			return err
		}
		f := at
		f.Key = key[:12] + "…" + key[len(key)-4:]
		f.Status = "unknown"
		if k != nil {
			f.Status, f.KeyID, f.Owner = string(k.Status(time.Now())), k.ID, k.OwnerID
			s.live = s.live || f.Status == string(apikey.StatusActive)
		}
		f.Location = clean(f.Path) + ":" + strconv.Itoa(f.Line)
		if f.Commit != "" {
			f.Location = f.Commit[:min(12, len(f.Commit))] + ":" + f.Location
		}
		s.found = append(s.found, f)
	}
	return nil
}

// lookup finds key by digest, once per key.
func (s *scanner) lookup(ctx context.Context, key string) (*apikey.Key, error) {
	sum := sha256.Sum256([]byte(key))
	if k, ok := s.seen[sum]; ok {
		return k, nil
	}
	k, err := s.c.m.Lookup(ctx, key)
	switch {
	case errors.Is(err, apikey.ErrUnknownKey), errors.Is(err, apikey.ErrMalformedKey):
		k, err = nil, nil
	case err != nil:
		return nil, err
	}
	s.seen[sum] = k
	return k, nil
}

func (s *scanner) print() error {
	if s.c.g.json {
		if s.found == nil {
			s.found = []finding{}
		}
		return s.c.printJSON(s.found)
	}
	if len(s.found) == 0 {
		_, err := fmt.Fprintln(s.c.stdout, "No keys found.")
		return err
	}
	tw := tabwriter.NewWriter(s.c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCATION\tKEY\tSTATUS\tID\tOWNER")
	for _, f := range s.found {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Location, f.Key, f.Status, orDash(f.KeyID), clean(orDash(f.Owner)))
	}
	return tw.Flush()
}
