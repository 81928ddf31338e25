package apikey_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// The middleware's cost is what it adds to a bare handler, set beside what
// a minimal hand-written middleware adds (RefMiddleware): run them in the
// same `go test -bench` so that both are measured on the same machine state.
// See BENCHMARKS.md.

// benchHandlers are the next handlers measured: one that does nothing, and
// one that sets a header, as nearly every real handler does. The
// difference matters because the first header set in a response pays for
// the header map's storage; with the empty handler the middleware's Vary is
// that first header.
var benchHandlers = []struct {
	name string
	h    http.Handler
}{
	{"empty-handler", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})},
	{"json-handler", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonType
	})},
}

var jsonType = []string{"application/json"}

// serveBench serves r with h once per iteration, with a fresh recorder as
// net/http would give a fresh ResponseWriter. Besides ns/op it reports
// cpu-ns/op, the thread's CPU time per request (Linux; see BenchmarkCPU):
// on a loaded machine, time spent waiting for a core inflates ns/op only.
func serveBench(b *testing.B, h http.Handler, r *http.Request) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	start := threadCPU()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	if cpu := threadCPU() - start; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkBareHandler(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer sk_live_x")
	for _, next := range benchHandlers {
		b.Run(next.name, func(b *testing.B) { serveBench(b, next.h, r) })
	}
}

// BenchmarkMiddleware: a valid key, memstore, default options (and the
// Manager's defaults, usage tracking included).
func BenchmarkMiddleware(b *testing.B) {
	m, key := benchMiddleware(b)
	b.Run("x-api-key/empty-handler", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", key)
		serveBench(b, m.Middleware()(benchHandlers[0].h), r)
	})
}

// BenchmarkMiddlewareRateLimited is BenchmarkMiddleware with a per-key
// limit that always has room, so every response carries the three
// X-RateLimit-* headers: its budget is the middleware's plus those headers.
func BenchmarkMiddlewareRateLimited(b *testing.B) {
	benchMiddleware(b, apikey.WithKeyLimit(apikey.PerSecond(1_000_000_000)))
}

// benchMiddleware runs the default middleware of a Manager made with opts
// (memstore, benchKeys keys) in front of each bench handler, with a valid
// Bearer key, and returns the Manager and key for more runs.
func benchMiddleware(b *testing.B, opts ...apikey.Option) (*apikey.Manager, string) {
	m, err := apikey.New(memstore.New(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "bench", Scopes: []string{"webhooks:read"}})
	if err != nil {
		b.Fatal(err)
	}
	for range benchKeys - 1 {
		if _, _, err := m.Create(context.Background(), apikey.CreateParams{Name: "other"}); err != nil {
			b.Fatal(err)
		}
	}
	bearer := httptest.NewRequest(http.MethodGet, "/", nil)
	bearer.Header.Set("Authorization", "Bearer "+key)
	for _, next := range benchHandlers {
		b.Run(next.name, func(b *testing.B) { serveBench(b, m.Middleware()(next.h), bearer) })
	}
	return m, key
}

// refMiddleware is the least a net/http API-key middleware that passes the
// key on can do: SHA-256 of the header value from a stack buffer, a map
// lookup, a constant-time compare, and the record in the request context.
type refMiddleware struct {
	keys map[[32]byte]*refRecord
	next http.Handler
}

type refRecord struct {
	digest [32]byte
	id     string
}

type refContextKey struct{}

func (m *refMiddleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := r.Header["Authorization"]
	if len(v) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	key, ok := strings.CutPrefix(v[0], "Bearer ")
	if !ok || len(key) > 128 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var buf [128]byte
	n := copy(buf[:], key)
	d := sha256.Sum256(buf[:n])
	rec, found := m.keys[d]
	if !found || subtle.ConstantTimeCompare(rec.digest[:], d[:]) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	m.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), refContextKey{}, rec)))
}

func BenchmarkRefMiddleware(b *testing.B) {
	key := benchKey(b) // same length as the middleware's: same SHA-256 work
	d := sha256.Sum256([]byte(key))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	keys := make(map[[32]byte]*refRecord, benchKeys)
	for i := range benchKeys - 1 {
		var other [32]byte
		other[0], other[1], other[2] = byte(i), byte(i>>8), 0xff
		keys[other] = &refRecord{digest: other}
	}
	keys[d] = &refRecord{digest: d, id: "k1"}
	for _, next := range benchHandlers {
		ref := &refMiddleware{keys: keys, next: next.h}
		b.Run(next.name, func(b *testing.B) { serveBench(b, ref, r) })
	}
}

func benchKey(b *testing.B) string {
	m, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking())
	if err != nil {
		b.Fatal(err)
	}
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "ref"})
	if err != nil {
		b.Fatal(err)
	}
	return key
}
