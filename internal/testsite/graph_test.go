package testsite

import (
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestGraphReachesEveryPage(t *testing.T) {
	for _, cfg := range []Config{
		{Hosts: 3, PagesPerHost: 10, Decoys: true},
		{Hosts: 4, PagesPerHost: 7, LinksPerPage: -1, CrossLinks: -1},
		{Hosts: 2, PagesPerHost: 3, LinksPerPage: 50, CrossLinks: 50, Seed: 3},
		{},
	} {
		s := start(t, cfg)
		seen := map[string]bool{s.SeedURL(): true}
		queue := []string{s.SeedURL()}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			links := s.Links(u)
			for i, l := range links {
				if l == u || slices.Contains(links[:i], l) {
					t.Errorf("%+v: %s links to %s twice or to itself", cfg, u, l)
				}
				if !seen[l] {
					seen[l] = true
					queue = append(queue, l)
				}
			}
		}
		var got []string
		for u := range seen {
			got = append(got, u)
		}
		want := s.URLs()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: BFS reached %d pages, URLs() has %d", cfg, len(got), len(want))
		}
		s.Close()
	}
}

func TestGraphIsDeterministic(t *testing.T) {
	shape := func(seed int64) []string {
		s := start(t, Config{Hosts: 3, PagesPerHost: 12, Seed: seed})
		defer s.Close()
		var out []string
		for _, u := range s.URLs() {
			for _, l := range s.Links(u) {
				for i, h := range s.Hosts() {
					l = strings.Replace(l, h, "host"+string(rune('0'+i)), 1)
				}
				out = append(out, l)
			}
		}
		return out
	}
	a, b, c := shape(1), shape(1), shape(2)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different graphs")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same graph")
	}
}

func TestHTMLMatchesLinks(t *testing.T) {
	s := start(t, Config{Hosts: 3, PagesPerHost: 10, Decoys: true, Seed: 11})
	c := newClient(t)
	forms := map[string]bool{}
	for _, pageURL := range s.URLs() {
		_, body := get(t, c, pageURL)
		base, _ := url.Parse(pageURL)
		decoys := s.Decoys(pageURL)
		var real, dec []string
		for _, h := range hrefs(t, body) {
			if slices.Contains(decoys, h) {
				dec = append(dec, h)
				continue
			}
			ref, err := url.Parse(h)
			if err != nil {
				t.Fatalf("%s: bad href %q", pageURL, h)
			}
			forms[hrefForm(h)] = true
			real = append(real, base.ResolveReference(ref).String())
		}
		if want := s.Links(pageURL); !slices.Equal(real, want) {
			t.Errorf("%s: hrefs resolve to\n%v\nLinks() =\n%v", pageURL, real, want)
		}
		if !slices.Equal(dec, decoys) || len(dec) != 6 {
			t.Errorf("%s: decoys in HTML %v, Decoys() = %v", pageURL, dec, decoys)
		}
		// The dedupe decoys must collapse onto the page or a page it links
		// to; the others must not resolve to a page at all.
		allowed := append(s.Links(pageURL), pageURL)
		for _, d := range dec {
			ref, _ := url.Parse(d)
			u := base.ResolveReference(ref)
			u.Fragment = ""
			u.Scheme = strings.ToLower(u.Scheme)
			u.Host = strings.ToLower(u.Host)
			switch {
			case u.Scheme != "http":
			case u.Path == DecoyPDFPath:
				if u.Host != base.Host {
					t.Errorf("%s: pdf decoy on %s", pageURL, u.Host)
				}
			case !slices.Contains(allowed, u.String()):
				t.Errorf("%s: decoy %q resolves to %s, not a linked page", pageURL, d, u)
			}
		}
	}
	if len(forms) != 5 {
		t.Errorf("href forms used: %v", forms)
	}
}

func TestNoDecoys(t *testing.T) {
	s := start(t, Config{Hosts: 2, PagesPerHost: 4})
	c := newClient(t)
	for _, u := range s.URLs() {
		_, body := get(t, c, u)
		if got := hrefs(t, body); len(got) != len(s.Links(u)) {
			t.Errorf("%s: %d hrefs for %d links", u, len(got), len(s.Links(u)))
		}
		if s.Decoys(u) != nil {
			t.Errorf("%s: Decoys() not nil", u)
		}
	}
}

