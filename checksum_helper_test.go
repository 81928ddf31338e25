package apikey_test

// wrongChecksum is key with its last character changed, so that its
// checksum no longer matches. Replacing the last character with a fixed
// one would give the key itself back once in 62 keys.
func wrongChecksum(key string) string {
	last := key[len(key)-1]
	c := byte('x')
	if last == c {
		c = 'y'
	}
	return key[:len(key)-1] + string(c)
}
