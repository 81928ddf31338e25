package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"regexp"
)

// Key format: <prefix>_<env>_<secret><checksum>
//
//   - prefix: 1–16 characters of [a-z0-9], default "sk"
//   - env: "live" or "test"
//   - secret: 43 characters of base62 (alphabet 0-9A-Za-z), each drawn
//     uniformly from crypto/rand by rejection sampling: ≥ 256 bits
//   - checksum: CRC-32 (IEEE) of every byte before it, as a big-endian
//     base62 number left-padded with '0' to 6 characters
//
// The default pattern is ^sk_(live|test)_[0-9A-Za-z]{49}$.
const (
	// DefaultPrefix is the key prefix used when WithPrefix is not given.
	DefaultPrefix = "sk"
	// EnvLive and EnvTest are the two environments a key can carry.
	EnvLive = "live"
	EnvTest = "test"

	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	maxPrefixLen     = 16
	envLen           = 4
	secretLen        = 43
	checksumLen      = 6
	displayPrefixLen = 12
	// maxKeyLen is the longest key any Manager accepts (a 16-character
	// prefix): 71 bytes. Anything longer is rejected before any work.
	maxKeyLen = maxPrefixLen + 1 + envLen + 1 + secretLen + checksumLen
)

// Digest is the 32-byte value a Store keeps instead of a key: SHA-256 of the
// key's body, or HMAC-SHA-256 of it under a pepper. It is compared in
// constant time.
type Digest [32]byte

// Digest schemes, recorded per key so that peppers and the digest
// definition can change: a record of an older scheme still verifies and is
// re-hashed to the current one on use.
//
// The current schemes (v2) digest the key's body, everything before the
// checksum ("sk_live_<secret>"): the checksum is a function of the body, so
// dropping it loses nothing, and the 51-byte body of a key with a prefix of
// up to 6 characters fits one SHA-256 block where the whole 57-byte key
// needs two. The body still binds the prefix and the environment, so two
// prefixes sharing a store never share a digest. Verify checks the checksum
// before any digest is used (parse), so a key with a wrong checksum cannot
// match its body's digest.
const (
	// schemeSHA256 is the plain SHA-256 of the full key (v1). Records of it
	// still verify and are re-hashed to the current scheme on use.
	schemeSHA256 = "sha256"
	// schemeSHA256Body is the plain SHA-256 of the key's body: the scheme of
	// new keys without a pepper.
	schemeSHA256Body = "sha256/v2"
	// schemeHMACPrefix starts "hmac-sha256:<pepper id>" (v1, the full key),
	// where the pepper id is the first 4 bytes of
	// SHA-256("apikey pepper id\x00" || pepper) in hex: stable whatever the
	// order of peppers, and no use to an attacker.
	schemeHMACPrefix = "hmac-sha256:"
	// schemeHMACBodyPrefix starts "hmac-sha256/v2:<pepper id>", HMAC of the
	// key's body: the scheme of new keys under a pepper.
	schemeHMACBodyPrefix = "hmac-sha256/v2:"
)

// keyFormat checks and generates keys of one prefix. The zero value is not
// usable; build it with newKeyFormat.
type keyFormat struct {
	prefix string
	keyLen int
}

func newKeyFormat(prefix string) (keyFormat, error) {
	if len(prefix) == 0 || len(prefix) > maxPrefixLen {
		return keyFormat{}, paramErr("prefix", "must be 1 to 16 characters of [a-z0-9]")
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return keyFormat{}, paramErr("prefix", "must be 1 to 16 characters of [a-z0-9]")
		}
	}
	return keyFormat{prefix: prefix, keyLen: len(prefix) + 1 + envLen + 1 + secretLen + checksumLen}, nil
}

// pattern is the regular expression every key of this format matches, for
// secret scanners. It does not check the checksum; parse does.
func (f keyFormat) pattern() string {
	return `^` + f.prefix + `_(live|test)_[0-9A-Za-z]{49}$`
}

// parse checks s and returns its environment. It does no hashing, no
// allocation and no store call: the cheap filter in front of everything.
func (f *keyFormat) parse(s string) (env string, err error) {
	if len(s) != f.keyLen {
		return "", ErrMalformedKey
	}
	p := len(f.prefix)
	if s[:p] != f.prefix || s[p] != '_' || s[p+1+envLen] != '_' {
		return "", ErrMalformedKey
	}
	switch s[p+1 : p+1+envLen] {
	case EnvLive:
		env = EnvLive
	case EnvTest:
		env = EnvTest
	default:
		return "", ErrMalformedKey
	}
	secret := s[p+2+envLen : len(s)-checksumLen]
	// Branchless: base62 values are below 64, invalidDigit has the top bits.
	var bad byte
	for i := 0; i < len(secret); i++ {
		bad |= base62Value[secret[i]]
	}
	var sum uint64
	for _, c := range []byte(s[len(s)-checksumLen:]) {
		v := base62Value[c]
		bad |= v
		sum = sum*62 + uint64(v)
	}
	if bad&^63 != 0 || sum != uint64(checksum(s[:len(s)-checksumLen])) {
		return "", ErrMalformedKey
	}
	return env, nil
}

