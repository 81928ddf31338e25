package echo_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// BenchmarkAddedCost measures, in one binary and one run, what each
// authentication middleware adds to the same handler (see BENCHMARKS.md,
// "Middleware"): ours and the minimal reference in front of a net/http
// handler, echo v4's KeyAuth (with a validator doing the reference's
// lookup work) and ours through echo.WrapMiddleware in front of an echo
// handler. Each middleware's added cost is its figure minus the bare
// handler of its kind. cpu-ns/op is the thread's CPU time per request:
// on a loaded machine, waiting for a core inflates ns/op only.
func BenchmarkAddedCost(b *testing.B) {
	r, handlers := addedCostSetup(b)
	for _, handler := range handlers {
		for _, bc := range handler.variants {
			b.Run(handler.name+"/"+bc.name, func(b *testing.B) { serveBench(b, bc.h, r) })
		}
	}
}

// BenchmarkAddedCostInterleaved serves the same variants in turns of
// blockSize requests each, many turns, adding up each variant's thread CPU
// time: a change in the machine's load hits all variants alike, where
// BenchmarkAddedCost measures them seconds apart. It reports each
// variant's cpu-ns per request, what each middleware adds over its bare
// handler (add-…), and the ratios the targets are about (ratio-…). ns/op
// is per turn of all variants and means nothing.
func BenchmarkAddedCostInterleaved(b *testing.B) {
	const blockSize = 200
	r, handlers := addedCostSetup(b)
	for _, handler := range handlers {
		b.Run(handler.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu := make([]int64, len(handler.variants))
			for b.Loop() {
				for i, v := range handler.variants {
					start := threadCPU()
					for range blockSize {
						w := httptest.NewRecorder()
						v.h.ServeHTTP(w, r)
						if w.Code != http.StatusOK {
							b.Fatalf("%s: status %d", v.name, w.Code)
						}
					}
					cpu[i] += threadCPU() - start
				}
			}
			per := make(map[string]float64, len(cpu))
			for i, v := range handler.variants {
				per[v.name] = float64(cpu[i]) / float64(b.N*blockSize)
			}
			added := func(mw, bare string) float64 { return per[mw] - per[bare] }
			ours, ref, keyAuth := added("nethttp/apikey", "nethttp/bare"), added("nethttp/ref", "nethttp/bare"), added("echo/keyauth", "echo/bare")
			b.ReportMetric(ours, "add-apikey-cpu-ns")
			b.ReportMetric(ref, "add-ref-cpu-ns")
			b.ReportMetric(keyAuth, "add-keyauth-cpu-ns")
			b.ReportMetric(added("echo/apikey", "echo/bare"), "add-apikey-in-echo-cpu-ns")
			b.ReportMetric(ours/ref, "ratio-apikey/ref")
			b.ReportMetric(ours/keyAuth, "ratio-apikey/keyauth")
		})
	}
}

type variant struct {
	name string
	h    http.Handler
}

// addedCostSetup returns the request (a valid Bearer key) and, per next
// handler, the variants measured: each bare handler, and each middleware
// in front of it.
func addedCostSetup(b *testing.B) (*http.Request, []struct {
	name     string
	variants []variant
}) {
	const keys = 10_000
	ctx := context.Background()
	m, err := apikey.New(memstore.New())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	_, key, err := m.Create(ctx, apikey.CreateParams{Name: "bench", Scopes: []string{"webhooks:read"}})
	if err != nil {
		b.Fatal(err)
	}
	for range keys - 1 {
		if _, _, err := m.Create(ctx, apikey.CreateParams{Name: "other"}); err != nil {
			b.Fatal(err)
		}
	}
	// The reference's and the validator's index: the same key, the same
	// number of entries.
	index := make(map[[32]byte]*refRecord, keys)
	for i := range keys - 1 {
		var d [32]byte
		d[0], d[1], d[2] = byte(i), byte(i>>8), 0xff
		index[d] = &refRecord{digest: d}
	}
	d := sha256.Sum256([]byte(key))
	index[d] = &refRecord{digest: d, id: "k1"}
	lookup := func(key string) *refRecord {
		if len(key) > 128 {
			return nil
		}
		var buf [128]byte
		n := copy(buf[:], key)
		d := sha256.Sum256(buf[:n])
		rec, ok := index[d]
		if !ok || subtle.ConstantTimeCompare(rec.digest[:], d[:]) != 1 {
			return nil
		}
		return rec
	}

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	jsonType := []string{"application/json"}
	var out []struct {
		name     string
		variants []variant
	}
	for _, handler := range []struct {
		name string
		std  http.Handler
		echo echo.HandlerFunc
	}{
		{"empty-handler",
			http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
			func(echo.Context) error { return nil }},
		{"json-handler",
			http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header()["Content-Type"] = jsonType }),
			func(c echo.Context) error { c.Response().Header()["Content-Type"] = jsonType; return nil }},
	} {
		router := func(mw ...echo.MiddlewareFunc) http.Handler {
			e := echo.New()
			e.GET("/", handler.echo, mw...)
			return e
		}
		keyAuth := middleware.KeyAuthWithConfig(middleware.KeyAuthConfig{
			// The defaults: "header:Authorization", scheme Bearer.
			Validator: func(key string, _ echo.Context) (bool, error) { return lookup(key) != nil, nil },
		})
		out = append(out, struct {
			name     string
			variants []variant
		}{handler.name, []variant{
			{"nethttp/bare", handler.std},
			{"nethttp/apikey", m.Middleware()(handler.std)},
			{"nethttp/ref", &refMiddleware{lookup: lookup, next: handler.std}},
			{"echo/bare", router()},
			{"echo/keyauth", router(keyAuth)},
			{"echo/apikey", router(echo.WrapMiddleware(m.Middleware()))},
		}})
	}
	return r, out
}

// refMiddleware is the least a net/http API-key middleware that passes the
// key on can do (the root module's RefMiddleware): the lookup, then the
// record in the request context.
type refMiddleware struct {
	lookup func(key string) *refRecord
	next   http.Handler
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
	rec := m.lookup(key)
	if !ok || rec == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	m.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), refContextKey{}, rec)))
}

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
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
}

// threadCPU is the calling thread's CPU time in nanoseconds.
func threadCPU() int64 {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}
