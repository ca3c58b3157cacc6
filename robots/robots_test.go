package robots

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// conformanceFile is Google's robotstxt test suite (robots_test.cc and the
// robotstxt-spec-test cases), as JSON, relative to this package's directory.
const conformanceFile = "../../shared/conformance/robots/google-cases.json"

type conformanceCase struct {
	Name         string `json:"name"`
	Robots       string `json:"robots"`
	RobotsBase64 string `json:"robots_base64"`
	Agent        string `json:"agent"`
	URL          string `json:"url"`
	Path         string `json:"path"`
	Allowed      bool   `json:"allowed"`
	RFC          bool   `json:"rfc"`
	Level        string `json:"level"`
	Note         string `json:"note"`
}

// requestTarget returns what an HTTP client would send for rawURL; the
// suite's empty URL stands for "/".
func requestTarget(rawURL string) (string, error) {
	if rawURL == "" {
		return "/", nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	return u.RequestURI(), nil
}

// TestConformance runs the reference suite. Cases the RFC decides (rfc:
// true) must all pass; Google-only ones (rfc: false) are counted, not
// required.
func TestConformance(t *testing.T) {
	data, err := os.ReadFile(conformanceFile)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("conformance suite %s not present; skipping", conformanceFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	var cases []conformanceCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("decode %s: %v", conformanceFile, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s holds no cases", conformanceFile)
	}

	var rfcPass, rfcTotal, googlePass, googleTotal int
	var googleFailed []string
	for _, c := range cases {
		body := []byte(c.Robots)
		if c.RobotsBase64 != "" {
			body, err = base64.StdEncoding.DecodeString(c.RobotsBase64)
			if err != nil {
				t.Fatalf("%s: robots_base64: %v", c.Name, err)
			}
		}
		target, err := requestTarget(c.URL)
		if err != nil {
			t.Fatalf("%s: url %q: %v", c.Name, c.URL, err)
		}
		got := Parse(body, c.Agent).Allowed(target)
		if c.RFC {
			// No subtest per case, so that the figures below end the -v output.
			rfcTotal++
			if got == c.Allowed {
				rfcPass++
			} else {
				t.Errorf("%s: agent %q, target %q: Allowed = %v, want %v (RFC 9309 %s) %s",
					c.Name, c.Agent, shorten(target), got, c.Allowed, c.Level, c.Note)
			}
			continue
		}
		googleTotal++
		if got == c.Allowed {
			googlePass++
		} else {
			googleFailed = append(googleFailed, c.Name)
		}
	}
	t.Logf("Google-only cases answered differently: %s", strings.Join(googleFailed, ", "))
	t.Logf("rfc:true passed %d/%d; rfc:false (Google-only) passed %d/%d", rfcPass, rfcTotal, googlePass, googleTotal)
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:60] + "..." + s[len(s)-17:]
	}
	return s
}

// check parses body for agent and compares Allowed for each target.
func check(t *testing.T, body, agent string, want map[string]bool) {
	t.Helper()
	r := Parse([]byte(body), agent)
	targets := make([]string, 0, len(want))
	for target := range want {
		targets = append(targets, target)
	}
	slices.Sort(targets)
	for _, target := range targets {
		if got := r.Allowed(target); got != want[target] {
			t.Errorf("agent %q: Allowed(%q) = %v, want %v", agent, target, got, want[target])
		}
	}
}

// rfcExample is the example file of RFC 9309 5.1.
const rfcExample = `User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
`

func TestRFCExample(t *testing.T) {
	tests := []struct {
		agent string
		want  map[string]bool
	}{
		{"foobot", map[string]bool{
			"/example/page.html":   true,
			"/example/allowed.gif": true,
			"/example/other.html":  false,
			"/":                    false,
			"/publications/":       false,
			"/robots.txt":          true,
		}},
		{"barbot", map[string]bool{
			"/example/page.html":  false,
			"/example/other.html": true,
			"/a.gif":              true,
		}},
		{"BazBot", map[string]bool{
			"/example/page.html": false,
			"/publications/x":    true,
		}},
		{"quxbot", map[string]bool{ // empty group: everything allowed
			"/":                  true,
			"/example/page.html": true,
			"/a.gif":             true,
		}},
		{"crawld", map[string]bool{ // the "*" group
			"/":                 true,
			"/a.gif":            false,
			"/a.gif?x=1":        true,
			"/example/":         false,
			"/example/x.html":   false,
			"/publications/":    true,
			"/publications/gif": true,
			// Both match; "/publications/" has 14 octets to "*.gif$"'s 6.
			"/publications/a.gif": true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) { check(t, rfcExample, tt.agent, tt.want) })
	}
}