// generate returns a new key of environment env, fresh from crypto/rand.
func (f *keyFormat) generate(env string) string {
	buf := make([]byte, 0, f.keyLen)
	buf = append(buf, f.prefix...)
	buf = append(buf, '_')
	buf = append(buf, env...)
	buf = append(buf, '_')
	var random [64]byte
	for n := 0; n < secretLen; {
		rand.Read(random[:]) // never fails (Go ≥ 1.24 crashes instead)
		for _, b := range random {
			// 6 uniform bits; rejecting 62 and 63 leaves 62 equally likely
			// values: no modulo bias.
			if v := b & 63; v < 62 && n < secretLen {
				buf = append(buf, base62Alphabet[v])
				n++
			}
		}
	}
	clear(random[:])
	buf = appendChecksum(buf, crc32.ChecksumIEEE(buf))
	key := string(buf)
	clear(buf) // best effort: the string itself cannot be wiped
	return key
}

// displayPrefix is what a UI may show of a key: its first 12 characters
// ("sk_live_a1b2"), never enough to use it.
func displayPrefix(key string) string {
	return key[:displayPrefixLen]
}

func appendChecksum(dst []byte, crc uint32) []byte {
	var digits [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		digits[i] = base62Alphabet[crc%62]
		crc /= 62
	}
	return append(dst, digits[:]...)
}

const invalidDigit = 0xff

// base62Value maps a byte to its base62 value, or invalidDigit.
var base62Value = func() (t [256]byte) {
	for i := range t {
		t[i] = invalidDigit
	}
	for i := 0; i < len(base62Alphabet); i++ {
		t[base62Alphabet[i]] = byte(i)
	}
	return t
}()

// crcTables are the slicing-by-8 tables of CRC-32 (IEEE). hash/crc32 cannot
// be used on the verify path: called on a stack buffer it makes the buffer
// escape (one allocation per call), and a string would need a copy.
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := 0; i < 256; i++ {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}()

// checksum is crc32.ChecksumIEEE of s, without converting s to bytes.
func checksum(s string) uint32 {
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = crcTables[0][s[7]] ^ crcTables[1][s[6]] ^ crcTables[2][s[5]] ^ crcTables[3][s[4]] ^
			crcTables[4][crc>>24] ^ crcTables[5][crc>>16&0xff] ^ crcTables[6][crc>>8&0xff] ^ crcTables[7][crc&0xff]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTables[0][byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// digestScheme computes one kind of digest. Keys are at most maxKeyLen bytes
// and well formed (parse has checked), so every scheme hashes from stack
// buffers without allocating.
type digestScheme struct {
	name       string
	hmac       bool
	body       bool                   // digest the key without its checksum (v2)
	ipad, opad [sha256.BlockSize]byte // key XOR 0x36 / 0x5c, for HMAC
}

// sha256Scheme is plain SHA-256: of the key's body (v2) or of the full key.
func sha256Scheme(body bool) digestScheme {
	if body {
		return digestScheme{name: schemeSHA256Body, body: true}
	}
	return digestScheme{name: schemeSHA256}
}

// hmacScheme prepares HMAC-SHA-256 (RFC 2104) under pepper, of the key's
// body (v2) or of the full key: the pads are computed once, so a digest is
// two SHA-256 calls over stack buffers.
func hmacScheme(pepper []byte, body bool) digestScheme {
	s := digestScheme{hmac: true, body: body}
	id := sha256.Sum256(append([]byte("apikey pepper id\x00"), pepper...))
	s.name = schemeHMACPrefix + hex.EncodeToString(id[:4])
	if body {
		s.name = schemeHMACBodyPrefix + hex.EncodeToString(id[:4])
	}
	var k [sha256.BlockSize]byte
	if len(pepper) > sha256.BlockSize {
		sum := sha256.Sum256(pepper)
		copy(k[:], sum[:])
	} else {
		copy(k[:], pepper)
	}
	for i := range k {
		s.ipad[i] = k[i] ^ 0x36
		s.opad[i] = k[i] ^ 0x5c
	}
	clear(k[:])
	return s
}

// digest returns the digest of key, which must be well formed (parsed or
// generated): v2 schemes drop its checksum.
func (s *digestScheme) digest(key string) Digest {
	if s.body {
		key = key[:len(key)-checksumLen]
	}
	if !s.hmac {
		var buf [maxKeyLen]byte
		n := copy(buf[:], key)
		return sha256.Sum256(buf[:n])
	}
	var inner [sha256.BlockSize + maxKeyLen]byte
	copy(inner[:], s.ipad[:])
	n := copy(inner[sha256.BlockSize:], key)
	ih := sha256.Sum256(inner[:sha256.BlockSize+n])
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], s.opad[:])
	copy(outer[sha256.BlockSize:], ih[:])
	return sha256.Sum256(outer[:])
}

// Pattern returns the regular expression that every key of the given prefix
// matches: ^<prefix>_(live|test)_[0-9A-Za-z]{49}$. Secret scanners can use it
// with the CRC-32 checksum (see the README) to rule out false positives.
func Pattern(prefix string) (*regexp.Regexp, error) {
	f, err := newKeyFormat(prefix)
	if err != nil {
		return nil, err
	}
	return regexp.Compile(f.pattern())
}

// ValidChecksum reports whether s has the shape of a key of any prefix and a
// correct checksum. It does not say the key exists; only Manager.Verify does.
// Secret scanners can use it to drop random look-alikes.
func ValidChecksum(s string) bool {
	if len(s) < 1+1+envLen+1+secretLen+checksumLen || len(s) > maxKeyLen {
		return false
	}
	p := len(s) - (1 + envLen + 1 + secretLen + checksumLen)
	f, err := newKeyFormat(s[:p])
	if err != nil {
		return false
	}
	_, err = f.parse(s)
	return err == nil
}
