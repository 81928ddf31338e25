package apikey

import (
	"context"
	"time"
)

// The Manager's background work, in two goroutines so that a slow store
// cannot hold up the clock: one ticks the cache's staleness epoch and the
// usage tracker's coarse clock and sweeps idle cache entries; the other
// writes usage counts behind. Close stops both.

// cacheTick is the resolution of the staleness bound: a second for bounds
// of ten seconds or more, a tenth of the bound below that.
func cacheTick(ttl time.Duration) time.Duration {
	if ttl >= 10*time.Second {
		return time.Second
	}
	return max(ttl/10, time.Millisecond)
}

func (m *Manager) startBackground(tick, flushEvery time.Duration) {
	if m.usage != nil {
		m.usage.timeout = flushTimeout(m.storeTimeout, flushEvery)
	}
	m.stop = make(chan struct{})
	m.done = make(chan struct{})
	ticking := make(chan struct{})
	go m.tickLoop(tick, ticking)
	go func() {
		if m.usage != nil {
			m.flushLoop(flushEvery)
		}
		<-ticking
		close(m.done)
	}()
}

// tickLoop advances the epoch from the elapsed time, not by counting
// ticks, so a tick the runtime drops does not stretch the staleness bound.
func (m *Manager) tickLoop(tick time.Duration, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	start := time.Now()
	var swept int64
	for {
		select {
		case <-ticker.C:
			if m.usage != nil {
				m.usage.tick()
			}
			if c := m.cache; c != nil {
				epoch := int64(time.Since(start) / tick)
				c.epoch.Store(epoch)
				if epoch-swept >= max(c.maxAgeTicks, c.negTicks, 1) {
					swept = epoch
					c.sweep()
				}
			}
		case <-m.stop:
			return
		}
	}
}

// flushTimeout bounds one usage flush (Close's too): the store timeout, and
// at most half the interval, so that a stalled store can neither make
// flushes run back to back nor hold Close for long.
func flushTimeout(storeTimeout, every time.Duration) time.Duration {
	if half := every / 2; half > 0 && half < storeTimeout {
		return half
	}
	return storeTimeout
}

func (m *Manager) flushLoop(every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	// Stopping cancels a flush in progress, whose counts go back for the
	// one Close makes: Close waits for one bounded flush, not two.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-ticker.C:
			m.usage.flushLogged(ctx)
		case <-m.stop:
			return
		}
	}
}

// stopBackground stops the goroutines and waits for them.
func (m *Manager) stopBackground() {
	if m.stop != nil {
		close(m.stop)
		<-m.done
	}
}
