package filter_test

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/crawld/crawld/filter"
)

// defaultLimits are crawld's defaults.
var defaultLimits = filter.Limits{MaxURLLength: 2048, MaxPathSegments: 32, MaxRepeats: 3}

// urlOfLen returns a normalised URL of n bytes, n >= 9.
func urlOfLen(t testing.TB, n int) *url.URL {
	return mustParse(t, "http://a/"+strings.Repeat("x", n-len("http://a/")))
}

func TestLimits(t *testing.T) {
	length := func(n int) filter.Limits { return filter.Limits{MaxURLLength: n} }
	segs := func(n int) filter.Limits { return filter.Limits{MaxPathSegments: n} }
	reps := func(n int) filter.Limits { return filter.Limits{MaxRepeats: n} }
	tests := []struct {
		name   string
		limits filter.Limits
		u      *url.URL
		want   filter.Reason
	}{
		// MaxURLLength.
		{"length at limit", length(100), urlOfLen(t, 100), filter.ReasonOK},
		{"length one over", length(100), urlOfLen(t, 101), filter.ReasonTooLong},
		{"length default at limit", defaultLimits, urlOfLen(t, 2048), filter.ReasonOK},
		{"length default one over", defaultLimits, urlOfLen(t, 2049), filter.ReasonTooLong},
		{"length counts query", length(14), mustParse(t, "http://a/?q=12"), filter.ReasonOK},
		{"length counts query, over", length(13), mustParse(t, "http://a/?q=12"), filter.ReasonTooLong},
		{"length is escaped length", length(18), mustParse(t, "http://a/café"), filter.ReasonOK}, // http://a/caf%C3%A9
		{"length is escaped length, over", length(17), mustParse(t, "http://a/café"), filter.ReasonTooLong},
		{"length keeps escaped slash", length(14), mustParse(t, "http://a/b%2fc"), filter.ReasonOK}, // http://a/b%2Fc
		{"length keeps escaped slash, over", length(13), mustParse(t, "http://a/b%2fc"), filter.ReasonTooLong},
		{"length counts userinfo", length(13), mustParse(t, "http://u:p@a/"), filter.ReasonOK},
		{"length counts userinfo, over", length(12), mustParse(t, "http://u:p@a/"), filter.ReasonTooLong},
		{"length escapes userinfo", length(15), mustParse(t, "http://a%40b@h/"), filter.ReasonOK},
		{"length escapes userinfo, over", length(14), mustParse(t, "http://a%40b@h/"), filter.ReasonTooLong},
		{"length escapes zone", length(23), mustParse(t, "http://[fe80::1%25en0]/"), filter.ReasonOK},
		{"length escapes zone, over", length(22), mustParse(t, "http://[fe80::1%25en0]/"), filter.ReasonTooLong},
		{"length without fragment", length(10), rawURL(t, "http://a/x#fragment"), filter.ReasonOK},
		{"length counts forced query", length(10), rawURL(t, "http://a/?"), filter.ReasonOK},
		{"length counts forced query, over", length(9), rawURL(t, "http://a/?"), filter.ReasonTooLong},
		{"length of relative path", length(10), &url.URL{Scheme: "http", Host: "a", Path: "x"}, filter.ReasonOK}, // http://a/x
		{"length of relative path, over", length(9), &url.URL{Scheme: "http", Host: "a", Path: "x"}, filter.ReasonTooLong},
		{"length of star", length(10), &url.URL{Scheme: "http", Host: "a", Path: "*"}, filter.ReasonOK}, // http://a/*
		{"length of star, over", length(9), &url.URL{Scheme: "http", Host: "a", Path: "*"}, filter.ReasonTooLong},

		// MaxPathSegments.
		{"segments at limit", segs(3), mustParse(t, "http://a/a/b/c"), filter.ReasonOK},
		{"segments one over", segs(3), mustParse(t, "http://a/a/b/c/d"), filter.ReasonTrap},
		{"segments trailing slash", segs(3), mustParse(t, "http://a/a/b/c/"), filter.ReasonOK},
		{"segments empty ignored", segs(3), mustParse(t, "http://a/a//b///c"), filter.ReasonOK},
		{"segments root", segs(1), mustParse(t, "http://a/"), filter.ReasonOK},
		{"segments escaped slash", segs(2), mustParse(t, "http://a/a%2Fb/c%2fd"), filter.ReasonOK},
		{"segments query ignored", segs(1), mustParse(t, "http://a/a?b=/c/d"), filter.ReasonOK},
		{"segments default at limit", defaultLimits, mustParse(t, "http://a"+distinct(32)), filter.ReasonOK},
		{"segments default one over", defaultLimits, mustParse(t, "http://a"+distinct(33)), filter.ReasonTrap},

		// MaxRepeats.
		{"repeats at limit", reps(3), mustParse(t, "http://a/a/b/a/b/a/b"), filter.ReasonOK},
		{"repeats one over", reps(3), mustParse(t, "http://a/a/b/a/b/a/b/a"), filter.ReasonTrap},
		{"calendar", defaultLimits, mustParse(t, "http://a/cal/2024/01/next/next/next/next"), filter.ReasonTrap},
		{"calendar at limit", defaultLimits, mustParse(t, "http://a/cal/2024/01/next/next/next"), filter.ReasonOK},
		{"repeats not adjacent", reps(3), mustParse(t, "http://a/x/a/y/a/z/a/w/a"), filter.ReasonTrap},
		{"repeats last segments", reps(1), mustParse(t, "http://a/a/b/c/d/d"), filter.ReasonTrap},
		{"repeats first and last", reps(1), mustParse(t, "http://a/d/a/b/c/d"), filter.ReasonTrap},
		{"repeats of one", reps(1), mustParse(t, "http://a/a/b/c/d"), filter.ReasonOK},
		{"repeats empty ignored", reps(1), mustParse(t, "http://a/a//b//c//"), filter.ReasonOK},
		{"repeats case sensitive", reps(1), mustParse(t, "http://a/A/a"), filter.ReasonOK},
		{"repeats whole segments", reps(1), mustParse(t, "http://a/a/ab/ba/aa"), filter.ReasonOK},
		{"repeats query ignored", reps(1), mustParse(t, "http://a/a?x=/a/a"), filter.ReasonOK},
		{"repeats escaped segments", reps(1), mustParse(t, "http://a/a%2Fb/a%2fb"), filter.ReasonTrap},
		{"repeats escaped slash is no separator", reps(1), mustParse(t, "http://a/a%2Fb/a/b"), filter.ReasonOK},
		{"repeats non-ascii", reps(1), mustParse(t, "http://a/café/caf%C3%A9"), filter.ReasonTrap},
		{"repeats many segments", reps(1), mustParse(t, "http://a"+distinct(100)), filter.ReasonOK},
		{"repeats many segments, first and last", reps(1), mustParse(t, "http://a/s99"+distinct(100)), filter.ReasonTrap},
		{"repeats many segments, late", reps(2), mustParse(t, "http://a"+distinct(100)+"/s70/s70"), filter.ReasonTrap},
		{"repeats many segments, at limit", reps(2), mustParse(t, "http://a"+distinct(100)+"/s70"), filter.ReasonOK},
		{"repeats escaped byte for byte", reps(1), rawURL(t, "http://a/%41/A"), filter.ReasonOK},

		// Paths net/url does not make itself: EscapedPath ignores a RawPath
		// that does not encode Path.
		{"stale raw path ignored", reps(1), &url.URL{Scheme: "http", Host: "a", Path: "/a/a", RawPath: "/a/b"}, filter.ReasonTrap},
		{"raw path with bad escape ignored", reps(1), &url.URL{Scheme: "http", Host: "a", Path: "/a/a", RawPath: "/a%2Fa%"}, filter.ReasonTrap},
		{"raw path with unescaped byte ignored", reps(1), &url.URL{Scheme: "http", Host: "a", Path: "/a?/a?", RawPath: "/a?%2Fa?"}, filter.ReasonTrap},
		{"raw path escaping too much used", reps(1), &url.URL{Scheme: "http", Host: "a", Path: "/a/a", RawPath: "/%61%2F%61"}, filter.ReasonOK},
		{"raw path used", reps(1), &url.URL{Scheme: "http", Host: "a", Path: "/a/a", RawPath: "/a%2Fa"}, filter.ReasonOK},

		// No limits.
		{"zero limits", filter.Limits{}, mustParse(t, "http://a/a/a/a/a/a"+distinct(100)+strings.Repeat("x", 3000)), filter.ReasonOK},
		{"negative limits", filter.Limits{MaxURLLength: -1, MaxPathSegments: -1, MaxRepeats: -1}, mustParse(t, "http://a/a/a/a/a/a"+distinct(100)), filter.ReasonOK},

		// Order.
		{"too long before trap", defaultLimits, mustParse(t, "http://a"+strings.Repeat("/next", 500)), filter.ReasonTooLong},
		{"invalid before too long", length(1), &url.URL{Scheme: "http", Path: "/"}, filter.ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&filter.Rules{}).WithLimits(tt.limits)
			if got := r.Check(tt.u); got != tt.want {
				t.Errorf("Limits %+v: Check(%q) = %v, want %v", tt.limits, tt.u, got, tt.want)
			}
		})
	}
}

