package robots

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGroups(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		agent string
		want  map[string]bool
	}{
		{"specific group beats *",
			"User-agent: *\nDisallow: /\n\nUser-agent: crawld\nDisallow: /private\n", "crawld",
			map[string]bool{"/": true, "/private": false}},
		{"* when nothing names the crawler",
			"User-agent: *\nDisallow: /x\n\nUser-agent: other\nDisallow: /\n", "crawld",
			map[string]bool{"/": true, "/x": false}},
		{"no group applies",
			"User-agent: other\nDisallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"case-insensitive token",
			"User-agent: CRAWLD\nDisallow: /\n", "Crawld",
			map[string]bool{"/": false}},
		{"not a prefix of a longer token",
			"User-agent: crawld-news\nDisallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"not a prefix of the crawler's token",
			"User-agent: craw\nDisallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"token ends at a version",
			"User-agent: crawld/1.2\nDisallow: /\n", "crawld",
			map[string]bool{"/": false}},
		{"token ends at a space",
			"User-agent: crawld the crawler\nDisallow: /\n", "crawld",
			map[string]bool{"/": false}},
		{"groups naming the crawler merge",
			"User-agent: crawld\nDisallow: /a\n\nUser-agent: other\nDisallow: /b\n\nUser-agent: crawld\nDisallow: /c\n", "crawld",
			map[string]bool{"/a": false, "/b": true, "/c": false}},
		{"* groups merge",
			"User-agent: *\nDisallow: /a\n\nUser-agent: other\nDisallow: /b\n\nUser-agent: *\nDisallow: /c\n", "crawld",
			map[string]bool{"/a": false, "/b": true, "/c": false}},
		{"rules merge across groups by length",
			"User-agent: crawld\nAllow: /a/b\n\nUser-agent: crawld\nDisallow: /a\n", "crawld",
			map[string]bool{"/a/b": true, "/a/c": false}},
		{"shared group",
			"User-agent: other\nUser-agent: crawld\nDisallow: /x\n", "crawld",
			map[string]bool{"/x": false}},
		{"blank lines do not end the user-agent lines",
			"User-agent: other\n\nUser-agent: crawld\n\nDisallow: /x\n", "crawld",
			map[string]bool{"/x": false}},
		{"empty matching group allows all, no fall back to *",
			"User-agent: *\nDisallow: /\n\nUser-agent: crawld\n", "crawld",
			map[string]bool{"/": true, "/x": true}},
		{"group of only an empty disallow",
			"User-agent: crawld\nDisallow:\n\nUser-agent: *\nDisallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"rules before the first user-agent are ignored",
			"Disallow: /\nAllow: /x\n\nUser-agent: crawld\nDisallow: /private\n", "crawld",
			map[string]bool{"/": true, "/private": false}},
		{"rules before any user-agent, alone",
			"Disallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"a user-agent after a rule starts a new group",
			"User-agent: crawld\nDisallow: /a\nUser-agent: other\nDisallow: /b\n", "crawld",
			map[string]bool{"/a": false, "/b": true}},
		{"sitemap does not end the user-agent lines",
			"User-agent: crawld\nSitemap: https://e.com/s.xml\nUser-agent: *\nDisallow: /\n", "crawld",
			map[string]bool{"/": false}},
		{"unknown lines do not end the user-agent lines",
			"User-agent: crawld\nFoo: bar\nUser-agent: other\nDisallow: /\n", "crawld",
			map[string]bool{"/": false}},
		{"crawl-delay does not end the user-agent lines",
			"User-agent: crawld\nCrawl-delay: 1\nUser-agent: other\nDisallow: /\n", "crawld",
			map[string]bool{"/": false}},
		{"* with a trailing comment word",
			"User-agent: * everyone\nDisallow: /\n", "crawld",
			map[string]bool{"/": false}},
		{"*bot is not *",
			"User-agent: *bot\nDisallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"empty user-agent value matches nothing",
			"User-agent:\nDisallow: /\n", "crawld",
			map[string]bool{"/": true}},
		{"invalid crawler token matches no group",
			"User-agent: foo bar\nDisallow: /\nUser-agent: *\nAllow: /\n", "foo bar",
			map[string]bool{"/": true}},
		{"empty crawler token matches no group",
			"User-agent: \nDisallow: /\n", "",
			map[string]bool{"/": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.body, tt.agent, tt.want) })
	}
}

