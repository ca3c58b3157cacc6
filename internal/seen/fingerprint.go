package seen

import "math/bits"

// The SipHash-2-4 key of [Fingerprint]: the bytes 00 01 02 … 0f, the key of
// the reference implementation's test vectors, so that any SipHash-2-4
// implementation can recompute a persisted fingerprint and the tests can
// check this one against the published vectors. The key is public (as any
// key compiled into the binary would be); it is part of the persisted
// format and must never change.
const (
	sipK0 = 0x0706050403020100
	sipK1 = 0x0f0e0d0c0b0a0908
)

// Fingerprint returns the 64-bit fingerprint of s (never 0). Stable across
// processes and versions: it may be persisted.
//
// The fingerprint is SipHash-2-4 of the bytes of s under the fixed key
// 00 01 02 … 0f (k0 = 0x0706050403020100, k1 = 0x0f0e0d0c0b0a0908), except
// that a hash of 0 — reserved by [Set] for an empty slot — is returned as 1.
// It does not allocate.
func Fingerprint(s string) uint64 {
	v0 := uint64(sipK0 ^ 0x736f6d6570736575)
	v1 := uint64(sipK1 ^ 0x646f72616e646f6d)
	v2 := uint64(sipK0 ^ 0x6c7967656e657261)
	v3 := uint64(sipK1 ^ 0x7465646279746573)
	last := uint64(len(s)) << 56

	for ; len(s) >= 8; s = s[8:] {
		m := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}

	switch len(s) {
	case 7:
		last |= uint64(s[6]) << 48
		fallthrough
	case 6:
		last |= uint64(s[5]) << 40
		fallthrough
	case 5:
		last |= uint64(s[4]) << 32
		fallthrough
	case 4:
		last |= uint64(s[3]) << 24
		fallthrough
	case 3:
		last |= uint64(s[2]) << 16
		fallthrough
	case 2:
		last |= uint64(s[1]) << 8
		fallthrough
	case 1:
		last |= uint64(s[0])
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last

	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)

	if h := v0 ^ v1 ^ v2 ^ v3; h != 0 {
		return h
	}
	return 1
}

// sipRound is one SipRound of SipHash.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
