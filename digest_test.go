package apikey_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The digest schemes: what a record of each older scheme needs to verify.

const checksumLen = 6

func sha256Of(s string) apikey.Digest { return sha256.Sum256([]byte(s)) }

func hmacOf(pepper []byte, s string) apikey.Digest {
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(s))
	return apikey.Digest(mac.Sum(nil))
}

// setDigest makes key id's record look as if it had been written with
// another scheme, as a record from an older version would be.
func setDigest(t *testing.T, store apikey.Store, id string, d apikey.Digest, scheme string) {
	t.Helper()
	ctx := context.Background()
	rec, err := store.ByID(ctx, id)
	require.NoError(t, err)
	require.NoError(t, store.SetDigest(ctx, id, rec.Digest, d, scheme))
}

func TestV1DigestsVerifyAndAreRehashedOnUse(t *testing.T) {
	t.Parallel()
	pepper := []byte("pepper: 32 random bytes, really!")
	tests := []struct {
		name string
		opts []apikey.Option
		// v1 and v2 digest a key as the old and the current scheme do.
		v1, v2 func(key string) apikey.Digest
		v1Name func(current string) string
	}{{
		name:   "sha256",
		v1:     func(k string) apikey.Digest { return sha256Of(k) },
		v2:     func(k string) apikey.Digest { return sha256Of(k[:len(k)-checksumLen]) },
		v1Name: func(string) string { return "sha256" },
	}, {
		name:   "hmac",
		opts:   []apikey.Option{apikey.WithPepper(pepper)},
		v1:     func(k string) apikey.Digest { return hmacOf(pepper, k) },
		v2:     func(k string) apikey.Digest { return hmacOf(pepper, k[:len(k)-checksumLen]) },
		v1Name: func(cur string) string { return strings.Replace(cur, "hmac-sha256/v2:", "hmac-sha256:", 1) },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := newCountingStore()
			k, secret := create(t, newManager(t, store, tc.opts...), apikey.CreateParams{})
			current := newManager(t, store, tc.opts...).DigestScheme()
			setDigest(t, store, k.ID, tc.v1(secret), tc.v1Name(current))

			// By default, with no fallback option: the old record verifies
			// and is re-hashed to the current scheme.
			got, err := newManager(t, store, tc.opts...).Verify(ctx, secret)
			require.NoError(t, err)
			assert.Equal(t, k.ID, got.ID)
			rec, err := store.ByID(ctx, k.ID)
			require.NoError(t, err)
			assert.Equal(t, current, rec.DigestScheme)
			assert.Equal(t, tc.v2(secret), rec.Digest)

			// Once re-hashed, one lookup finds it.
			reads := store.reads.Load()
			_, err = newManager(t, store, tc.opts...).Verify(ctx, secret)
			require.NoError(t, err)
			assert.Equal(t, reads+1, store.reads.Load())
		})
	}
}

// Under a pepper, a plain SHA-256 record, of either version, could have been
// written by anyone with access to the database: it must not verify, nor be
// re-hashed, unless WithUnpepperedFallback says so.
func TestPepperRefusesPlainDigestsOfEitherVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pepper := []byte("pepper: 32 random bytes, really!")
	for _, plain := range []struct {
		scheme string
		digest func(key string) apikey.Digest
	}{
		{"sha256", sha256Of},
		{"sha256/v2", func(k string) apikey.Digest { return sha256Of(k[:len(k)-checksumLen]) }},
	} {
		store := newCountingStore()
		k, secret := create(t, newManager(t, store, apikey.WithPepper(pepper)), apikey.CreateParams{})
		setDigest(t, store, k.ID, plain.digest(secret), plain.scheme)
		writes := store.writes.Load()

		_, err := newManager(t, store, apikey.WithPepper(pepper)).Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrUnknownKey, plain.scheme)
		assert.Equal(t, writes, store.writes.Load(), "%s: not re-hashed", plain.scheme)
		rec, err := store.ByID(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, plain.scheme, rec.DigestScheme)

		fallback := newManager(t, store, apikey.WithPepper(pepper), apikey.WithUnpepperedFallback())
		_, err = fallback.Verify(ctx, secret)
		require.NoError(t, err, plain.scheme)
		rec, err = store.ByID(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, fallback.DigestScheme(), rec.DigestScheme, "%s: re-hashed with the fallback", plain.scheme)
	}
}

// The current digest leaves the checksum out, so a key's look-alikes with
// another checksum share its digest: they must be refused before the digest
// is used, even while the real key is cached.
func TestWrongChecksumOfACachedKeyIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store)
	_, secret := create(t, m, apikey.CreateParams{})
	_, err := m.Verify(ctx, secret)
	require.NoError(t, err)
	reads := store.reads.Load()
	body := secret[:len(secret)-checksumLen]
	for _, sum := range []string{"000000", "zzzzzz", strings.ToUpper(secret[len(body):]), secret[len(body)+1:] + "0"} {
		if sum == secret[len(body):] {
			continue
		}
		_, err := m.Verify(ctx, body+sum)
		assert.ErrorIs(t, err, apikey.ErrMalformedKey, sum)
	}
	assert.Equal(t, reads, store.reads.Load(), "refused before any store call")
}

