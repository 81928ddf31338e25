package integration

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey/store/storetest"
)

// countingConn counts the client's writes: one per round trip, since both
// drivers send a request in one write and then wait for the answer.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func countingDial(ctx context.Context, network, addr string, writes *atomic.Int64) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, writes}, nil
}

// TestByDigestOneRoundTrip checks that a cold lookup is one request to the
// server once its statement is prepared on the connection.
func TestByDigestOneRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		var writes atomic.Int64
		db := open(func(ctx context.Context, network, addr string) (net.Conn, error) {
			return countingDial(ctx, network, addr, &writes)
		})
		db.SetMaxOpenConns(1)
		s := migrated(t, db, b.dialect)
		rec := storetest.Record("round trip")
		require.NoError(t, s.Insert(context.Background(), rec))
		// The first lookup prepares the statement on the connection.
		_, err := s.ByDigest(context.Background(), rec.Digest)
		require.NoError(t, err)

		const n = 50
		before := writes.Load()
		for range n {
			_, err := s.ByDigest(context.Background(), rec.Digest)
			require.NoError(t, err)
		}
		require.Equal(t, int64(n), writes.Load()-before, "requests sent for %d lookups", n)
	})
}
