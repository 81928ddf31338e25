//go:build !linux

package apikey_test

// threadCPU is unknown here: benchmarks report no cpu-ns/op.
func threadCPU() int64 { return 0 }