// rawURL parses raw without normalising it.
func rawURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// distinct returns a path of n different segments.
func distinct(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("/s")
		b.WriteString(strconv.Itoa(i))
	}
	return b.String()
}

func TestLimitsAfterAllowLists(t *testing.T) {
	r := testRules(t).WithLimits(filter.Limits{MaxURLLength: 30, MaxRepeats: 1})
	tests := []struct {
		name string
		in   string
		want filter.Reason
	}{
		{"ok", "http://example.com/a/b.html", filter.ReasonOK},
		{"scheme before too long", "ftp://example.com/" + strings.Repeat("x", 30), filter.ReasonScheme},
		{"domain before trap", "http://other.com/a/a", filter.ReasonDomain},
		{"extension before too long", "http://example.com/" + strings.Repeat("x", 30) + ".jpg", filter.ReasonExtension},
		{"extension before trap", "http://example.com/a.jpg/a.jpg", filter.ReasonExtension},
		{"too long", "http://example.com/" + strings.Repeat("x", 30) + ".html", filter.ReasonTooLong},
		{"too long before trap", "http://example.com/a/a/a/a/a/a.html", filter.ReasonTooLong},
		{"trap", "http://example.com/a/a.html/a", filter.ReasonTrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustParse(t, tt.in)
			if got := r.Check(u); got != tt.want {
				t.Errorf("Check(%q) = %v, want %v", u, got, tt.want)
			}
		})
	}
}

