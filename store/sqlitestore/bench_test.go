package sqlitestore_test

import (
	"testing"

	"github.com/keyward/apikey/store/storetest"
)

// BenchmarkByDigest is the cold verify lookup: one indexed SELECT on a file
// of 10,000 keys. Target: ≤ 30 µs median.
func BenchmarkByDigest(b *testing.B) {
	storetest.BenchByDigest(b, open(b), 10_000)
}
