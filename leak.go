package apikey

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/keyward/apikey/audit"
)

// Leaked keys
//
// A key that shows up where it should not (a public repository, a CI log, a
// chat) is reported to ReportLeak, by the handlers of package leak (GitHub
// secret scanning, GitLab's token revocation API, a public revoke
// endpoint) or by the host itself. ReportLeak finds the key by digest and
// applies a LeakPolicy: revoke it (the default), disable it, or only
// record the report. Every report of a key of this store is audited as
// key.leaked, with where it was found, never the key.

// LeakPolicy is what ReportLeak does to a reported key that still works.
type LeakPolicy string

const (
	// LeakRevoke revokes the key for good (the default).
	LeakRevoke LeakPolicy = "revoke"
	// LeakDisable disables the key, which its owner can undo (Enable).
	LeakDisable LeakPolicy = "disable"
	// LeakNotify changes nothing: the key.leaked audit event is the
	// notification.
	LeakNotify LeakPolicy = "notify"
)

// LeakReport is one report of a leaked key.
type LeakReport struct {
	// Key is the reported string. It is hashed only if it has this
	// Manager's format and checksum, and never kept.
	Key string
	// Source names who reported it and how, e.g. "github:commit",
	// "gitlab", "public", "scan". URL is where it was found, if known.
	// Both are sanitised (printable ASCII, any key redacted, a URL's
	// credentials, query and fragment dropped) and truncated before they
	// reach the audit log.
	Source string
	URL    string
	// Policy is what to do with the key; empty means LeakRevoke.
	Policy LeakPolicy
}

// LeakResult is what ReportLeak tells its caller.
type LeakResult struct {
	// Found: the key is one of this store's, in whatever state (active,
	// disabled, expired or already revoked), so the report was a true
	// positive. A key already revoked is Found, so a handler must not
	// show Found to a caller it does not trust (see package leak).
	Found bool
}

const (
	maxLeakURLLen    = 512
	maxLeakSourceLen = 64
)

// ReportLeak acts on a report of a leaked key: a string that is not a key
// of this Manager's format (or whose checksum is wrong) is dropped without
// hashing; otherwise the key is looked up by digest under every scheme the
// Manager accepts (bounded by the store timeout), and a key found is
// revoked, disabled or left alone according to r.Policy. Each step is
// evicted from the cache at once, on this instance and, through the
// Invalidator, on the others: a revoked key answers 401 as soon as
// ReportLeak returns.
//
// Every report of a key found is audited as key.leaked (details: source,
// url, policy, result); reports that change nothing (a key already
// revoked, a replay, LeakNotify) are recorded at most once per key and
// minute, with a count of those left out. An unknown key is not an error.
// Errors: ErrInvalidParams for an unknown policy, ErrStoreUnavailable when
// the store fails (nothing may have been done: report again).
func (m *Manager) ReportLeak(ctx context.Context, r LeakReport) (LeakResult, error) {
	policy := r.Policy
	switch policy {
	case "":
		policy = LeakRevoke
	case LeakRevoke, LeakDisable, LeakNotify:
	default:
		return LeakResult{}, paramErr("policy", "must be revoke, disable or notify")
	}
	k, err := m.Lookup(ctx, r.Key)
	switch {
	case errors.Is(err, ErrMalformedKey), errors.Is(err, ErrUnknownKey):
		return LeakResult{}, nil
	case err != nil:
		return LeakResult{}, err
	}
	result := "unchanged"
	switch {
	case !k.RevokedAt.IsZero():
		result = "already_revoked"
	case policy == LeakRevoke:
		result, err = m.leakAct(ctx, "revoked", func(ctx context.Context) error { return m.Revoke(ctx, k.ID) })
	case policy == LeakDisable && !k.Disabled:
		result, err = m.leakAct(ctx, "disabled", func(ctx context.Context) error {
			_, err := m.Disable(ctx, k.ID)
			return err
		})
	case policy == LeakDisable:
		result = "already_disabled"
	}
	if err != nil {
		return LeakResult{}, err
	}
	details := map[string]string{
		"source": sanitizeLeakField(r.Source, maxLeakSourceLen, false),
		"url":    sanitizeLeakField(r.URL, maxLeakURLLen, true),
		"policy": string(policy),
		"result": result,
	}
	// An action is always recorded; and it starts the key's minute, so the
	// replays that follow (a sender retrying) are counted, not logged.
	acted := result == "revoked" || result == "disabled"
	if n, ok := m.audit.used.allow(k.ID+" "+string(audit.KeyLeaked), m.now()); ok || acted {
		if n > 0 {
			details["suppressed"] = strconv.Itoa(n)
		}
		m.audit.record(ctx, audit.KeyLeaked, k, details)
	}
	return LeakResult{Found: true}, nil
}

// leakAct runs one write of ReportLeak, bounded by the store timeout. A
// key revoked between the lookup and the write (ErrNotFound) is already
// stopped: not an error.
func (m *Manager) leakAct(ctx context.Context, done string, write func(context.Context) error) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, m.storeTimeout)
	defer cancel()
	switch err := write(wctx); {
	case errors.Is(err, ErrNotFound):
		return "already_revoked", nil
	case err != nil:
		return "", err
	}
	return done, nil
}

// Lookup returns the record of rawKey in whatever state it is (active,
// disabled, expired, revoked), found by digest under every scheme the
// Manager accepts, without authenticating it: no cache, no usage count, no
// audit event, no re-hash, and any environment. For tools that ask "is
// this leaked string one of our keys?" (apikey scan, ReportLeak). A string
// of the wrong format or checksum is ErrMalformedKey, without hashing; no
// key is ErrUnknownKey; a failing or slow store (bounded by the store
// timeout) ErrStoreUnavailable.
func (m *Manager) Lookup(ctx context.Context, rawKey string) (*Key, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if _, err := m.format.parse(rawKey); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.storeTimeout)
	defer cancel()
	for i := range m.schemes {
		s := &m.schemes[i]
		d := s.digest(rawKey)
		rec, err := m.store.ByDigest(ctx, d)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, storeErr("lookup", err)
		}
		// As in Verify: an inexact store match, or a record of another
		// scheme that happens to share the digest, is no match.
		if subtle.ConstantTimeCompare(rec.Digest[:], d[:]) != 1 || i > 0 && rec.DigestScheme != s.name {
			continue
		}
		return m.view(rec), nil
	}
	return nil, ErrUnknownKey
}

// anyKey matches a key of any prefix, to redact from what reaches the log.
var anyKey = regexp.MustCompile(`[a-z0-9]{1,16}_(live|test)_[0-9A-Za-z]{49}`)

// sanitizeLeakField makes s fit for the audit log: every key-like
// substring redacted, a URL's userinfo, query and fragment dropped (where
// tokens travel), bytes outside printable ASCII replaced with '?', and at
// most max bytes.
func sanitizeLeakField(s string, max int, isURL bool) string {
	const hardMax = 8 << 10 // never regex-scan a huge string
	if len(s) > hardMax {
		s = s[:hardMax]
	}
	if isURL {
		if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
			u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
			s = u.String()
		}
	}
	s = anyKey.ReplaceAllString(s, "[redacted]")
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
