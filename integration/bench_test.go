package integration

import (
	"testing"

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