// TestRFCLongestMatch is RFC 9309 5.2.
func TestRFCLongestMatch(t *testing.T) {
	check(t, "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n", "foobot",
		map[string]bool{
			"/example/page/":                 true,
			"/example/page/x":                true,
			"/example/page/disallowed.gif":   false,
			"/example/page/disallowed.gifff": false,
		})
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name    string
		pattern string // the only rule, a disallow
		want    map[string]bool
	}{
		{"prefix", "/fish", map[string]bool{
			"/fish": false, "/fish.html": false, "/fish/salmon": false, "/fishheads": false,
			"/Fish.asp": true, "/catfish": true, "/?id=fish": true, "/": true,
		}},
		{"trailing slash", "/fish/", map[string]bool{
			"/fish/": false, "/fish/?id=1": false, "/fish": true, "/fish.html": true,
		}},
		{"trailing star is no star", "/fish*", map[string]bool{
			"/fish": false, "/fishheads/x": false, "/catfish": true,
		}},
		{"inner star", "/*.php", map[string]bool{
			"/index.php": false, "/a/b.php?x": false, "/a.php5": false, "/php": true, "/index?php": true,
		}},
		{"star and dollar", "/*.php$", map[string]bool{
			"/index.php": false, "/a/b.php": false, "/a.php?x": true, "/a.php5": true, "/a.php/": true,
		}},
		{"dollar", "/foo/bar$", map[string]bool{
			"/foo/bar": false, "/foo/bar/": true, "/foo/bar?x": true, "/foo/barx": true,
		}},
		{"dollar not at end is literal", "/a$b", map[string]bool{
			"/a$b": false, "/a$bc": false, "/a": true, "/ab": true,
		}},
		{"dollar alone matches nothing", "$", map[string]bool{"/": true, "/x": true}},
		{"star dollar matches all", "*$", map[string]bool{"/": false, "/x?y": false}},
		{"leading star", "*.gif$", map[string]bool{"/a.gif": false, "/a/b.gif": false, "/a.gif?x": true}},
		{"no leading slash never matches a path", "private/", map[string]bool{"/private/": true}},
		{"several stars", "/a*b*c", map[string]bool{
			"/abc": false, "/a-b-c-d": false, "/axxbxxcxx": false, "/acb": true, "/ab": true,
		}},
		{"double star", "/a**c$", map[string]bool{"/ac": false, "/abbc": false, "/acd": true}},
		{"anchored needs room", "/ab*ba$", map[string]bool{"/aba": true, "/abba": false, "/abxba": false}},
		{"case-sensitive", "/X/", map[string]bool{"/x/y": true, "/X/y": false}},
		{"query", "/*?", map[string]bool{"/a?b": false, "/a": true}},
		{"comment", "/foo/quz#qux", map[string]bool{"/foo/quz": false, "/foo/qu": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "User-agent: *\nDisallow: "+tt.pattern+"\n", "crawld", tt.want)
		})
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		want  map[string]bool
	}{
		{"tie goes to allow", "Disallow: /page\nAllow: /page\n", map[string]bool{"/page": true}},
		{"tie goes to allow, either order", "Allow: /page\nDisallow: /page\n", map[string]bool{"/page": true}},
		{"tie with wildcards", "Disallow: /*.htm\nAllow: /p*.htm\n", map[string]bool{"/page.htm": true}},
		{"longer disallow wins", "Allow: /x/\nDisallow: /x/page.html\n", map[string]bool{
			"/x/page.html": false, "/x/other": true,
		}},
		{"longer allow wins", "Disallow: /x/\nAllow: /x/page.html\n", map[string]bool{
			"/x/page.html": true, "/x/other": false,
		}},
		{"octets of the pattern, not of the match", "Allow: /x/page.\nDisallow: /*.html\n", map[string]bool{
			"/x/page.html": true, "/x/y.html": false,
		}},
		{"/ beaten by anything", "Disallow: /\nAllow: /$\n", map[string]bool{"/": true, "/page": false}},
		{"empty disallow matches nothing", "Disallow:\n", map[string]bool{"/": true, "/x": true}},
		{"empty allow matches nothing", "Disallow: /\nAllow:\n", map[string]bool{"/x": false}},
		{"no rule matches", "Disallow: /private\n", map[string]bool{"/public": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, "User-agent: crawld\n"+tt.rules, "crawld", tt.want) })
	}
}

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

