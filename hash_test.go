package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceChecksum encodes CRC-32 the slow, obvious way, independently of
// appendChecksum: math/big's base 62 uses the alphabet 0-9a-zA-Z, so swap
// the letter cases to get 0-9A-Za-z.
func referenceChecksum(s string) string {
	digits := big.NewInt(int64(crc32.ChecksumIEEE([]byte(s)))).Text(62)
	swapped := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, digits)
	return strings.Repeat("0", checksumLen-len(swapped)) + swapped
}

func mustFormat(t testing.TB, prefix string) keyFormat {
	t.Helper()
	f, err := newKeyFormat(prefix)
	require.NoError(t, err)
	return f
}

// A fixed key, for other languages and secret scanners to test against: its
// last six characters are the CRC-32 of the first 51 in base62.
const knownKey = "sk_live_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg" + "2LOcWk"

func TestKnownAnswer(t *testing.T) {
	t.Parallel()
	body := knownKey[:len(knownKey)-checksumLen]
	require.Equal(t, referenceChecksum(body), knownKey[len(knownKey)-checksumLen:], "the README's example checksum")
	f := mustFormat(t, "sk")
	env, err := f.parse(knownKey)
	require.NoError(t, err)
	assert.Equal(t, EnvLive, env)
	assert.True(t, ValidChecksum(knownKey))
}

func TestGeneratedKeysHaveTheDocumentedFormat(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"sk", "whr", "hklst", "hd", "hs", "a", "abcdefghij012345"} {
		f := mustFormat(t, prefix)
		re, err := Pattern(prefix)
		require.NoError(t, err)
		for _, env := range []string{EnvLive, EnvTest} {
			key := f.generate(env)
			assert.Regexp(t, re, key)
			assert.Len(t, key, len(prefix)+1+4+1+49)
			assert.True(t, strings.HasPrefix(key, prefix+"_"+env+"_"))
			body := key[:len(key)-checksumLen]
			assert.Equal(t, referenceChecksum(body), key[len(key)-checksumLen:], "checksum of %s", key)
			got, err := f.parse(key)
			require.NoError(t, err)
			assert.Equal(t, env, got)
			assert.Equal(t, key[:12], displayPrefix(key))
			assert.True(t, ValidChecksum(key))
		}
	}
}

func TestDefaultPattern(t *testing.T) {
	t.Parallel()
	re, err := Pattern(DefaultPrefix)
	require.NoError(t, err)
	assert.Equal(t, `^sk_(live|test)_[0-9A-Za-z]{49}$`, re.String())
	_, err = Pattern("Bad-Prefix")
	assert.ErrorIs(t, err, ErrInvalidParams)
}

func TestChecksumMatchesHashCRC32(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		assert.Equal(t, crc32.ChecksumIEEE(b), checksum(string(b)), "length %d", n)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	f := mustFormat(t, "sk")
	valid := f.generate(EnvLive)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := map[string]string{
		"empty":               "",
		"one short":           valid[:len(valid)-1],
		"one long":            valid + "0",
		"secret changed":      flip(valid, 20),
		"checksum changed":    flip(valid, len(valid)-1),
		"other prefix":        "hd" + valid[2:],
		"upper-case prefix":   "SK" + valid[2:],
		"unknown environment": "sk_prod_" + valid[8:],
		"missing separator":   "sk-live_" + valid[8:],
		"non-base62 in body":  valid[:30] + "-" + valid[31:],
		"NUL in body":         valid[:30] + "\x00" + valid[31:],
		"non-UTF-8":           valid[:30] + "\xff" + valid[31:],
		"space":               " " + valid[1:],
		"JWT":                 "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
		"GitHub token":        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"Stripe key":          "sk_live_51H8xKjLkjsdf8734kjhsdfKJHSDF8734kjhsdf87",
		"1 MB":                strings.Repeat("a", 1<<20),
	}
	for name, s := range tests {
		_, err := f.parse(s)
		assert.ErrorIs(t, err, ErrMalformedKey, name)
		assert.ErrorIs(t, err, ErrInvalidKey, name)
	}
}

func TestGenerateIsUniform(t *testing.T) {
	t.Parallel()
	f := mustFormat(t, "sk")
	const keys = 2000
	var counts [62]int
	seen := map[string]bool{}
	for range keys {
		key := f.generate(EnvLive)
		require.False(t, seen[key], "duplicate key")
		seen[key] = true
		for _, c := range key[8 : 8+secretLen] {
			counts[strings.IndexRune(base62Alphabet, c)]++
		}
	}
	// Expected 1387 each, standard deviation about 37: a biased generator
	// (modulo bias gives the first 8 symbols +25%) lands far outside.
	expected := float64(keys*secretLen) / 62
	for i, n := range counts {
		assert.InDelta(t, expected, float64(n), 250, "symbol %c", base62Alphabet[i])
	}
}

