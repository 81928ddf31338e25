package readmap

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/keyward/apikey/internal/cowmap"
)

// TestMatchesAMap replays random operations against a plain map, so that
// every path (promotion, expunged slots, deletes before and after) is taken.
func TestMatchesAMap(t *testing.T) {
	t.Parallel()
	var m Map[int, int]
	want := map[int]int{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		k := r.IntN(64)
		switch r.IntN(5) {
		case 0, 1:
			v := i
			m.Store(k, &v)
			want[k] = v
		case 2:
			m.Delete(k)
			delete(want, k)
		case 3:
			v := i
			got, loaded := m.LoadOrStore(k, &v)
			w, ok := want[k]
			if loaded != ok || ok && *got != w || !ok && got != &v {
				t.Fatalf("op %d: LoadOrStore(%d) = %v, %v; want %v, %v", i, k, *got, loaded, w, ok)
			}
			if !ok {
				want[k] = v
			}
		default:
			got := m.Load(k)
			w, ok := want[k]
			if (got != nil) != ok || ok && *got != w {
				t.Fatalf("op %d: Load(%d) = %v; want %v, %v", i, k, got, w, ok)
			}
		}
		if i%10_000 == 0 {
			seen := map[int]int{}
			m.Range(func(k int, v *int) bool { seen[k] = *v; return true })
			if len(seen) != len(want) {
				t.Fatalf("op %d: Range saw %d keys, want %d", i, len(seen), len(want))
			}
			for k, v := range want {
				if seen[k] != v {
					t.Fatalf("op %d: Range saw %d=%d, want %d", i, k, seen[k], v)
				}
			}
		}
	}
}

// TestConcurrent is for the race detector: readers never see a torn or
// stale-deleted value of a key only one writer changes.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	var m Map[int, int]
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20_000 {
				k := w*1_000_000 + i%500
				v := i
				m.Store(k, &v)
				if got := m.Load(k); got == nil || *got != i {
					t.Errorf("writer %d: Load(%d) = %v after storing %d", w, k, got, i)
					return
				}
				if i%7 == 0 {
					m.Delete(k)
					if got := m.Load(k); got != nil {
						t.Errorf("writer %d: Load(%d) = %d after Delete", w, k, *got)
						return
					}
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for i := range 50_000 {
				m.Load(i % 2000)
				if i%5000 == 0 {
					m.Range(func(int, *int) bool { return true })
				}
			}
		})
	}
	wg.Wait()
}

func TestLoadDoesNotAllocate(t *testing.T) {
	var m Map[[32]byte, int]
	var k [32]byte
	v := 1
	m.Store(k, &v)
	m.Load(k) // promotes
	if n := testing.AllocsPerRun(100, func() { _ = m.Load(k) }); n != 0 {
		t.Fatalf("Load allocates %v times", n)
	}
}

// BenchmarkFill inserts keys 0..n-1 into 256 shards, each insert followed
// by a lookup as a cache fill does, and reports the cost of the last 10% of
// inserts: flat for readmap, growing with n for a copy-on-write map.
func BenchmarkFill(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run("readmap/"+strconv.Itoa(n), func(b *testing.B) {
			benchFill(b, n, func() (func(k uint64, v *int), func(k uint64) *int) {
				var shards [256]Map[uint64, int]
				return func(k uint64, v *int) { shards[k%256].LoadOrStore(k, v) },
					func(k uint64) *int { return shards[k%256].Load(k) }
			})
		})
		if n > 100_000 {
			continue // a million inserts into copy-on-write maps take minutes
		}
		b.Run("cowmap/"+strconv.Itoa(n), func(b *testing.B) {
			benchFill(b, n, func() (func(k uint64, v *int), func(k uint64) *int) {
				var shards [256]cowmap.Map[uint64, *int]
				return func(k uint64, v *int) {
						shards[k%256].Update(func(m map[uint64]*int) { m[k] = v })
					}, func(k uint64) *int {
						v, _ := shards[k%256].Load(k)
						return v
					}
			})
		})
	}
}

func benchFill(b *testing.B, n int, newMap func() (store func(uint64, *int), load func(uint64) *int)) {
	v := 1
	for range b.N {
		b.StopTimer()
		store, load := newMap()
		for i := range n - n/10 {
			k := uint64(i) * 0x9E3779B97F4A7C15
			store(k, &v)
			load(k)
		}
		// Only the last 10%: what a fill costs at n keys.
		b.StartTimer()
		for i := n - n/10; i < n; i++ {
			k := uint64(i) * 0x9E3779B97F4A7C15
			if load(k) == nil {
				store(k, &v)
			}
			load(k)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(n/10)), "ns/fill")
}

// Deleted keys must not stay in the read map for good: once a Range (the
// cache's sweep) has run, a map whose keys were all deleted holds none,
// even if no key is stored afterwards.
func TestDeletedKeysAreDropped(t *testing.T) {
	t.Parallel()
	var m Map[int, int]
	v := 1
	for k := range 1000 {
		m.Store(k, &v)
	}
	m.Range(func(int, *int) bool { return true }) // promotes
	for k := range 1000 {
		m.Delete(k)
	}
	m.Range(func(int, *int) bool { return true })
	if n := len(m.read.Load().m); n != 0 {
		t.Fatalf("the read map still holds %d deleted keys", n)
	}
	if got := m.Load(3); got != nil {
		t.Fatalf("Load(3) = %d after Delete", *got)
	}
	m.Store(3, &v)
	if got := m.Load(3); got == nil {
		t.Fatal("Load(3) = nil after Store")
	}
}
