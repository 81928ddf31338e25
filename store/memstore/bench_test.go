package memstore_test

import (
	"testing"

	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/storetest"
)

// BenchmarkByDigest is the baseline for the persistent stores' benchmarks.
func BenchmarkByDigest(b *testing.B) {
	storetest.BenchByDigest(b, memstore.New(), 10_000)
}