func TestWithLimits(t *testing.T) {
	r := testRules(t)
	trap := mustParse(t, "http://example.com/a/a/a/a")
	limited := r.WithLimits(defaultLimits)
	if got := limited.Check(trap); got != filter.ReasonTrap {
		t.Errorf("WithLimits(%+v).Check(%q) = %v, want trap", defaultLimits, trap, got)
	}
	if got := r.Check(trap); got != filter.ReasonOK {
		t.Errorf("WithLimits modified its receiver: Check(%q) = %v, want ok", trap, got)
	}
	if other := mustParse(t, "http://other.com/"); limited.Check(other) != filter.ReasonDomain {
		t.Errorf("WithLimits dropped the allow-lists: Check(%q) = %v, want domain", other, limited.Check(other))
	}
	if got := limited.WithLimits(filter.Limits{}).Check(trap); got != filter.ReasonOK {
		t.Errorf("WithLimits(Limits{}) kept the earlier limits: Check(%q) = %v, want ok", trap, got)
	}
}

// TestURLLengthExact checks that MaxURLLength measures exactly len(String())
// for every normalised URL of the Normalize tests.
func TestURLLengthExact(t *testing.T) {
	for _, tt := range normalizeTests {
		u, err := filter.Parse(tt.in)
		if err != nil {
			continue // relative or opaque
		}
		n := len(u.String())
		for _, c := range []struct {
			limit int
			want  filter.Reason
		}{{n, filter.ReasonOK}, {n - 1, filter.ReasonTooLong}} {
			r := (&filter.Rules{}).WithLimits(filter.Limits{MaxURLLength: c.limit})
			if got := r.Check(u); got != c.want {
				t.Errorf("%s: MaxURLLength %d: Check(%q) = %v, want %v", tt.name, c.limit, u, got, c.want)
			}
		}
	}
}