func TestEncoding(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    map[string]bool
	}{
		{"UTF-8 pattern", "/foo/bar/ツ", map[string]bool{
			"/foo/bar/%E3%83%84": false, "/foo/bar/%e3%83%84": false, "/foo/bar/%E3%83%84/x": false,
			"/foo/bar/ツ": false, "/foo/bar/": true,
		}},
		{"escaped pattern", "/foo/bar/%E3%83%84", map[string]bool{
			"/foo/bar/%E3%83%84": false, "/foo/bar/%e3%83%84": false, "/foo/bar/ツ": false,
		}},
		{"lowercase escape in pattern", "/a%2fb", map[string]bool{"/a%2Fb": false, "/a%2fb": false, "/a/b": true}},
		{"escaped slash stays escaped", "/a%2Fb", map[string]bool{"/a%2Fb": false, "/a/b": true}},
		{"escaped unreserved decoded", "/foo/bar/%62%61%7A", map[string]bool{
			"/foo/bar/baz": false, "/foo/bar/%62%61%7a": false, "/foo/bar/ba": true,
		}},
		{"tilde", "/%7Euser/", map[string]bool{"/~user/x": false, "/%7euser/x": false, "/user/": true}},
		{"escaped star is literal", "/a%2A", map[string]bool{"/a%2A": false, "/a%2a": false, "/ab": true, "/a*": true}},
		{"escaped dollar is literal", "/a%24", map[string]bool{"/a%24": false, "/a%24b": false, "/a": true}},
		{"space", "/a b", map[string]bool{"/a%20b": false, "/a+b": true}},
		{"stray percent", "/100%", map[string]bool{"/100%25": false, "/100": true}},
		{"query as written", "/foo/bar?qux=taz&baz=http://foo.bar?tar&par", map[string]bool{
			"/foo/bar?qux=taz&baz=http://foo.bar?tar&par": false,
			"/foo/bar?qux=taz&baz=http%3A%2F%2Ffoo.bar":   true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "User-agent: *\nAllow: /\nDisallow: "+tt.pattern+"\n", "crawld", tt.want)
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/b?c=d", "/a/b?c=d"},
		{"/%e3%83%84", "/%E3%83%84"},
		{"/ツ", "/%E3%83%84"},
		{"/%41%2d%7e%5F", "/A-~_"},
		{"/%2f%3a", "/%2F%3A"},
		{"/%", "/%25"},
		{"/%4", "/%254"},
		{"/%zz", "/%25zz"},
		{"/a b\t", "/a%20b%09"},
		{`/"<>\^{|}` + "`", "/%22%3C%3E%5C%5E%7B%7C%7D%60"},
		{"/*$", "/*$"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := normalize(tt.in); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := normalize(tt.want); got != tt.want {
			t.Errorf("normalize(%q) = %q, want it unchanged (idempotence)", tt.want, got)
		}
	}
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

func TestSpecialRules(t *testing.T) {
	deny := DisallowAll()
	for _, target := range []string{"/", "", "/x", "/robots.txt?x", "*"} {
		if deny.Allowed(target) {
			t.Errorf("DisallowAll().Allowed(%q) = true, want false", target)
		}
	}
	for _, target := range []string{"/robots.txt", "/robots%2Etxt", "/robots%2etxt"} {
		if !deny.Allowed(target) {
			t.Errorf("DisallowAll().Allowed(%q) = false, want true", target)
		}
	}
	if d := deny.CrawlDelay(); d != 0 {
		t.Errorf("DisallowAll().CrawlDelay() = %v, want 0", d)
	}
	if s := deny.Sitemaps(); s != nil {
		t.Errorf("DisallowAll().Sitemaps() = %q, want nil", s)
	}

	for name, r := range map[string]*Rules{"AllowAll()": AllowAll(), "nil": nil, "zero": {}} {
		for _, target := range []string{"/", "", "/x?y", "/robots.txt"} {
			if !r.Allowed(target) {
				t.Errorf("%s.Allowed(%q) = false, want true", name, target)
			}
		}
		if d := r.CrawlDelay(); d != 0 {
			t.Errorf("%s.CrawlDelay() = %v, want 0", name, d)
		}
		if s := r.Sitemaps(); s != nil {
			t.Errorf("%s.Sitemaps() = %q, want nil", name, s)
		}
	}

	check(t, "User-agent: *\nDisallow: /\nDisallow: /robots.txt\n", "crawld",
		map[string]bool{"/robots.txt": true, "/robots.txt?x=1": false, "/": false, "": false})
}

func TestAllowedDoesNotAllocate(t *testing.T) {
	r := Parse([]byte(realistic), "crawld")
	targets := []string{"/", "/search?q=x", "/products/shoes/red-42.html", "/wp-admin/admin-ajax.php", "/a/b%20c?x=%2F"}
	for _, target := range targets {
		if n := testing.AllocsPerRun(100, func() { r.Allowed(target) }); n != 0 {
			t.Errorf("Allowed(%q) allocates %v times, want 0", target, n)
		}
	}
}

// TestMatchesReference compares the matcher with a plain dynamic-programming
// reading of RFC 9309 2.2.3 on patterns chosen to make greedy matching err.
func TestMatchesReference(t *testing.T) {
	patterns := []string{"/a*b", "/a*b$", "/*a*a*a$", "/ab*ba$", "*", "*$", "$", "/**", "/a$b", "/a$b$", "/$$", "/*$*", "*a*", "/a*a$"}
	targets := []string{"/", "/a", "/ab", "/aba", "/abba", "/aaa", "/aaaa", "/baaab", "/a$b", "/a$", "/$", "/$$", "/xa$bx"}
	for _, p := range patterns {
		r := newRule([]byte(p), false)
		for _, target := range targets {
			if got, want := r.matches(target), refMatch(p, target); got != want {
				t.Errorf("pattern %q: matches(%q) = %v, want %v", p, target, got, want)
			}
		}
	}
}

// refMatch is RFC 9309 2.2.3 matching by dynamic programming over a
// normalised pattern: "*" matches any run, a final "$" the end, everything
// else itself; an unanchored pattern need only match a prefix.
func refMatch(pattern, target string) bool {
	anchored := strings.HasSuffix(pattern, "$")
	if anchored {
		pattern = pattern[:len(pattern)-1]
	}
	// ok[j]: pattern[:i] matches target[:j].
	ok := make([]bool, len(target)+1)
	ok[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(target)+1)
		for j := 0; j <= len(target); j++ {
			if pattern[i] == '*' {
				next[j] = ok[j] || (j > 0 && next[j-1])
			} else {
				next[j] = j > 0 && ok[j-1] && target[j-1] == pattern[i]
			}
		}
		ok = next
	}
	if anchored {
		return ok[len(target)]
	}
	return slices.Contains(ok, true)
}

// refAllowed is RFC 9309 2.2.2 read literally over the parsed rules: the
// longest matching pattern wins, allow on a tie, allowed if none matches.
func refAllowed(r *Rules, target string) bool {
	if target == "" {
		target = "/"
	}
	target = normalize(target)
	if target == "/robots.txt" {
		return true
	}
	best, allow := -1, true
	for _, ru := range r.rules {
		if !refMatch(ru.pattern, target) {
			continue
		}
		if ru.priority > best || (ru.priority == best && ru.allow) {
			best, allow = ru.priority, ru.allow
		}
	}
	return allow
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(rfcExample), "/example/page.html")
	f.Add([]byte(realistic), "/products/x?sort=price&utm_source=y")
	f.Add([]byte("User-agent: *\nDisallow: /*a*a*a*a*a*a*a*b$\n"), "/"+strings.Repeat("a", 200))
	f.Add([]byte("\xEF\xBBUser-agent crawld\r\rDisallow /x%2f\rCrawl-delay: 0.5\nSitemap: s"), "/x%2F?%")
	f.Add([]byte("User-agent: crawld\nAllow: /ツ$\nDisallow: /%e3\nUser-agent: *\nDisallow: /"), "/%E3%83%84")
	f.Fuzz(func(t *testing.T, body []byte, target string) {
		r := Parse(body, "crawld")
		got := r.Allowed(target)
		if want := refAllowed(r, target); got != want {
			t.Errorf("Allowed(%q) = %v, want %v by longest match", target, got, want)
		}
		if target == "/robots.txt" && !got {
			t.Errorf("Allowed(/robots.txt) = false")
		}
		if d := r.CrawlDelay(); d < 0 {
			t.Errorf("CrawlDelay() = %v, want >= 0", d)
		}
		seen := map[string]bool{}
		for _, s := range r.Sitemaps() {
			if s == "" || seen[s] {
				t.Errorf("Sitemaps() has empty or repeated %q", s)
			}
			seen[s] = true
		}
	})
}