func TestLargeHostIsCheap(t *testing.T) {
	s := start(t, Config{PagesPerHost: 200_000, Seed: 5})
	urls := s.URLs()
	if len(urls) != 200_000 || urls[199_998] != "http://"+s.Hosts()[0]+"/page/199998.html" {
		t.Fatalf("URLs: %d, [199998] %s", len(urls), urls[199_998])
	}
	_, body := get(t, newClient(t), urls[123_456])
	if n := len(hrefs(t, body)); n != 4 { // chain + 3 random, one host
		t.Errorf("page has %d links, want 4", n)
	}
}

func TestSample(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{10, 3}, {10, 8}, {10, 20}, {1000, 100}, {3, 1}, {2, 5}} {
		r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.want)))
		skip := []int{0, 1}
		got := sample(r, tc.n, tc.want, skip)
		if len(got) != min(tc.want, tc.n-2) {
			t.Errorf("sample(%d, %d) returned %d values", tc.n, tc.want, len(got))
		}
		for i, v := range got {
			if v < 0 || v >= tc.n || slices.Contains(skip, v) || slices.Contains(got[:i], v) {
				t.Errorf("sample(%d, %d) = %v", tc.n, tc.want, got)
				break
			}
		}
	}
}

// TestPadding checks the shape of the CPU-bound benchmark: pages of about
// 300 KB, the same filler after each page's own links, and 200 links a page
// that still match Links.
func TestPadding(t *testing.T) {
	const padding = 290_000
	s := start(t, Config{Hosts: 3, PagesPerHost: 300, LinksPerPage: 190, CrossLinks: 9, Padding: padding, Seed: 4})
	if len(s.padding) != padding {
		t.Fatalf("padding of %d bytes, want %d", len(s.padding), padding)
	}
	c := newClient(t)
	for _, pageURL := range []string{s.SeedURL(), s.PageURL(1, 150), s.PageURL(2, 299)} {
		resp, body := get(t, c, pageURL)
		h, k, _ := s.Page(pageURL)
		if want := s.render(page{h, k}) + string(s.padding) + pageEnd; body != want {
			t.Errorf("%s: body is not the page, the padding and its end", pageURL)
		}
		if resp.ContentLength != int64(len(body)) || len(body) < padding || len(body) > padding+20_000 {
			t.Errorf("%s: %d bytes, Content-Length %d", pageURL, len(body), resp.ContentLength)
		}
		base, _ := url.Parse(pageURL)
		var got []string
		for _, h := range hrefs(t, body) {
			ref, err := url.Parse(h)
			if err != nil {
				t.Fatalf("%s: bad href %q", pageURL, h)
			}
			got = append(got, base.ResolveReference(ref).String())
		}
		if want := s.Links(pageURL); !slices.Equal(got, want) {
			t.Errorf("%s: %d hrefs resolve to other URLs than Links' %d", pageURL, len(got), len(want))
		}
	}
	// Chain, 190 same-host and 9 cross-host links; the last page has no
	// chain link and the home page also links to the next host.
	for pageURL, want := range map[string]int{s.PageURL(1, 150): 200, s.PageURL(2, 299): 199, s.SeedURL(): 201} {
		if n := len(s.Links(pageURL)); n != want {
			t.Errorf("%s: %d links, want %d", pageURL, n, want)
		}
	}
	if strings.Contains(string(s.padding), "<a") {
		t.Error("the padding has a link")
	}

	// Any length, whole blocks or not, is exact and cuts no tag.
	for _, n := range []int{0, 1, len(fillerBlock) - 1, len(fillerBlock), 3*len(fillerBlock) + 5} {
		f := string(filler(n))
		if len(f) != n || (n > 0 && !strings.HasSuffix(f, "\n")) {
			t.Errorf("filler(%d): %d bytes %q", n, len(f), f)
		}
		if strings.Count(f, "<div") != strings.Count(f, "</div>") || strings.Count(f, "<") != strings.Count(f, ">") {
			t.Errorf("filler(%d) cuts a tag: %q", n, f)
		}
	}
	if s, err := Start(Config{Padding: -1}); err == nil {
		s.Close()
		t.Error("negative Padding accepted")
	}
	// Without padding, pages are unchanged: they end right after the links.
	plain := start(t, Config{Seed: 4})
	if _, body := get(t, c, plain.SeedURL()); !strings.HasSuffix(body, "</ul>\n"+pageEnd) {
		t.Errorf("unpadded page ends %q", body[max(0, len(body)-40):])
	}
}
