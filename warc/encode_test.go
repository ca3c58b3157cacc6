package warc

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"testing"
)

// storeMember's members are gzip members that the standard library reads
// back to the bytes stored, whatever their size (none, one stored block,
// several) and however they are split in parts, and that say they are not
// compressed (each byte is in them once, after its block's header).
func TestStoreMember(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 1023, 65535, 65536, 65537, 200_000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		for _, cuts := range [][]int{nil, {0}, {n / 3, n / 2}, {n, n}} {
			parts, prev := [][]byte{}, 0
			for _, c := range cuts {
				parts, prev = append(parts, data[prev:c]), c
			}
			parts = append(parts, data[prev:])
			var out bytes.Buffer
			out.WriteString("before")
			storeMember(&out, parts...)
			member := out.Bytes()[len("before"):]
			zr, err := gzip.NewReader(bytes.NewReader(member))
			if err != nil {
				t.Fatalf("%d bytes in %d parts: %v", n, len(parts), err)
			}
			zr.Multistream(false)
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%d bytes in %d parts: %v", n, len(parts), err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%d bytes in %d parts: read back %d bytes, not the ones stored", n, len(parts), len(got))
			}
			if rest, _ := io.ReadAll(zr); len(rest) != 0 {
				t.Fatalf("%d bytes: %d bytes after the member", n, len(rest))
			}
			blocks := max(1, (n+65534)/65535)
			if want := 10 + 5*blocks + n + 8; len(member) != want {
				t.Errorf("%d bytes in %d parts: member of %d bytes, want %d", n, len(parts), len(member), want)
			}
		}
	}
}