func BenchmarkParse(b *testing.B) {
	body := []byte(realistic)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(body, "crawld")
	}
}

func BenchmarkAllowed(b *testing.B) {
	r := Parse([]byte(realistic), "crawld")
	targets := []string{
		"/",
		"/products/shoes/red-running-shoe-42.html",
		"/search?q=red+shoes&page=2",
		"/blog/2024/05/how-we-crawl/",
		"/checkout/cart.php?session=abc",
		"/static/css/site.min.css?v=3",
		"/account/orders/12345",
		"/catalog/item%20with%20space?ref=home",
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Allowed(targets[i%len(targets)])
		i++
	}
}

// realistic is a robots.txt of the kind large shops and publishers serve,
// about 5 KiB.
const realistic = `# robots.txt for www.example-shop.com
#
# Crawlers: please honour Crawl-delay. Contact webmaster@example-shop.com
# if your crawler needs different access.
#
# Last reviewed by the SEO team in March. Faceted navigation (sort, filter,
# price, colour and size parameters) is blocked to keep crawlers out of
# near-infinite URL spaces; product and category pages stay open.

User-agent: *
Crawl-delay: 1
Disallow: /cgi-bin/
Disallow: /tmp/
Disallow: /admin/
Disallow: /wp-admin/
Allow: /wp-admin/admin-ajax.php
Disallow: /wp-includes/
Disallow: /wp-content/plugins/
Allow: /wp-content/uploads/
Disallow: /xmlrpc.php
Disallow: /checkout/
Disallow: /cart/
Disallow: /account/
Disallow: /login
Disallow: /logout
Disallow: /register
Disallow: /password-reset
Disallow: /wishlist/
Disallow: /compare/
Disallow: /search
Allow: /search/help
Disallow: /*?sort=
Disallow: /*&sort=
Disallow: /*?filter=
Disallow: /*&filter=
Disallow: /*?price=
Disallow: /*&price=
Disallow: /*?color=
Disallow: /*&color=
Disallow: /*?size=
Disallow: /*&size=
Disallow: /*?sessionid=
Disallow: /*&sessionid=
Disallow: /*?utm_source=
Disallow: /*&utm_source=
Disallow: /*?utm_medium=
Disallow: /*&utm_medium=
Disallow: /*?utm_campaign=
Disallow: /*&utm_campaign=
Disallow: /*?ref=
Disallow: /*.json$
Disallow: /*.xml$
Allow: /sitemap*.xml$
Disallow: /*/print$
Disallow: /*/feed/
Disallow: /*/trackback/
Disallow: /*/amp/$
Disallow: /tag/*/page/
Disallow: /category/*/page/
Disallow: /author/
Disallow: /api/
Allow: /api/docs/
Disallow: /internal/
Disallow: /preview/
Disallow: /drafts/
Disallow: /print/
Disallow: /email-a-friend/
Disallow: /review/add/
Disallow: /catalog/product_compare/
Disallow: /catalog/category/view/
Disallow: /catalog/product/view/
Disallow: /catalogsearch/
Disallow: /newsletter/
Disallow: /poll/
Disallow: /sendfriend/
Disallow: /tag/
Disallow: /customer/
Disallow: /downloadable/
Disallow: /onestepcheckout/
Disallow: /paypal/
Disallow: /rss/
Disallow: /index.php/
Disallow: /*.php$
Allow: /index.php$
Allow: /static/
Allow: /media/catalog/product/
Disallow: /media/tmp/
Disallow: /media/customer/
Disallow: /media/downloadable/
Disallow: /media/import/
Disallow: /var/
Disallow: /lib/
Disallow: /pkginfo/
Disallow: /shell/
Disallow: /app/
Disallow: /errors/
Disallow: /includes/
Disallow: /dev/
Disallow: /setup/
Disallow: /update/
Disallow: /vendor/
Disallow: /LICENSE.txt
Disallow: /LICENSE.html
Disallow: /CHANGELOG.md
Disallow: /README.md
Disallow: /composer.json
Disallow: /composer.lock
Disallow: /package.json

# Image crawlers may fetch product images only.
User-agent: Googlebot-Image
User-agent: bingbot-image
Allow: /media/catalog/product/
Allow: /static/images/
Disallow: /

# Ad and SEO tools: no thanks.
User-agent: AhrefsBot
User-agent: SemrushBot
User-agent: MJ12bot
User-agent: DotBot
User-agent: BLEXBot
User-agent: PetalBot
User-agent: MegaIndex
Disallow: /

User-agent: AdsBot-Google
Allow: /
Disallow: /checkout/
Disallow: /cart/

User-agent: Mediapartners-Google
Disallow:

# Well-behaved research crawlers: slower, and not the shop.
User-agent: crawld
Crawl-delay: 2.5
Disallow: /cgi-bin/
Disallow: /admin/
Disallow: /wp-admin/
Allow: /wp-admin/admin-ajax.php
Disallow: /checkout/
Disallow: /cart/
Disallow: /account/
Disallow: /search
Disallow: /*?sort=
Disallow: /*&sort=
Disallow: /*?filter=
Disallow: /*&filter=
Disallow: /*?sessionid=
Disallow: /*&sessionid=
Disallow: /*?utm_
Disallow: /*&utm_
Disallow: /*.json$
Disallow: /*/print$
Disallow: /*/feed/
Disallow: /tag/*/page/
Disallow: /category/*/page/
Disallow: /api/
Allow: /api/docs/
Disallow: /internal/
Disallow: /preview/
Disallow: /catalog/product_compare/
Disallow: /catalogsearch/
Disallow: /customer/
Disallow: /media/tmp/
Disallow: /media/customer/
Allow: /media/catalog/product/
Allow: /static/

User-agent: ia_archiver
Disallow: /checkout/

# Regional storefronts duplicate the main catalogue.
User-agent: bingbot
User-agent: Slurp
User-agent: DuckDuckBot
User-agent: YandexBot
Crawl-delay: 5
Disallow: /de/checkout/
Disallow: /fr/checkout/
Disallow: /es/checkout/
Disallow: /it/checkout/
Disallow: /nl/checkout/
Disallow: /de/konto/
Disallow: /fr/compte/
Disallow: /es/cuenta/
Disallow: /it/account/
Disallow: /nl/account/
Disallow: /*/suche?
Disallow: /*/recherche?
Disallow: /*/buscar?
Disallow: /*/cerca?
Disallow: /*/zoeken?
Disallow: /*?sort=
Disallow: /*?filter=
Disallow: /*?sessionid=
Disallow: /*.json$
Disallow: /api/
Allow: /api/docs/
Disallow: /internal/
Disallow: /preview/
Disallow: /drafts/
Disallow: /customer/
Disallow: /media/tmp/
Allow: /media/catalog/product/
Allow: /static/

User-agent: Applebot
User-agent: facebookexternalhit
User-agent: Twitterbot
User-agent: LinkedInBot
Allow: /products/
Allow: /blog/
Allow: /static/
Allow: /media/catalog/product/
Disallow: /

Sitemap: https://www.example-shop.com/sitemap.xml
Sitemap: https://www.example-shop.com/sitemap-products.xml
Sitemap: https://www.example-shop.com/sitemap-categories.xml
Sitemap: https://www.example-shop.com/sitemap-blog.xml
Sitemap: https://www.example-shop.com/sitemap.xml
Host: www.example-shop.com
`

func TestRulesSize(t *testing.T) {
	var b strings.Builder
	b.WriteString("User-agent: *\nSitemap: https://example.com/sitemap.xml\n")
	for i := 0; b.Len() < MaxSize-64; i++ {
		fmt.Fprintf(&b, "Disallow: /p%d/*/q\n", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := Parse([]byte(b.String()), "crawld")
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	size := r.Size()
	// The estimate leaves out allocator rounding; it must be of the order
	// of what the rules hold, which is several times the file.
	if size < MaxSize || int64(size) < held/2 || int64(size) > 2*held {
		t.Errorf("Size() = %d for a %d-byte file whose rules hold %d bytes of heap", size, b.Len(), held)
	}
	runtime.KeepAlive(r)
	if small, none := AllowAll().Size(), (*Rules)(nil).Size(); small <= 0 || small > 256 || none != 0 {
		t.Errorf("Size() of AllowAll = %d, of nil = %d; want a few bytes and 0", small, none)
	}
}
