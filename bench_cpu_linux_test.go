package apikey_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/keyward/apikey"
)

// BenchmarkCPU repeats the Verify benchmarks and their floor, reporting the
// thread's CPU time per operation (cpu-ns/op) besides the wall time: on a
// shared machine, time spent waiting for a core inflates ns/op but not
// cpu-ns/op. Linux only (CLOCK_THREAD_CPUTIME_ID).
func BenchmarkCPU(b *testing.B) {
	m, secret := benchManager(b)
	pm, psecret := benchManager(b, apikey.WithPepper([]byte("0123456789abcdef0123456789abcdef")))
	ctx := context.Background()
	want := sha256.Sum256([]byte(secret))
	index := make(map[[32]byte]*[32]byte, benchKeys)
	for i := range benchKeys {
		var d [32]byte
		d[0], d[1] = byte(i), byte(i>>8)
		index[d] = &d
	}
	index[want] = &want
	last := secret[len(secret)-1]
	badChecksum := secret[:len(secret)-1] + map[bool]string{true: "1", false: "0"}[last == '0']
	for _, bc := range []struct {
		name string
		fn   func() bool
	}{
		{"VerifyFloor", func() bool {
			var buf [128]byte
			n := copy(buf[:], secret)
			d := sha256.Sum256(buf[:n])
			rec, ok := index[d]
			return ok && subtle.ConstantTimeCompare(rec[:], d[:]) == 1
		}},
		{"Verify", func() bool { _, err := m.Verify(ctx, secret, "webhooks:read"); return err == nil }},
		{"VerifyPepper", func() bool { _, err := pm.Verify(ctx, psecret, "webhooks:read"); return err == nil }},
		{"VerifyReject/Malformed", func() bool { _, err := m.Verify(ctx, "sk_live_not-a-key"); return err != nil }},
		{"VerifyReject/BadChecksum", func() bool { _, err := m.Verify(ctx, badChecksum); return err != nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			start := threadCPU()
			for b.Loop() {
				if !bc.fn() {
					b.Fatal("unexpected result")
				}
			}
			b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// threadCPU is the calling thread's CPU time in nanoseconds.
func threadCPU() int64 {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// BenchmarkCPUParallel is BenchmarkVerifyParallel reporting the process's
// CPU time per verification: run at -cpu 1 and -cpu 2, equal cpu-ns/op
// means the second core adds throughput without contention (no lock or
// shared write on the read path), whatever else the machine is running.
func BenchmarkCPUParallel(b *testing.B) {
	m, secret := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	start := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Verify(ctx, secret, "webhooks:read"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
