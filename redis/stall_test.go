package redis_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
	"github.com/keyward/apikey/store/memstore"
)

// stallProxy forwards loopback TCP connections to Redis until stall is
// called; from then on it forwards nothing, in either direction, and
// keeps every connection open: a Redis that hangs.
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t *testing.T) *stallProxy {
	t.Helper()
	opt, err := goredis.ParseURL(redisURL(t))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", opt.Addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Go(func() { p.pipe(up, c) })
			wg.Go(func() { p.pipe(c, up) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

// pipe copies src to dst while the proxy is not stalled, then drops what
// arrives until src is closed.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) stall() { p.stalled.Store(true) }

// client is a go-redis client through the proxy as many are built: without
// ContextTimeoutEnabled, so it ignores a context's deadline on the socket,
// and with a read timeout long enough that only the library's own timeout
// can end a stalled call within the test.
func (p *stallProxy) client(t *testing.T) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(redisURL(t))
	require.NoError(t, err)
	opt.Addr = p.ln.Addr().String()
	opt.ReadTimeout, opt.WriteTimeout = 30*time.Second, 30*time.Second
	opt.ContextTimeoutEnabled = false
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// retry calls f until it succeeds, 50 times at most.
func retry(f func() error) (err error) {
	for range 50 {
		if err = f(); err == nil {
			return nil
		}
	}
	return err
}

// returns runs f and fails the test if it has not returned within a bound
// far above the timeouts under test: a guard against a hang, not a timing
// assertion.
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return while Redis stalled", what)
	}
}

// TestRedisStall: with Redis hanging (a proxy that stops forwarding), the
// limiter's decisions and refunds and the invalidator's publish return an
// error within their own timeouts whatever the client's settings, and the
// Manager refuses the request with ErrStoreUnavailable (503, fail closed).
func TestRedisStall(t *testing.T) {
	t.Parallel()
	p := newStallProxy(t)
	c := p.client(t)
	prefix := unique("stall")
	direct := newClient(t) // cleans up past the stall
	t.Cleanup(func() { deletePrefix(t, direct, prefix) })
	lim, err := redis.NewLimiter(c, redis.WithNamespace(prefix), redis.WithTimeout(200*time.Millisecond))
	require.NoError(t, err)
	inv, err := redis.NewInvalidator(c, redis.WithChannel(prefix+"inv"), redis.WithPublishTimeout(200*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { inv.Close() })
	m := newManager(t, memstore.New(), apikey.WithLimiter(lim), apikey.WithKeyLimit(apikey.PerSecond(1000)), apikey.WithoutUsageTracking())
	_, secret, err := m.Create(t.Context(), apikey.CreateParams{Name: "k"})
	require.NoError(t, err)
	// Through the proxy before the stall. The first calls dial and load the
	// script, which a loaded machine may not do within 200 ms: retry.
	require.NoError(t, retry(func() error { _, err := m.Verify(t.Context(), secret); return err }), "through the proxy before the stall")
	require.NoError(t, retry(func() error { return inv.Publish(t.Context(), "k_before") }))

	p.stall()
	reqs := []apikey.LimitRequest{req("key", "k", apikey.PerSecond(10), 1)}
	returns(t, "Allow", func() {
		_, err := lim.Allow(context.Background(), base, reqs)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	returns(t, "Refund", func() {
		assert.ErrorIs(t, lim.Refund(context.Background(), base, reqs), context.DeadlineExceeded)
	})
	returns(t, "Publish", func() {
		assert.ErrorIs(t, inv.Publish(context.Background(), "k_1"), context.DeadlineExceeded)
	})
	returns(t, "Verify", func() {
		_, err := m.Verify(context.Background(), secret)
		assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	})
	returns(t, "the middleware", func() {
		h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	})
	// A caller's own deadline is honoured too, without WithTimeout.
	bare, err := redis.NewLimiter(c, redis.WithNamespace(prefix))
	require.NoError(t, err)
	returns(t, "Allow under the caller's deadline", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := bare.Allow(ctx, base, reqs)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	})
}

// TestDefaultTimeout: without WithTimeout, a stalled decision still ends,
// at DefaultTimeout, under a context without a deadline.
func TestDefaultTimeout(t *testing.T) {
	t.Parallel()
	p := newStallProxy(t)
	c := p.client(t)
	prefix := unique("stall_default")
	direct := newClient(t)
	t.Cleanup(func() { deletePrefix(t, direct, prefix) })
	lim, err := redis.NewLimiter(c, redis.WithNamespace(prefix))
	require.NoError(t, err)
	reqs := []apikey.LimitRequest{req("key", "k", apikey.PerSecond(10), 1)}
	require.NoError(t, retry(func() error { _, err := lim.Allow(context.Background(), base, reqs); return err }))
	p.stall()
	returns(t, "Allow", func() {
		_, err := lim.Allow(context.Background(), base, reqs)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}