func TestSyntax(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"plain", "User-agent: crawld\nDisallow: /x\n"},
		{"odd spacing", "  User-agent :crawld  \n\tDisallow\t:\t/x \t\n"},
		{"space before colon", "User-agent : crawld\nDisallow : /x\n"},
		{"key case", "USER-AGENT: crawld\ndisALLOW: /x\n"},
		{"no colon", "User-agent crawld\nDisallow /x\n"},
		{"CRLF", "User-agent: crawld\r\nDisallow: /x\r\n"},
		{"CR only", "User-agent: crawld\rDisallow: /x\r"},
		{"mixed endings", "User-agent: other\r\nAllow: /\nUser-agent: crawld\r\r\nDisallow: /x"},
		{"no final newline", "User-agent: crawld\nDisallow: /x"},
		{"BOM", "\uFEFFUser-agent: crawld\nDisallow: /x\n"},
		{"partial BOM", "\xEF\xBBUser-agent: crawld\nDisallow: /x\n"},
		{"comments", "# hello\nUser-agent: crawld # us\n# Disallow: /\nDisallow: /x#y\n"},
		{"unknown lines", "Host: example.com\nUser-agent: crawld\nClean-param: a\n<br />\nNoindex: /y\nDisallow: /x\nthis is prose\n"},
		{"html junk", "<html><body>\nUser-agent: crawld\n<p>\nDisallow: /x\n</body></html>\n"},
		{"NUL and controls", "\x00\x01\nUser-agent: crawld\nDisallow: /x\n\x7F\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.body, "crawld", map[string]bool{"/x": false, "/x/y": false, "/y": true, "/": true})
		})
	}

	t.Run("BOM mid-file spoils the line", func(t *testing.T) {
		check(t, "User-agent: crawld\n\uFEFFDisallow: /x\n", "crawld", map[string]bool{"/x": true})
	})
	t.Run("no colon, three words", func(t *testing.T) {
		check(t, "User-agent: crawld\nDisallow /x please\n", "crawld", map[string]bool{"/x": true})
	})
	t.Run("long line cut like the reference", func(t *testing.T) {
		long := "/x/" + strings.Repeat("a", 20000)
		r := Parse([]byte("User-agent: crawld\nDisallow: "+long+"\n"), "crawld")
		keep := maxLineLen - len("Disallow: ")
		if got := r.Allowed(long[:keep] + "zzz"); got {
			t.Errorf("Allowed(rule cut at %d octets + zzz) = %v, want false", keep, got)
		}
		if got := r.Allowed(long[:keep-1] + "zzz"); !got {
			t.Errorf("Allowed(shorter than the cut rule) = %v, want true", got)
		}
	})
}

