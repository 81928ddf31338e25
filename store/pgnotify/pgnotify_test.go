package pgnotify_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/pgnotify"
	"github.com/keyward/apikey/store/sqlstore"
)

// propagationBound is the acceptance bound: a change made anywhere is
// refused by every instance within it.
const propagationBound = time.Second

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// cluster is one PostgreSQL schema of its own, migrated.
type cluster struct {
	dsn string // with the schema as search_path, for the CLI
	cfg *pgx.ConnConfig
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dsn := os.Getenv("APIKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("APIKEY_TEST_POSTGRES is not set; set it to a DSN such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to test the LISTEN invalidator")
	}
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	schema := "apikey_test_" + strings.ToLower(rand.Text())
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		require.NoError(t, err)
	})
	cfg.RuntimeParams["search_path"] = schema
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	c := &cluster{dsn: dsn + sep + "search_path=" + schema, cfg: cfg}
	require.NoError(t, c.store(t).Migrate(context.Background()))
	return c
}

// store is a Store on a pool of its own.
func (c *cluster) store(t *testing.T) *sqlstore.Store {
	db := stdlib.OpenDB(*c.cfg)
	t.Cleanup(func() { db.Close() })
	s, err := sqlstore.New(db, sqlstore.Postgres)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// invalidator listens, dialing with dial if not nil.
func (c *cluster) invalidator(t *testing.T, dial dialFunc) *pgnotify.Invalidator {
	cfg := c.cfg.Copy()
	if dial != nil {
		cfg.DialFunc = dial
	}
	inv, err := pgnotify.New(context.Background(), cfg, pgnotify.WithHeartbeat(200*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { inv.Close() })
	return inv
}

// instance is a Manager with a pool and a listener of its own, and a
// cache of an hour: only an eviction explains a refusal.
func (c *cluster) instance(t *testing.T, inv *pgnotify.Invalidator) *apikey.Manager {
	if inv == nil {
		inv = c.invalidator(t, nil)
	}
	m, err := apikey.New(c.store(t), apikey.WithCache(time.Hour), apikey.WithInvalidator(inv), apikey.WithoutUsageTracking())
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
}

func (l *latencies) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := slices.Clone(l.d)
	slices.Sort(d)
	if len(d) == 0 {
		return "no samples"
	}
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("n=%d min=%v p50=%v p90=%v p99=%v max=%v", len(d), r(d[0]), r(q(0.5)), r(q(0.9)), r(q(0.99)), r(d[len(d)-1]))
}

// refusedAfter polls m.Verify until it refuses secret and returns how long
// after start; it fails t three bounds after start.
func refusedAfter(t *testing.T, m *apikey.Manager, secret string, start time.Time) time.Duration {
	t.Helper()
	for {
		_, err := m.Verify(context.Background(), secret, "read")
		if err != nil {
			require.NotErrorIs(t, err, apikey.ErrStoreUnavailable)
			return time.Since(start)
		}
		if time.Since(start) > 3*propagationBound {
			t.Fatalf("still accepted %v after the change", time.Since(start))
		}
		time.Sleep(200 * time.Microsecond)
	}
}

var changes = []struct {
	name string
	do   func(ctx context.Context, m *apikey.Manager, id string) error
	cli  []string
}{
	{"revoke", func(ctx context.Context, m *apikey.Manager, id string) error { return m.Revoke(ctx, id) }, []string{"revoke"}},
	{"disable", func(ctx context.Context, m *apikey.Manager, id string) error {
		_, err := m.Disable(ctx, id)
		return err
	}, []string{"disable"}},
	{"rotate", func(ctx context.Context, m *apikey.Manager, id string) error {
		_, _, err := m.Rotate(ctx, id, 0)
		return err
	}, []string{"rotate", "--grace", "0s"}},
}

func TestPropagation(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			c := newCluster(t)
			ms := make([]*apikey.Manager, n)
			for i := range ms {
				ms[i] = c.instance(t, nil)
			}
			var lat latencies
			for origin := range ms {
				for _, ch := range changes {
					k, secret, err := ms[origin].Create(ctx, apikey.CreateParams{Name: ch.name, Scopes: []string{"read"}})
					require.NoError(t, err)
					for _, m := range ms {
						_, err := m.Verify(ctx, secret, "read")
						require.NoError(t, err)
					}
					start := time.Now()
					require.NoError(t, ch.do(ctx, ms[origin], k.ID))
					for j, m := range ms {
						if j != origin {
							d := refusedAfter(t, m, secret, start)
							assert.LessOrEqual(t, d, propagationBound, "%s through %d, seen by %d", ch.name, origin, j)
							lat.add(d)
						}
					}
				}
			}
			t.Logf("propagation (LISTEN/NOTIFY), %d instances, changes through each: %v", n, &lat)
		})
	}
}