// WithoutV1Digests: an unknown key costs one lookup, and v1 records no
// longer verify; older peppers' v2 records still do.
func TestWithoutV1Digests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store, apikey.WithoutV1Digests(), apikey.WithNegativeCache(0, 0))
	_, unknown := create(t, newManager(t, newCountingStore()), apikey.CreateParams{})
	_, err := m.Verify(ctx, unknown)
	assert.ErrorIs(t, err, apikey.ErrUnknownKey)
	assert.Equal(t, int64(1), store.reads.Load(), "one lookup for an unknown key")

	k, secret := create(t, m, apikey.CreateParams{})
	setDigest(t, store, k.ID, sha256Of(secret), "sha256")
	_, err = newManager(t, store, apikey.WithoutV1Digests()).Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrUnknownKey, "v1 records are no longer looked up")

	oldPepper, newPepper := []byte("old pepper: 32 random bytes, ok!"), []byte("new pepper: 32 random bytes, ok!")
	_, secret = create(t, newManager(t, store, apikey.WithPepper(oldPepper)), apikey.CreateParams{})
	rotated := newManager(t, store, apikey.WithPepper(newPepper, oldPepper), apikey.WithoutV1Digests())
	_, err = rotated.Verify(ctx, secret)
	assert.NoError(t, err, "an older pepper's v2 record still verifies")
}

// What an unknown key costs in store lookups, as the README and
// WithoutV1Digests document it: one per scheme, plus one more (the current
// digest again) whenever there is an older scheme to re-hash from. So
// WithoutV1Digests brings it to one only without older peppers or the
// unpeppered fallback.
func TestUnknownKeyLookups(t *testing.T) {
	t.Parallel()
	p1, p2 := []byte("pepper one: 32 random bytes, ok!"), []byte("pepper two: 32 random bytes, ok!")
	for _, tc := range []struct {
		name string
		opts []apikey.Option
		want int64
	}{
		{"default", nil, 3},
		{"without v1", []apikey.Option{apikey.WithoutV1Digests()}, 1},
		{"pepper", []apikey.Option{apikey.WithPepper(p1)}, 3},
		{"pepper without v1", []apikey.Option{apikey.WithPepper(p1), apikey.WithoutV1Digests()}, 1},
		{"two peppers", []apikey.Option{apikey.WithPepper(p1, p2)}, 5},
		{"two peppers without v1", []apikey.Option{apikey.WithPepper(p1, p2), apikey.WithoutV1Digests()}, 3},
		{"fallback without v1", []apikey.Option{apikey.WithPepper(p1), apikey.WithUnpepperedFallback(), apikey.WithoutV1Digests()}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newCountingStore()
			m := newManager(t, store, append(tc.opts, apikey.WithNegativeCache(0, 0))...)
			_, unknown := create(t, newManager(t, newCountingStore()), apikey.CreateParams{})
			_, err := m.Verify(context.Background(), unknown)
			assert.ErrorIs(t, err, apikey.ErrUnknownKey)
			assert.Equal(t, tc.want, store.reads.Load())
		})
	}
}

// rehashedMeanwhile is a store on which another instance re-hashes a v1
// record to v2 right after this instance's first lookup (by the current
// digest) has missed it: the v1 lookup that follows misses it too.
type rehashedMeanwhile struct {
	apikey.Store
	once   sync.Once
	rehash func()
}

func (s *rehashedMeanwhile) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	rec, err := s.Store.ByDigest(ctx, d)
	s.once.Do(s.rehash)
	return rec, err
}

// A key re-hashed by another instance between this instance's lookups is
// still found (the current digest is looked up once more) and is not
// remembered as unknown.
func TestKeyRehashedBetweenLookupsIsFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inner := newCountingStore()
	k, secret := create(t, newManager(t, inner), apikey.CreateParams{})
	v2 := sha256Of(secret[:len(secret)-checksumLen])
	setDigest(t, inner, k.ID, sha256Of(secret), "sha256")
	store := &rehashedMeanwhile{Store: inner, rehash: func() {
		require.NoError(t, inner.SetDigest(ctx, k.ID, sha256Of(secret), v2, "sha256/v2"))
	}}
	m := newManager(t, store)
	got, err := m.Verify(ctx, secret)
	require.NoError(t, err, "re-hashed by another instance between the lookups")
	assert.Equal(t, k.ID, got.ID)
}
