package integration

import (
	"context"
	"database/sql"
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

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlitestore"
	"github.com/keyward/apikey/store/sqlstore"
)

// The change feed (schema version 4) with sqlstore.Poller: a change made
// through any instance, or through the CLI, is refused by every other
// instance within 1 s, without Redis. Instances are Managers with pools of
// their own and a cache of an hour, so only an eviction can explain a
// refusal.

// propagationBound is the acceptance bound; the poll interval is 250 ms.
const propagationBound = time.Second

// feedDB is one database and how to open an instance on it.
type feedDB struct {
	name string
	// open returns a store on its own pool, dialing with dial if not nil.
	open func(t *testing.T, dial dialFunc) *sqlstore.Store
	// cliDSN is the --db of the CLI for this database.
	cliDSN string
}

func feedDatabases(t *testing.T) []feedDB {
	var dbs []feedDB
	for _, b := range backends {
		if os.Getenv(b.env) == "" {
			t.Logf("%s is not set: %s skipped", b.env, b.name)
			continue
		}
		open := b.fresh(t, b.dsn(t))
		first := migrated(t, open(nil), b.dialect)
		dbs = append(dbs, feedDB{name: b.name, cliDSN: cliDSN(t, b, first.DB()),
			open: func(t *testing.T, dial dialFunc) *sqlstore.Store { return newStore(t, open(dial), b.dialect) }})
	}
	path := filepath.Join(t.TempDir(), "keys.db")
	dbs = append(dbs, feedDB{name: "sqlite", cliDSN: path, open: func(t *testing.T, _ dialFunc) *sqlstore.Store {
		s, err := sqlitestore.Open(path)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		require.NoError(t, s.Migrate(context.Background()))
		return s.Store
	}})
	return dbs
}

// cliDSN is the DSN the CLI takes for the test's database behind db.
func cliDSN(t *testing.T, b backend, db *sql.DB) string {
	switch b.dialect {
	case sqlstore.Postgres:
		var schema string
		require.NoError(t, db.QueryRow("SELECT current_schema()").Scan(&schema))
		dsn := b.dsn(t)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	default:
		var name string
		require.NoError(t, db.QueryRow("SELECT DATABASE()").Scan(&name))
		cfg, err := mysql.ParseDSN(b.dsn(t))
		require.NoError(t, err)
		cfg.DBName = name
		return "mysql://" + cfg.FormatDSN()
	}
}

// newInstance is a Manager on s with a Poller of its own.
func newInstance(t *testing.T, s *sqlstore.Store, opts ...sqlstore.PollerOption) (*apikey.Manager, *sqlstore.Poller) {
	t.Helper()
	p, err := sqlstore.NewPoller(context.Background(), s, opts...)
	require.NoError(t, err)
	m, err := apikey.New(s, apikey.WithCache(time.Hour), apikey.WithInvalidator(p), apikey.WithoutUsageTracking())
	require.NoError(t, err)
	t.Cleanup(func() {
		m.Close()
		p.Close()
	})
	return m, p
}

// latencies collects propagation times for the log and BENCHMARKS.md.
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
	if len(l.d) == 0 {
		return "no samples"
	}
	d := slices.Clone(l.d)
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond) }
	return fmt.Sprintf("n=%d min=%v p50=%v p90=%v p99=%v max=%v", len(d), d[0].Round(time.Millisecond), q(0.5), q(0.9), q(0.99), d[len(d)-1].Round(time.Millisecond))
}

// refusedWithin polls m.Verify until it refuses secret, and returns how
// long that took from start; it fails t after the bound (and a margin, to
// report how late).
func refusedWithin(t *testing.T, m *apikey.Manager, secret string, start time.Time) time.Duration {
	t.Helper()
	deadline := start.Add(3 * propagationBound)
	for {
		_, err := m.Verify(context.Background(), secret, "read")
		if err != nil {
			require.NotErrorIs(t, err, apikey.ErrStoreUnavailable)
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still accepted %v after the change", time.Since(start))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// keyChange is a change that makes Verify(secret, "read") refuse.
type keyChange struct {
	name string
	do   func(ctx context.Context, m *apikey.Manager, id string) error
	cli  []string // the same through the CLI, with the ID appended; nil: not offered
}

var keyChanges = []keyChange{
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

var cliBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "apikey-cli-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "apikey")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/keyward/apikey/cmd/apikey").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the CLI: %v\n%s", err, out)
	}
	return bin, nil
})

