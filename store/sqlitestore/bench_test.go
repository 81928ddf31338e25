package sqlitestore_test

import (
	"fmt"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/storetest"
)

// BenchmarkByDigest is the cold verify lookup: one indexed SELECT on a file
// of 10,000 keys. Target: ≤ 30 µs median.
func BenchmarkByDigest(b *testing.B) {
	storetest.BenchByDigest(b, open(b), 10_000)
}

// BenchmarkVerify compares Manager.Verify over SQLite with memstore in the
// same run: warm (cached) target ≤ 1.2× memstore; cold (WithCache(0))
// target ≤ 30 µs median.
func BenchmarkVerify(b *testing.B) {
	cold := apikey.WithCache(0)
	b.Run("warm/memstore", func(b *testing.B) { storetest.BenchVerify(b, memstore.New(), 1000) })
	b.Run("warm/sqlite", func(b *testing.B) { storetest.BenchVerify(b, open(b), 1000) })
	b.Run("cold/memstore", func(b *testing.B) { storetest.BenchVerify(b, memstore.New(), 1000, cold) })
	b.Run("cold/sqlite", func(b *testing.B) { storetest.BenchVerify(b, open(b), 1000, cold) })
}

// BenchmarkConsumeQuota is a metered request's store write: a key never
// rotated (one UPDATE), and keys rotated once and three times (the chain is
// followed to its newest key), with memstore in the same run.
func BenchmarkConsumeQuota(b *testing.B) {
	for _, n := range []int{0, 1, 3} {
		b.Run(fmt.Sprintf("memstore/rotated=%d", n), func(b *testing.B) { storetest.BenchConsumeQuota(b, memstore.New(), n) })
		b.Run(fmt.Sprintf("sqlite/rotated=%d", n), func(b *testing.B) { storetest.BenchConsumeQuota(b, open(b), n) })
	}
}