func TestPropagationFromCLIAndSQL(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	bin := filepath.Join(t.TempDir(), "apikey")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/keyward/apikey/cmd/apikey").CombinedOutput()
	require.NoError(t, err, "building the CLI: %s", out)
	ms := []*apikey.Manager{c.instance(t, nil), c.instance(t, nil), c.instance(t, nil)}
	s := c.store(t)
	var cli, operator latencies
	for _, ch := range changes {
		k, secret, err := ms[0].Create(ctx, apikey.CreateParams{Name: "cli", Scopes: []string{"read"}})
		require.NoError(t, err)
		for _, m := range ms {
			_, err := m.Verify(ctx, secret, "read")
			require.NoError(t, err)
		}
		out, err := exec.Command(bin, append(append([]string{"--db", c.dsn}, ch.cli...), k.ID)...).CombinedOutput()
		require.NoError(t, err, "apikey %s: %s", ch.name, out)
		start := time.Now() // the CLI has exited: its change is committed
		for _, m := range ms {
			d := refusedAfter(t, m, secret, start)
			assert.LessOrEqual(t, d, propagationBound)
			cli.add(d)
		}
	}
	for _, q := range []string{
		`UPDATE api_keys SET scopes = '["write"]' WHERE id = $1`,
		"UPDATE api_keys SET disabled = TRUE WHERE id = $1",
		"DELETE FROM api_keys WHERE id = $1",
	} {
		k, secret, err := ms[0].Create(ctx, apikey.CreateParams{Name: "sql", Scopes: []string{"read"}})
		require.NoError(t, err)
		for _, m := range ms {
			_, err := m.Verify(ctx, secret, "read")
			require.NoError(t, err)
		}
		start := time.Now()
		_, err = s.DB().ExecContext(ctx, q, []byte(k.ID))
		require.NoError(t, err)
		for _, m := range ms {
			d := refusedAfter(t, m, secret, start)
			assert.LessOrEqual(t, d, propagationBound, q)
			operator.add(d)
		}
	}
	t.Logf("propagation (LISTEN/NOTIFY), changes through the CLI, seen by 3 instances: %v", &cli)
	t.Logf("propagation (LISTEN/NOTIFY), an operator's UPDATE/DELETE, seen by 3 instances: %v", &operator)
}

// cutProxy forwards loopback TCP connections to the server until cut:
// then it closes every connection and refuses new ones, until restored.
type cutProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
	})
	return p
}

func (p *cutProxy) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	p.mu.Lock()
	if p.target == "" {
		p.target = addr
	}
	p.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", p.ln.Addr().String())
}

func (p *cutProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target, cut := p.target, p.cut
		p.mu.Unlock()
		if cut {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go pipe(server, client)
		go pipe(client, server)
	}
}

func pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A cut LISTEN connection: the instance verifies against the store
// meanwhile (no 30 s window), says so, and misses nothing once back.
func TestConnectionLoss(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	proxy := newCutProxy(t)
	inv := c.invalidator(t, proxy.dial)
	var healthy, unhealthy atomic.Int32
	t.Cleanup(inv.WatchHealth(func(ok bool) {
		if ok {
			healthy.Add(1)
		} else {
			unhealthy.Add(1)
		}
	}))
	m := c.instance(t, inv)
	other := c.instance(t, nil)
	ids, secrets := map[string]string{}, map[string]string{}
	for _, name := range []string{"during", "after", "kept"} {
		k, secret, err := other.Create(ctx, apikey.CreateParams{Name: name, Scopes: []string{"read"}})
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret, "read")
		require.NoError(t, err)
		ids[name], secrets[name] = k.ID, secret
	}

	proxy.setCut(true)
	eventually(t, "the invalidator reports the cut", func() bool { return unhealthy.Load() > 0 })
	assert.Equal(t, uint64(1), inv.Outages())
	require.NoError(t, other.Revoke(ctx, ids["during"]))
	_, err := m.Verify(ctx, secrets["during"], "read")
	require.ErrorIs(t, err, apikey.ErrRevoked, "a cut feed must not leave a cached key valid")
	_, err = m.Verify(ctx, secrets["kept"], "read")
	require.NoError(t, err, "unchanged keys still verify, from the store")

	proxy.setCut(false)
	eventually(t, "the invalidator listens again", func() bool { return healthy.Load() > 0 })
	_, err = m.Verify(ctx, secrets["during"], "read")
	require.ErrorIs(t, err, apikey.ErrRevoked, "no change missed after reconnection")
	start := time.Now()
	require.NoError(t, other.Revoke(ctx, ids["after"]))
	d := refusedAfter(t, m, secrets["after"], start)
	assert.LessOrEqual(t, d, propagationBound)
	t.Logf("after reconnection, a revoke seen in %v", d.Round(100*time.Microsecond))
}

// A connection that goes silent without a reset (a stalled network) is
// noticed by the heartbeat.
func TestSilentConnectionNoticed(t *testing.T) {
	c := newCluster(t)
	var stalled atomic.Bool
	inv := c.invalidator(t, func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: conn, stalled: &stalled}, nil
	})
	var unhealthy atomic.Int32
	t.Cleanup(inv.WatchHealth(func(ok bool) {
		if !ok {
			unhealthy.Add(1)
		}
	}))
	stalled.Store(true)
	eventually(t, "the heartbeat notices a silent connection", func() bool { return unhealthy.Load() > 0 })
}

// stallConn blocks reads while stalled, until its deadline.
type stallConn struct {
	net.Conn
	stalled *atomic.Bool
}

func (c *stallConn) Read(b []byte) (int, error) {
	if c.stalled.Load() {
		// Swallow the bytes the server sends: nothing reaches the client.
		n, err := c.Conn.Read(b)
		if err != nil {
			return n, err
		}
		return c.Read(b)
	}
	return c.Conn.Read(b)
}

// An idle connection is pinged, not reported lost: heartbeats that find it
// alive change nothing.
func TestIdleConnectionStaysHealthy(t *testing.T) {
	c := newCluster(t)
	inv := c.invalidator(t, nil) // heartbeat 200 ms
	var reports atomic.Int32
	t.Cleanup(inv.WatchHealth(func(bool) { reports.Add(1) }))
	time.Sleep(time.Second) // five heartbeats of real time on a real connection
	assert.Zero(t, reports.Load())
	assert.Zero(t, inv.Outages())
}
