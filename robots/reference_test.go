package robots

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
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
