package apikey_test

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// countingStore wraps a memstore, counts reads and writes, and fails on
// demand: the fault injection behind the fail-closed tests.
type countingStore struct {
	apikey.Store
	reads, writes atomic.Int64
	fail          atomic.Bool // every call returns errBackend
}

var errBackend = errors.New("backend: connection refused")

func newCountingStore() *countingStore { return &countingStore{Store: memstore.New()} }

func (s *countingStore) read() error {
	s.reads.Add(1)
	if s.fail.Load() {
		return errBackend
	}
	return nil
}

func (s *countingStore) write() error {
	s.writes.Add(1)
	if s.fail.Load() {
		return errBackend
	}
	return nil
}

func (s *countingStore) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.Store.ByDigest(ctx, d)
}

func (s *countingStore) ByID(ctx context.Context, id string) (*apikey.Record, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.Store.ByID(ctx, id)
}

func (s *countingStore) List(ctx context.Context, o apikey.ListOptions) ([]*apikey.Record, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.Store.List(ctx, o)
}

func (s *countingStore) Insert(ctx context.Context, r *apikey.Record) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.Insert(ctx, r)
}

func (s *countingStore) Update(ctx context.Context, id string, p apikey.UpdateParams) (*apikey.Record, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.Update(ctx, id, p)
}

func (s *countingStore) Revoke(ctx context.Context, id string, at time.Time) (*apikey.Record, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.Revoke(ctx, id, at)
}

func (s *countingStore) Rotate(ctx context.Context, id string, g time.Time, n *apikey.Record) (*apikey.Record, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.Rotate(ctx, id, g, n)
}

func (s *countingStore) SetDigest(ctx context.Context, id string, old, d apikey.Digest, scheme string) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.SetDigest(ctx, id, old, d, scheme)
}

func (s *countingStore) AddUsage(ctx context.Context, u []apikey.Usage) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.AddUsage(ctx, u)
}
