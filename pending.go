package apikey

import (
	"context"
	"time"
)

// Stand-ins for the refund APIs of the limiter and stores branches, until
// they are merged. Deleted by the merge.

func (p *limitPolicy) refund(ctx context.Context, reqs []LimitRequest) {
	if p.local == nil {
		return
	}
	now := p.clock()
	for _, r := range reqs {
		sh := &p.local.shards[p.local.shardOf(r.Key)]
		sh.mu.Lock()
		if b, ok := sh.buckets[r.Key]; ok {
			b.lim.AllowN(now, -max(r.Cost, 1))
		}
		sh.mu.Unlock()
	}
}

func (m *Manager) refundQuota(ctx context.Context, rec *Record, cost int, period time.Time) {}

func (m *Manager) consumeQuotaPeriod(ctx context.Context, rec *Record, cost int) (time.Time, error) {
	return rec.Quota.Refill.periodStart(m.now()), m.consumeQuota(ctx, rec, cost)
}