func TestCheckAllocsLimits(t *testing.T) {
	r := testRules(t).WithLimits(defaultLimits)
	urls := append(checkURLs(t), limitURLs(t)...)
	for _, u := range urls {
		if got := testing.AllocsPerRun(100, func() { r.Check(u) }); got != 0 {
			t.Errorf("Check(%q) with limits allocates %v times, want 0", u, got)
		}
	}
}

// limitURLs are URLs that exercise every limit, including paths whose
// EscapedPath allocates: non-ASCII, and a RawPath.
func limitURLs(t testing.TB) []*url.URL {
	var urls []*url.URL
	for _, in := range []string{
		"http://example.com/cal/2024/01/next/next/next/next",
		"https://u:p%40@example.com/caf%C3%A9/%E6%97%A5/index.html?q=1",
		"http://example.com/a%2Fb/c%2Fd/a%2Fb/x.php",
		"http://[fe80::1%25en0]:8080/x",
		"https://www.dot.net" + distinct(32),
		"https://www.dot.net" + distinct(40),
		"http://example.com/" + strings.Repeat("x", 2100),
	} {
		urls = append(urls, mustParse(t, in))
	}
	return urls
}

func BenchmarkRules_CheckLimits(b *testing.B) {
	r := testRules(b).WithLimits(defaultLimits)
	urls := append(checkURLs(b), limitURLs(b)...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Check(urls[i%len(urls)])
	}
}

// BenchmarkRules_CheckLimitsWorst checks the costliest path the default
// limits accept: 32 distinct segments, each compared with all the others.
func BenchmarkRules_CheckLimitsWorst(b *testing.B) {
	r := (&filter.Rules{}).WithLimits(defaultLimits)
	u := mustParse(b, "http://example.com"+distinct(32))
	b.ReportAllocs()
	for b.Loop() {
		r.Check(u)
	}
}

// FuzzRules checks Check with limits against a straightforward version that
// builds u.String() and u.EscapedPath() and counts segments in a map, and
// that Check is deterministic and leaves u alone.
func FuzzRules(f *testing.F) {
	for _, seed := range []struct {
		raw                  string
		length, segs, repeat int16
	}{
		{"http://a/cal/2024/01/next/next/next/next", 2048, 32, 3},
		{"https://u:p@[fe80::1%25en0]:8080/caf%C3%A9/a%2Fb?q=1#f", 40, 3, 1},
		{"http://a/a%2Fb/a/b/a%2fb", 0, 2, 1},
		{"http://a/*", 10, -1, 0},
		{"HTTP://A/%41/A/./a/../A?", 20, 2, 1},
	} {
		f.Add(seed.raw, seed.length, int8(seed.segs), int8(seed.repeat))
	}
	f.Fuzz(func(t *testing.T, raw string, length int16, segs, repeat int8) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		l := filter.Limits{MaxURLLength: int(length), MaxPathSegments: int(segs), MaxRepeats: int(repeat)}
		r := (&filter.Rules{}).WithLimits(l)
		for _, u := range []*url.URL{u, filter.Normalize(u)} {
			before := *u
			got := r.Check(u)
			if again := r.Check(u); again != got {
				t.Fatalf("Check(%q) = %v, then %v", u, got, again)
			}
			if !reflect.DeepEqual(*u, before) {
				t.Fatalf("Check(%q) modified its argument", u)
			}
			if want := checkLimits(u, l); got != want {
				t.Fatalf("Limits %+v: Check(%q) = %v, want %v", l, u, got, want)
			}
		}
	})
}

// checkLimits is what Check of Rules with only limits l returns, written
// without regard for allocations.
func checkLimits(u *url.URL, l filter.Limits) filter.Reason {
	if u.Opaque != "" || u.Scheme == "" || u.Hostname() == "" {
		return filter.ReasonInvalid
	}
	sent := *u
	sent.Fragment, sent.RawFragment = "", ""
	if l.MaxURLLength > 0 && len(sent.String()) > l.MaxURLLength {
		return filter.ReasonTooLong
	}
	count := make(map[string]int)
	n := 0
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if seg != "" {
			count[seg]++
			n++
			if l.MaxRepeats > 0 && count[seg] > l.MaxRepeats {
				return filter.ReasonTrap
			}
		}
	}
	if l.MaxPathSegments > 0 && n > l.MaxPathSegments {
		return filter.ReasonTrap
	}
	return filter.ReasonOK
}