func TestChangeFeedPropagation(t *testing.T) {
	for _, db := range feedDatabases(t) {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%d", db.name, n), func(t *testing.T) {
				ctx := context.Background()
				ms := make([]*apikey.Manager, n)
				for i := range ms {
					ms[i], _ = newInstance(t, db.open(t, nil))
				}
				var lat latencies
				for origin := range ms {
					for _, c := range keyChanges {
						k, secret, err := ms[origin].Create(ctx, apikey.CreateParams{Name: c.name, Scopes: []string{"read", "write"}})
						require.NoError(t, err)
						for _, m := range ms {
							_, err := m.Verify(ctx, secret, "read") // cached everywhere
							require.NoError(t, err)
						}
						start := time.Now()
						require.NoError(t, c.do(ctx, ms[origin], k.ID), c.name)
						for j, m := range ms {
							if j == origin {
								continue
							}
							d := refusedWithin(t, m, secret, start)
							assert.LessOrEqual(t, d, propagationBound, "%s through instance %d, seen by %d", c.name, origin, j)
							lat.add(d)
						}
					}
				}
				t.Logf("propagation, %s, %d instances, changes through each: %v", db.name, n, &lat)
			})
		}
		t.Run(db.name+"/cli", func(t *testing.T) {
			bin, err := cliBinary()
			require.NoError(t, err)
			ctx := context.Background()
			ms := make([]*apikey.Manager, 3)
			for i := range ms {
				ms[i], _ = newInstance(t, db.open(t, nil))
			}
			var lat latencies
			for _, c := range keyChanges {
				if c.cli == nil {
					continue
				}
				k, secret, err := ms[0].Create(ctx, apikey.CreateParams{Name: "cli-" + c.name, Scopes: []string{"read"}})
				require.NoError(t, err)
				for _, m := range ms {
					_, err := m.Verify(ctx, secret, "read")
					require.NoError(t, err)
				}
				cmd := exec.Command(bin, append(append([]string{"--db", db.cliDSN}, c.cli...), k.ID)...)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "apikey %s: %s", c.name, out)
				start := time.Now() // the CLI has exited: its change is committed
				for j, m := range ms {
					d := refusedWithin(t, m, secret, start)
					assert.LessOrEqual(t, d, propagationBound, "apikey %s, seen by instance %d", c.name, j)
					lat.add(d)
				}
			}
			t.Logf("propagation, %s, changes through the CLI, seen by 3 instances: %v", db.name, &lat)
		})
		t.Run(db.name+"/sql", func(t *testing.T) {
			// An operator's SQL, outside the library: a scope taken away,
			// a key disabled, a key deleted.
			ctx := context.Background()
			s := db.open(t, nil)
			ms := make([]*apikey.Manager, 3)
			for i := range ms {
				ms[i], _ = newInstance(t, db.open(t, nil))
			}
			var lat latencies
			for _, q := range []string{
				`UPDATE api_keys SET scopes = '["write"]' WHERE id = ?`,
				"UPDATE api_keys SET disabled = TRUE WHERE id = ?",
				"DELETE FROM api_keys WHERE id = ?",
			} {
				k, secret, err := ms[0].Create(ctx, apikey.CreateParams{Name: "sql", Scopes: []string{"read", "write"}})
				require.NoError(t, err)
				for _, m := range ms {
					_, err = m.Verify(ctx, secret, "read")
					require.NoError(t, err)
				}
				if s.Dialect() == sqlstore.Postgres {
					q = strings.Replace(q, "?", "$1", 1)
				}
				start := time.Now()
				_, err = s.DB().ExecContext(ctx, q, []byte(k.ID))
				require.NoError(t, err, q)
				for _, m := range ms {
					d := refusedWithin(t, m, secret, start)
					assert.LessOrEqual(t, d, propagationBound, q)
					lat.add(d)
				}
			}
			t.Logf("propagation, %s, an operator's UPDATE/DELETE, seen by 3 instances: %v", db.name, &lat)
		})
	}
}

// Usage counts and quota spending do not feed the change table: they would
// empty every cache on every flush.
func TestChangeFeedIgnoresUsage(t *testing.T) {
	for _, db := range feedDatabases(t) {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			s := db.open(t, nil)
			m, err := apikey.New(s, apikey.WithoutUsageTracking())
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			k, _, err := m.Create(ctx, apikey.CreateParams{Name: "usage", Quota: &apikey.Quota{Limit: 10}})
			require.NoError(t, err)
			before := changeRows(t, s)
			require.NoError(t, s.AddUsage(ctx, []apikey.Usage{{ID: k.ID, Count: 3, LastUsedAt: time.Now()}}))
			_, err = s.ConsumeQuota(ctx, k.ID, 1, k.Quota.PeriodStart)
			require.NoError(t, err)
			assert.Equal(t, before, changeRows(t, s))
			require.NoError(t, m.Revoke(ctx, k.ID))
			assert.Equal(t, before+1, changeRows(t, s))
		})
	}
}

func changeRows(t *testing.T, s *sqlstore.Store) int {
	var n int
	require.NoError(t, s.DB().QueryRow("SELECT COUNT(*) FROM key_changes").Scan(&n))
	return n
}