func TestHMACDigestMatchesCryptoHMAC(t *testing.T) {
	t.Parallel()
	f := mustFormat(t, "sk")
	key := f.generate(EnvLive)
	body := key[:len(key)-checksumLen]
	for _, n := range []int{16, 32, 64, 65, 100} {
		pepper := []byte(strings.Repeat("p", n))
		for _, tc := range []struct {
			body    bool
			message string
			name    string
		}{
			{false, key, `^hmac-sha256:[0-9a-f]{8}$`},
			{true, body, `^hmac-sha256/v2:[0-9a-f]{8}$`},
		} {
			s := hmacScheme(pepper, tc.body)
			mac := hmac.New(sha256.New, pepper)
			mac.Write([]byte(tc.message))
			assert.Equal(t, mac.Sum(nil), func() []byte { d := s.digest(key); return d[:] }(), "pepper of %d bytes", n)
			assert.Regexp(t, regexp.MustCompile(tc.name), s.name)
		}
		assert.Equal(t, hmacScheme(pepper, false).name[len(schemeHMACPrefix):], hmacScheme(pepper, true).name[len(schemeHMACBodyPrefix):],
			"both versions name the pepper alike")
	}
	plain := sha256Scheme(false)
	assert.Equal(t, Digest(sha256.Sum256([]byte(key))), plain.digest(key))
	assert.Equal(t, "sha256", plain.name)
	v2 := sha256Scheme(true)
	assert.Equal(t, Digest(sha256.Sum256([]byte(body))), v2.digest(key), "v2 digests the key without its checksum")
	assert.Equal(t, "sha256/v2", v2.name)
}

// TestBodyDigestBindsPrefixAndEnvironment: v2 drops only the checksum, so
// the same secret under another prefix or environment digests differently,
// and a body of up to 55 bytes (prefixes of up to 6 characters) is what
// makes one SHA-256 block.
func TestBodyDigestBindsPrefixAndEnvironment(t *testing.T) {
	t.Parallel()
	sk, pk := mustFormat(t, "sk"), mustFormat(t, "pk")
	key := sk.generate(EnvLive)
	secret := key[len("sk_live_") : len(key)-checksumLen]
	s := sha256Scheme(true)
	seen := map[Digest]string{}
	for _, k := range []string{
		key,
		string(appendChecksum([]byte("pk_live_"+secret), checksum("pk_live_"+secret))),
		string(appendChecksum([]byte("sk_test_"+secret), checksum("sk_test_"+secret))),
	} {
		_, err := sk.parse(k)
		if err != nil {
			_, err = pk.parse(k)
		}
		require.NoError(t, err, k)
		d := s.digest(k)
		assert.NotContains(t, seen, d, "%s digests like %s", k, seen[d])
		seen[d] = k
	}
	six := mustFormat(t, "abcdef")
	assert.Equal(t, 55, len(six.generate(EnvLive))-checksumLen, "6-character prefixes: one block")
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	f := mustFormat(t, "sk")
	key := f.generate(EnvLive)
	bad := key[:20] + "!" + key[21:]
	plain, peppered := sha256Scheme(true), hmacScheme([]byte("0123456789abcdef0123456789abcdef"), true)
	for name, fn := range map[string]func(){
		"parse":         func() { _, _ = f.parse(key) },
		"parse invalid": func() { _, _ = f.parse(bad) },
		"sha256":        func() { _ = plain.digest(key) },
		"hmac":          func() { _ = peppered.digest(key) },
	} {
		assert.Zero(t, testing.AllocsPerRun(100, fn), name)
	}
}

func FuzzParse(f *testing.F) {
	kf := mustFormat(f, "sk")
	for _, seed := range []string{
		knownKey, kf.generate(EnvLive), kf.generate(EnvTest), "", "sk_live_", "sk_test_" + strings.Repeat("0", 49),
		"eyJhbGciOiJIUzI1NiJ9.e30.sig", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "Bearer sk_live_x", "\x00\xff",
	} {
		f.Add(seed)
	}
	re := regexp.MustCompile(kf.pattern())
	f.Fuzz(func(t *testing.T, s string) {
		env, err := kf.parse(s)
		if err != nil {
			if err != ErrMalformedKey {
				t.Fatalf("parse(%q) error %v, want ErrMalformedKey", s, err)
			}
			return
		}
		if !re.MatchString(s) || !ValidChecksum(s) {
			t.Fatalf("parse accepted %q, which does not match the format", s)
		}
		if s[3:7] != env || referenceChecksum(s[:len(s)-checksumLen]) != s[len(s)-checksumLen:] {
			t.Fatalf("parse accepted %q with a wrong environment or checksum", s)
		}
	})
}

// BenchmarkHotPathParts measures the pieces of Verify's hot path, to account
// for its cost (see BENCHMARKS.md). No timing is asserted.
func BenchmarkHotPathParts(b *testing.B) {
	f := mustFormat(b, "sk")
	key := f.generate(EnvLive)
	v1, v2 := sha256Scheme(false), sha256Scheme(true)
	pepper := []byte("0123456789abcdef0123456789abcdef")
	h1, h2 := hmacScheme(pepper, false), hmacScheme(pepper, true)
	var sink Digest
	for _, bc := range []struct {
		name string
		fn   func()
	}{
		{"Parse", func() { _, _ = f.parse(key) }},
		{"Checksum", func() { _ = checksum(key[:len(key)-checksumLen]) }},
		{"DigestV1", func() { sink = v1.digest(key) }},
		{"DigestV2", func() { sink = v2.digest(key) }},
		{"HMACV1", func() { sink = h1.digest(key) }},
		{"HMACV2", func() { sink = h2.digest(key) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.fn()
			}
		})
	}
	_ = sink
}
