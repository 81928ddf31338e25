package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/keyward/apikey"
)

// columns of api_keys, in the order encode writes and decode reads them.
const columns = "id, digest, digest_scheme, prefix, name, owner_id, environment, scopes, metadata, " +
	"created_at, expires_at, revoked_at, last_used_at, disabled, request_count, rotated_from_id, rotated_to_id, " +
	"plan, rate_limit_requests, rate_limit_period, rate_limit_burst, " +
	"quota_limit, quota_remaining, quota_refill, quota_period_start"

const numColumns = 25

// bin encodes a string for a binary column. It is never nil, because some
// drivers bind a nil []byte as NULL.
func bin(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}

// nullBin encodes an optional string: empty is NULL.
func nullBin(s string) any {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// micros encodes a time as microseconds since the Unix epoch; zero is NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// encodeMetadata encodes metadata as a JSON object; empty is NULL.
func encodeMetadata(md map[string]string) (any, error) {
	if len(md) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encoding metadata: %w", err)
	}
	return asciiJSON(b), nil
}

// asciiJSON returns the JSON text b with every non-ASCII character escaped
// (\uXXXX, a surrogate pair beyond the BMP), which decodes to the same
// value. Text columns then hold ASCII only, so no connection character set
// can refuse or mangle them: a MySQL DSN with charset=utf8 (3-byte utf8mb3)
// would fail on a 4-byte character (error 1366), and read one back as "?".
// (Outside strings, JSON is ASCII already.)
func asciiJSON(b []byte) string {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i == len(b) {
		return string(b)
	}
	var out strings.Builder
	out.Grow(len(b) + 16)
	out.Write(b[:i])
	for _, r := range string(b[i:]) {
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(byte(r))
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.String()
}

// encode returns rec's values in the order of columns.
func encode(rec *apikey.Record) ([]any, error) {
	scopes := rec.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	sc, err := json.Marshal(scopes) // scope tokens are ASCII
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encoding scopes: %w", err)
	}
	md, err := encodeMetadata(rec.Metadata)
	if err != nil {
		return nil, err
	}
	created := rec.CreatedAt.UnixMicro() // NOT NULL: a zero time is kept as such
	var quotaLimit any                   // NULL: no quota
	var quotaRemaining, quotaStart int64
	var quotaRefill string
	if q := rec.Quota; q != nil {
		quotaLimit, quotaRemaining, quotaRefill = q.Limit, q.Remaining, string(q.Refill)
		if !q.PeriodStart.IsZero() {
			quotaStart = q.PeriodStart.UnixMicro()
		}
	}
	rl := rec.RateLimit
	return []any{
		bin(rec.ID), rec.Digest[:], rec.DigestScheme, rec.Prefix, bin(rec.Name), bin(rec.OwnerID),
		rec.Environment, string(sc), md,
		created, micros(rec.ExpiresAt), micros(rec.RevokedAt), micros(rec.LastUsedAt),
		rec.Disabled, rec.RequestCount, nullBin(rec.RotatedFromID), nullBin(rec.RotatedToID),
		rec.Plan, int64(rl.Requests), rl.Period.Microseconds(), int64(rl.Burst),
		quotaLimit, quotaRemaining, quotaRefill, quotaStart,
	}, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// decode reads one row of columns into a new record.
func decode(row scanner) (*apikey.Record, error) {
	var (
		rec                        apikey.Record
		id, name, owner            string
		digest, rotFrom, rotTo     []byte
		scopes                     string
		md                         sql.NullString
		created                    int64
		expires, revoked, lastUsed sql.NullInt64
		rlRequests, rlPeriod       int64
		rlBurst                    int64
		quotaLimit                 sql.NullInt64
		quotaRemaining, quotaStart int64
		quotaRefill                string
	)
	err := row.Scan(&id, &digest, &rec.DigestScheme, &rec.Prefix, &name, &owner, &rec.Environment, &scopes, &md,
		&created, &expires, &revoked, &lastUsed, &rec.Disabled, &rec.RequestCount, &rotFrom, &rotTo,
		&rec.Plan, &rlRequests, &rlPeriod, &rlBurst, &quotaLimit, &quotaRemaining, &quotaRefill, &quotaStart)
	if err != nil {
		return nil, err
	}
	rec.RateLimit = apikey.Limit{Requests: int(rlRequests), Period: time.Duration(rlPeriod) * time.Microsecond, Burst: int(rlBurst)}
	if quotaLimit.Valid {
		rec.Quota = &apikey.Quota{Limit: quotaLimit.Int64, Remaining: quotaRemaining, Refill: apikey.Refill(quotaRefill)}
		if quotaStart != 0 {
			rec.Quota.PeriodStart = time.UnixMicro(quotaStart).UTC()
		}
	}
	if len(digest) != len(rec.Digest) {
		return nil, fmt.Errorf("sqlstore: key %s has a digest of %d bytes, want %d", id, len(digest), len(rec.Digest))
	}
	copy(rec.Digest[:], digest)
	rec.ID, rec.Name, rec.OwnerID = id, name, owner
	rec.RotatedFromID, rec.RotatedToID = string(rotFrom), string(rotTo)
	rec.CreatedAt = time.UnixMicro(created).UTC()
	rec.ExpiresAt, rec.RevokedAt, rec.LastUsedAt = fromMicros(expires), fromMicros(revoked), fromMicros(lastUsed)
	if err := json.Unmarshal([]byte(scopes), &rec.Scopes); err != nil {
		return nil, fmt.Errorf("sqlstore: decoding scopes of key %s: %w", id, err)
	}
	if rec.Scopes == nil {
		rec.Scopes = []string{}
	}
	if md.Valid {
		if err := json.Unmarshal([]byte(md.String), &rec.Metadata); err != nil {
			return nil, fmt.Errorf("sqlstore: decoding metadata of key %s: %w", id, err)
		}
	}
	return &rec, nil
}