// cutProxy forwards loopback TCP connections to a database server until
// cut: then it closes every connection and refuses new ones, until
// restored.
type cutProxy struct {
	ln net.Listener

	mu     sync.Mutex
	target string
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T) *cutProxy {
	t.Helper()
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

// setCut cuts (closing every connection) or restores the proxy.
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

// healthLog records an invalidator's health reports.
type healthLog struct{ healthy, unhealthy atomic.Int32 }

func watchHealth(t *testing.T, inv apikey.InvalidatorHealth) *healthLog {
	h := &healthLog{}
	stop := inv.WatchHealth(func(ok bool) {
		if ok {
			h.healthy.Add(1)
		} else {
			h.unhealthy.Add(1)
		}
	})
	t.Cleanup(stop)
	return h
}

// eventually polls cond until it holds, failing t after 10 s.
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

// TestChangeFeedConnectionLoss cuts the poller's connection: the instance
// verifies against the store meanwhile (no 30 s window), and misses no
// change made during the cut once it is back.
func TestChangeFeedConnectionLoss(t *testing.T) {
	for _, db := range feedDatabases(t) {
		if db.name == "sqlite" {
			continue // no connection to cut
		}
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			proxy := newCutProxy(t)
			// The instance under test: its store direct, its poller through the proxy.
			p, err := sqlstore.NewPoller(ctx, db.open(t, proxy.dial), sqlstore.WithPollTimeout(500*time.Millisecond))
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			m, err := apikey.New(db.open(t, nil), apikey.WithCache(time.Hour), apikey.WithoutUsageTracking(),
				apikey.WithInvalidator(p))
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			other, _ := newInstance(t, db.open(t, nil))

			secrets := map[string]string{}
			for _, name := range []string{"during", "after", "kept"} {
				k, secret, err := other.Create(ctx, apikey.CreateParams{Name: name, Scopes: []string{"read"}})
				require.NoError(t, err)
				_, err = m.Verify(ctx, secret, "read")
				require.NoError(t, err)
				secrets[name], secrets[name+"/id"] = secret, k.ID
			}
			h := watchHealth(t, p)

			proxy.setCut(true)
			eventually(t, "the poller reports the cut", func() bool { return h.unhealthy.Load() > 0 })
			require.Positive(t, p.Outages())
			// Revoked while the feed is down: refused at once all the same.
			require.NoError(t, other.Revoke(ctx, secrets["during/id"]))
			_, err = m.Verify(ctx, secrets["during"], "read")
			require.ErrorIs(t, err, apikey.ErrRevoked, "a cut feed must not leave a cached key valid")
			_, err = m.Verify(ctx, secrets["kept"], "read")
			require.NoError(t, err, "unchanged keys still verify, from the store")

			proxy.setCut(false)
			eventually(t, "the poller recovers", func() bool { return h.healthy.Load() > 0 })
			_, err = m.Verify(ctx, secrets["during"], "read")
			require.ErrorIs(t, err, apikey.ErrRevoked, "no change missed after reconnection")
			start := time.Now()
			require.NoError(t, other.Revoke(ctx, secrets["after/id"]))
			d := refusedWithin(t, m, secrets["after"], start)
			assert.LessOrEqual(t, d, propagationBound)
			t.Logf("%s: after reconnection, a revoke seen in %v", db.name, d.Round(time.Millisecond))
		})
	}
}

// A transaction that takes its change number before another but commits
// after it: the poller, which already read past the number, must still
// see it when it commits.
func TestChangeFeedLateCommit(t *testing.T) {
	for _, db := range feedDatabases(t) {
		if db.name == "sqlite" {
			continue // one writer at a time: numbers commit in order
		}
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			s := db.open(t, nil)
			m, _ := newInstance(t, db.open(t, nil))
			other, _ := newInstance(t, db.open(t, nil))
			var ids, secrets [2]string
			for i := range ids {
				k, secret, err := other.Create(ctx, apikey.CreateParams{Name: "late", Scopes: []string{"read"}})
				require.NoError(t, err)
				_, err = m.Verify(ctx, secret, "read")
				require.NoError(t, err)
				ids[i], secrets[i] = k.ID, secret
			}
			q := "UPDATE api_keys SET disabled = TRUE WHERE id = ?"
			if s.Dialect() == sqlstore.Postgres {
				q = strings.Replace(q, "?", "$1", 1)
			}
			tx, err := s.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, q, []byte(ids[0])) // takes its number, holds it
			require.NoError(t, err)
			require.NoError(t, other.Revoke(ctx, ids[1])) // a later number, committed first
			refusedWithin(t, m, secrets[1], time.Now())
			_, err = m.Verify(ctx, secrets[0], "read")
			require.NoError(t, err, "not committed yet")
			// An instance that starts now, past both numbers.
			started, _ := newInstance(t, db.open(t, nil))
			_, err = started.Verify(ctx, secrets[0], "read")
			require.NoError(t, err)
			start := time.Now()
			require.NoError(t, tx.Commit())
			for _, m := range []*apikey.Manager{m, started} {
				d := refusedWithin(t, m, secrets[0], start)
				assert.LessOrEqual(t, d, propagationBound, "the late commit is seen")
			}
		})
	}
}
