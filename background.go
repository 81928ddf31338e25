package apikey

import (
	"context"
	"time"
)

// The Manager's background loop: one goroutine that ticks the cache's
// staleness epoch and the usage tracker's coarse clock, sweeps idle cache
// entries, and writes usage counts behind. Close stops it.

// cacheTick is the resolution of the staleness bound: a second for bounds
// of ten seconds or more, a tenth of the bound below that.
func cacheTick(ttl time.Duration) time.Duration {
	if ttl >= 10*time.Second {
		return time.Second
	}
	return max(ttl/10, time.Millisecond)
}

func (m *Manager) startBackground(tick, flushEvery time.Duration) {
	m.stop = make(chan struct{})
	m.done = make(chan struct{})
	go m.run(tick, flushEvery)
}

func (m *Manager) run(tick, flushEvery time.Duration) {
	defer close(m.done)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var flushC <-chan time.Time
	if m.usage != nil {
		flush := time.NewTicker(flushEvery)
		defer flush.Stop()
		flushC = flush.C
	}
	for {
		select {
		case <-ticker.C:
			if m.usage != nil {
				m.usage.tick()
			}
			if c := m.cache; c != nil {
				if epoch := c.epoch.Add(1); epoch%max(c.maxAgeTicks, 1) == 0 {
					c.sweep()
				}
			}
		case <-flushC:
			m.usage.tick()
			ctx, cancel := context.WithTimeout(context.Background(), flushEvery)
			m.usage.flushLogged(ctx)
			cancel()
		case <-m.stop:
			return
		}
	}
}

// stopBackground stops the loop and waits for it.
func (m *Manager) stopBackground() {
	if m.stop != nil {
		close(m.stop)
		<-m.done
	}
}
