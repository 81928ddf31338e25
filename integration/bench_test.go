package integration

import (
	"fmt"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/storetest"
)

// BenchmarkByDigest is the cold verify lookup on each server: one prepared,
// indexed SELECT, one round trip, over 2,000 keys.
func BenchmarkByDigest(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			storetest.BenchByDigest(b, migrated(b, be.fresh(b, be.dsn(b))(nil), be.dialect), 2_000)
		})
	}
}

// BenchmarkVerify compares Manager.Verify over each server with memstore in
// the same run: warm (cached) target ≤ 1.2× memstore; cold (WithCache(0))
// one round trip.
func BenchmarkVerify(b *testing.B) {
	cold := apikey.WithCache(0)
	b.Run("warm/memstore", func(b *testing.B) { storetest.BenchVerify(b, memstore.New(), 500) })
	for _, be := range backends {
		b.Run("warm/"+be.name, func(b *testing.B) {
			storetest.BenchVerify(b, migrated(b, be.fresh(b, be.dsn(b))(nil), be.dialect), 500)
		})
	}
	b.Run("cold/memstore", func(b *testing.B) { storetest.BenchVerify(b, memstore.New(), 500, cold) })
	for _, be := range backends {
		b.Run("cold/"+be.name, func(b *testing.B) {
			storetest.BenchVerify(b, migrated(b, be.fresh(b, be.dsn(b))(nil), be.dialect), 500, cold)
		})
	}
}

// BenchmarkConsumeQuota is a metered request's store write on each server:
// a key never rotated (one UPDATE), and one rotated once (the chain is
// followed to its newest key).
func BenchmarkConsumeQuota(b *testing.B) {
	for _, be := range backends {
		for _, n := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/rotated=%d", be.name, n), func(b *testing.B) {
				storetest.BenchConsumeQuota(b, migrated(b, be.fresh(b, be.dsn(b))(nil), be.dialect), n)
			})
		}
	}
}
