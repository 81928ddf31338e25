package integration

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
)

// Issue 10, item 1, on the real servers: a key with a daily quota of 10
// that rotates itself three times with a 30-day grace gets 10 requests a
// day across its four keys, not 40 (one at a time and concurrently).
func TestQuotaRotationChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		ctx := context.Background()
		var offset atomic.Int64 // the Manager's clock runs ahead by this
		clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		m, err := apikey.New(migrated(t, open(nil), b.dialect), apikey.WithClock(clock))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })

		k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "metered", Quota: &apikey.Quota{Limit: 10, Refill: apikey.RefillDaily}})
		require.NoError(t, err)
		secrets := []string{secret}
		for range 3 {
			next, s, err := m.Rotate(ctx, k.ID, 30*24*time.Hour)
			require.NoError(t, err)
			k, secrets = next, append(secrets, s)
		}
		nextDay := func() {
			now := clock().UTC()
			midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
			offset.Add(int64(midnight.Sub(now) + time.Minute))
		}

		nextDay()
		passed := 0
		for range 10 {
			for _, s := range secrets {
				if _, err := m.Verify(ctx, s); err == nil {
					passed++
				} else {
					require.ErrorIs(t, err, apikey.ErrQuotaExceeded)
				}
			}
		}
		assert.Equal(t, 10, passed, "one at a time")

		nextDay()
		var concurrent atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 10 {
					_, err := m.Verify(ctx, secrets[(i+j)%len(secrets)])
					if err == nil {
						concurrent.Add(1)
					} else if !errors.Is(err, apikey.ErrQuotaExceeded) {
						t.Errorf("Verify: %v", err)
					}
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(10), concurrent.Load(), "80 concurrent requests")
	})
}

// Issue 10, item 3, on the real servers: with the database stalled behind
// a loopback proxy, a metered key whose record is cached answers
// ErrStoreUnavailable once WithStoreTimeout has passed, though the caller's
// context has no deadline (it hung until the stall ended before).
func TestQuotaStoreTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		ctx := context.Background()
		p := newStallingProxy(t)
		m, err := apikey.New(migrated(t, open(p.dial), b.dialect),
			apikey.WithStoreTimeout(500*time.Millisecond), apikey.WithCache(time.Hour))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		_, secret, err := m.Create(ctx, apikey.CreateParams{Name: "metered", Quota: &apikey.Quota{Limit: 100}})
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret) // caches the record: only the quota needs the database
		require.NoError(t, err)

		p.stall()
		done := make(chan error, 1)
		go func() {
			_, err := m.Verify(ctx, secret)
			done <- err
		}()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
		case <-time.After(20 * time.Second): // 40 times the store timeout: hung
			p.resume()
			t.Fatalf("Verify of a metered key still waits for a stalled database; want ErrStoreUnavailable after the store timeout")
		}
		p.resume()
	})
}

// stallingProxy forwards loopback TCP connections to a database server;
// while stalled it holds every byte in both directions: a database that
// takes statements and never answers.
type stallingProxy struct {
	ln net.Listener

	mu      sync.Mutex
	target  string        // the server, from the first dial
	stalled chan struct{} // closed when a stall ends; nil when not stalled
	conns   []net.Conn
}

func newStallingProxy(t *testing.T) *stallingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallingProxy{ln: ln}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.resume()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

// dial is a driver's dial function: it connects to addr through the proxy.
func (p *stallingProxy) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	p.mu.Lock()
	if p.target == "" {
		p.target = addr
	}
	p.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", p.ln.Addr().String())
}

func (p *stallingProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		server, err := net.Dial("tcp", target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *stallingProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			held := p.stalled
			p.mu.Unlock()
			if held != nil {
				<-held
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallingProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

func (p *stallingProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}