func TestCrawlDelay(t *testing.T) {
	tests := []struct {
		name string
		body string
		want time.Duration
	}{
		{"integer", "User-agent: crawld\nCrawl-delay: 5\n", 5 * time.Second},
		{"fractional", "User-agent: crawld\nCrawl-delay: 0.5\n", 500 * time.Millisecond},
		{"leading dot", "User-agent: crawld\nCrawl-delay: .25\n", 250 * time.Millisecond},
		{"spaced", "User-agent: crawld\nCrawl-delay : 60\n", time.Minute},
		{"zero", "User-agent: crawld\nCrawl-delay: 0\n", 0},
		{"negative", "User-agent: crawld\nCrawl-delay: -5\n", 0},
		{"invalid", "User-agent: crawld\nCrawl-delay: soon\n", 0},
		{"unit", "User-agent: crawld\nCrawl-delay: 5s\n", 0},
		{"two dots", "User-agent: crawld\nCrawl-delay: 1.2.3\n", 0},
		{"exponent", "User-agent: crawld\nCrawl-delay: 1e3\n", 0},
		{"NaN", "User-agent: crawld\nCrawl-delay: NaN\n", 0},
		{"empty", "User-agent: crawld\nCrawl-delay:\n", 0},
		{"none", "User-agent: crawld\nDisallow: /\n", 0},
		{"huge saturates", "User-agent: crawld\nCrawl-delay: 99999999999999999999\n", time.Duration(1<<63 - 1)},
		{"non-matching group", "User-agent: other\nCrawl-delay: 5\n", 0},
		{"from *", "User-agent: other\nCrawl-delay: 5\nUser-agent: *\nCrawl-delay: 2\n", 2 * time.Second},
		{"specific group without one ignores *", "User-agent: *\nCrawl-delay: 2\nUser-agent: crawld\nDisallow: /x\n", 0},
		{"specific beats *", "User-agent: *\nCrawl-delay: 2\nUser-agent: crawld\nCrawl-delay: 7\n", 7 * time.Second},
		{"largest of merged groups", "User-agent: crawld\nCrawl-delay: 3\nUser-agent: x\nDisallow: /\nUser-agent: crawld\nCrawl-delay: 10\nCrawl-delay: oops\n", 10 * time.Second},
		{"invalid does not hide valid", "User-agent: crawld\nCrawl-delay: -1\nCrawl-delay: 4\n", 4 * time.Second},
		{"before any user-agent", "Crawl-delay: 5\nUser-agent: crawld\n", 0},
		{"shared group", "User-agent: crawld\nUser-agent: other\nCrawl-delay: 1.5\n", 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse([]byte(tt.body), "crawld").CrawlDelay(); got != tt.want {
				t.Errorf("CrawlDelay() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSitemaps(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"none", "User-agent: *\nDisallow: /\n", nil},
		{"global, dedup, order",
			"Sitemap: https://e.com/a.xml\nUser-agent: other\nSitemap: https://e.com/b.xml\nDisallow: /\n" +
				"User-agent: crawld\nsitemap : https://e.com/a.xml\nSITEMAP: https://e.com/c.xml # main\nSitemap:\n",
			[]string{"https://e.com/a.xml", "https://e.com/b.xml", "https://e.com/c.xml"}},
		{"case of URLs kept", "Sitemap: https://e.com/A.xml\nSitemap: https://e.com/a.xml\n",
			[]string{"https://e.com/A.xml", "https://e.com/a.xml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Parse([]byte(tt.body), "crawld")
			got := r.Sitemaps()
			if !slices.Equal(got, tt.want) {
				t.Errorf("Sitemaps() = %q, want %q", got, tt.want)
			}
			if len(got) > 0 {
				got[0] = "changed"
				if again := r.Sitemaps(); again[0] == "changed" {
					t.Errorf("Sitemaps() returned the Rules' own slice")
				}
			}
		})
	}
}

// padTo appends comment lines to b until it is n bytes long.
func padTo(b []byte, n int) []byte {
	for len(b) < n {
		line := "# " + strings.Repeat("x", min(78, max(0, n-len(b)-3))) + "\n"
		if len(b)+len(line) > n {
			line = strings.Repeat("#", n-len(b)-1) + "\n"
		}
		b = append(b, line...)
	}
	return b
}

func TestMaxSize(t *testing.T) {
	var b []byte
	b = append(b, "User-agent: *\n"...)
	b = padTo(b, 400<<10)
	b = append(b, "Disallow: /within\n"...)
	b = padTo(b, 550<<10)
	b = append(b, "Disallow: /beyond\n"...)
	b = padTo(b, 600<<10)
	if len(b) != 600<<10 {
		t.Fatalf("test file is %d bytes, want %d", len(b), 600<<10)
	}
	check(t, string(b), "crawld", map[string]bool{"/within": false, "/beyond": true, "/": true})

	t.Run("line cut by the limit is dropped", func(t *testing.T) {
		var b []byte
		b = append(b, "User-agent: *\n"...)
		b = padTo(b, MaxSize-len("Disallow: /p"))
		b = append(b, "Disallow: /private\n"...)
		// As the crawler reads it: the first MaxSize bytes only.
		b = b[:MaxSize]
		check(t, string(b), "crawld", map[string]bool{"/public": true, "/private": true})
	})
	t.Run("last line of a short file is kept", func(t *testing.T) {
		check(t, "User-agent: *\nDisallow: /p", "crawld", map[string]bool{"/public": false})
	})
	t.Run("no line break at all", func(t *testing.T) {
		b := []byte("User-agent: * Disallow: /" + strings.Repeat("x", MaxSize))
		check(t, string(b), "crawld", map[string]bool{"/": true})
	})
}
