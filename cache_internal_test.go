package apikey

import (
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cachedKeys(c *verifyCache) int {
	n := 0
	for i := range c.shards {
		n += c.shards[i].Len()
	}
	return n
}

// TestCacheSweepAndEvict: the sweep drops entries idle for two staleness
// bounds and keeps the others; evictID drops one at once, and a fill that
// started before it is not published.
func TestCacheSweepAndEvict(t *testing.T) {
	t.Parallel()
	c := newVerifyCache(10, 0, 0)
	digest := func(i int) Digest { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	rec := func(i int) *Record { return &Record{Key: Key{ID: "id" + strconv.Itoa(i)}, Digest: digest(i)} }
	for i := range 1000 {
		require.NotNil(t, c.put(digest(i), rec(i), c.gen.Load()))
	}
	assert.Equal(t, 1000, cachedKeys(c))
	e, fresh := c.get(digest(7))
	require.True(t, fresh)
	assert.Equal(t, "id7", e.rec.Load().ID)

	c.epoch.Store(15) // half of them refreshed since
	for i := range 500 {
		c.put(digest(i), rec(i), c.gen.Load())
	}
	c.epoch.Store(20)
	c.sweep()
	assert.Equal(t, 500, cachedKeys(c), "the idle half is dropped")
	c.idMu.Lock()
	assert.Len(t, c.byID, 500)
	c.idMu.Unlock()

	gen := c.gen.Load()
	c.evictID("id3")
	_, fresh = c.get(digest(3))
	assert.False(t, fresh, "evicted")
	c.put(digest(3), rec(3), gen)
	_, fresh = c.get(digest(3))
	assert.False(t, fresh, "a fill older than the eviction is not published")
	c.put(digest(3), rec(3), c.gen.Load())
	_, fresh = c.get(digest(3))
	assert.True(t, fresh)
}
