package apikey

import (
	"context"
	"time"
)

// ChargeQuota runs the quota step of a request of key id, as check does.
func ChargeQuota(ctx context.Context, m *Manager, id string, cost int) (time.Time, error) {
	rec, err := m.store.ByID(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	return m.consumeQuota(ctx, rec, cost)
}

// RefundQuota gives back what ChargeQuota took, as a later refusal does.
func RefundQuota(ctx context.Context, m *Manager, id string, cost int, period time.Time) error {
	rec, err := m.store.ByID(ctx, id)
	if err != nil {
		return err
	}
	m.refundQuota(ctx, rec, cost, period)
	return nil
}
