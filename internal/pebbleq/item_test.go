package pebbleq

import (
	"strings"
	"testing"

	"github.com/crawld/crawld/queue"
)

func TestEncoding(t *testing.T) {
	its := []queue.Item{
		{},
		{URL: "https://a.example/x?y=1#z", Host: "a.example", Depth: 3, Kind: queue.KindSitemap, Redirects: 2, Origin: "http://a.example/x", Attempt: 4},
		{URL: strings.Repeat("u", 300), Host: "h", Depth: -1, Redirects: 1 << 40, Attempt: -7},
		{URL: "http://a.example/c", Host: "a.example", Redirects: 2, Origin: "http://a.example/a", Via: "http://a.example/b"},
		{URL: "http://a.example/d", Host: "a.example", Depth: 2, Referrer: "http://a.example/"},
		{URL: "http://a.example/e", Host: "a.example", Redirects: 1, Origin: "http://a.example/d", Via: "http://a.example/d2", Referrer: "http://a.example/"},
	}
	for _, it := range its {
		b := AppendItem(nil, it)
		got, err := DecodeItem(b)
		if err != nil || got != it {
			t.Errorf("round trip of %+v: %+v, %v", it, got, err)
		}
		for n := range len(b) {
			if _, err := DecodeItem(b[:n]); err == nil {
				t.Errorf("decoding %d of %d bytes: no error", n, len(b))
			}
		}
		if _, err := DecodeItem(append(b, 0)); err == nil {
			t.Error("trailing byte: no error")
		}
	}
	if _, err := DecodeItem([]byte{9}); err == nil {
		t.Error("unknown version: no error")
	}
}
