package crawler

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/crawld/crawld/internal/testsite"
	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
)

// parsePageDOM is parsePage as it was before it became one pass of the
// tokenizer: it builds the document's tree with goquery (x/net/html's tree
// builder) and selects from it. It is the reference the pass is compared
// with (compareWithDOM says where the two part). It also returns how many
// a[href] and area[href] elements the tree holds.
func parsePageDOM(pageURL *url.URL, contentType string, body []byte, agent string, followNofollow bool, maxLinks int) (page, int, error) {
	var r io.Reader = bytes.NewReader(body)
	if enc, name, _ := charset.DetermineEncoding(body, contentType); name != "utf-8" {
		r = enc.NewDecoder().Reader(r)
	}
	doc, err := goquery.NewDocumentFromReader(r)
	if err != nil {
		return page{}, 0, fmt.Errorf("parse html: %w", err)
	}
	var p page
	doc.Find("meta[name][content]").Each(func(_ int, s *goquery.Selection) {
		name := strings.ToLower(strings.TrimSpace(s.AttrOr("name", "")))
		if name == "robots" || strings.EqualFold(name, agent) {
			noindex, nofollow := robotsDirectives(s.AttrOr("content", ""))
			p.noindex = p.noindex || noindex
			p.nofollow = p.nofollow || nofollow
		}
	})
	base := pageURL
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if u, err := pageURL.Parse(cleanHref(href)); err == nil {
			base = u
		}
	}
	seen := make(map[string]struct{})
	anchors := doc.Find("a[href], area[href]")
	anchors.EachWithBreak(func(_ int, s *goquery.Selection) bool {
		if maxLinks > 0 && len(p.links) >= maxLinks {
			p.truncated = true
			return false
		}
		href := cleanHref(s.AttrOr("href", ""))
		if href == "" || hasSkippedScheme(href) {
			return true
		}
		if !followNofollow && hasToken(s.AttrOr("rel", ""), "nofollow") {
			return true
		}
		u, err := base.Parse(href)
		if err != nil {
			return true
		}
		u.Fragment, u.RawFragment = "", ""
		key := u.String()
		if _, dup := seen[key]; dup {
			return true
		}
		seen[key] = struct{}{}
		p.links = append(p.links, u)
		return true
	})
	return p, anchors.Length(), nil
}

// pageString is a page's links and flags, for comparing and printing.
func pageString(p page) string {
	var b strings.Builder
	fmt.Fprintf(&b, "noindex=%v nofollow=%v truncated=%v", p.noindex, p.nofollow, p.truncated)
	for _, l := range p.links {
		b.WriteString("\n  " + l.String())
	}
	return b.String()
}

// compareWithDOM parses body both ways and fails t where they differ,
// but for where the tree builder departs from the document's source, and
// the pass keeps to the source, which is right for a crawler:
//
//   - A tree builder nests at most 512 elements and then gives up: the tree
//     lost every link of the page. The pass has no such limit.
//   - It gives what stands misplaced in a table (<table><tr><a>) to the
//     table's parent, before the table ("foster parenting"): the same
//     links, taken in another order, so another set under the cap.
//   - It drops what follows or stands in a <frameset>, which browsers do not
//     show: the pass takes those links, and honours robots meta tags there.
//   - It clones formatting elements, <a> among them, that markup closed too
//     early (<p><a href=x>one</p><p>two), and the clone of a link is the
//     same link; the tree found the cap reached when only a clone followed.
//
// And the pass skips a tag longer than maxToken (1 MiB) with its attributes
// (TestParsePage_LongToken); FuzzParsePage's inputs are never that long.
func compareWithDOM(t *testing.T, pageURL *url.URL, contentType string, body []byte, followNofollow bool, maxLinks int) {
	t.Helper()
	want, anchors, wantErr := parsePageDOM(pageURL, contentType, body, "crawld", followNofollow, maxLinks)
	got, err := parsePage(pageURL, contentType, body, "crawld", followNofollow, maxLinks)
	if wantErr != nil && strings.Contains(wantErr.Error(), "open stack of elements exceeds") {
		if err != nil {
			t.Fatalf("parsePage: %v", err)
		}
		return
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v; the tree's %v", err, wantErr)
	}
	g, w := pageString(got), pageString(want)
	if g == w {
		return
	}
	fail := func(why string) {
		t.Helper()
		t.Errorf("page %s, %q, %q (follow nofollow %v, cap %d): %s\n got %s\nwant %s",
			pageURL, contentType, body, followNofollow, maxLinks, why, g, w)
	}
	src := decodedLower(body, contentType)
	frameset, table := strings.Contains(src, "<frameset"), strings.Contains(src, "<table")
	if !frameset && !table {
		// Only clones may part them: the same links, and the tree's cap
		// reached by elements the source does not have.
		got.truncated, want.truncated = false, false
		if pageString(got) != pageString(want) || !strings.Contains(w, "truncated=true") ||
			strings.Contains(g, "truncated=true") || anchors <= sourceAnchors(src) {
			fail("not the tree's")
		}
		return
	}
	// Compare without the cap: the same links in any order (more with a
	// frameset), the same directives (or more with a frameset).
	allGot, _ := parsePage(pageURL, contentType, body, "crawld", followNofollow, 0)
	allWant, _, _ := parsePageDOM(pageURL, contentType, body, "crawld", followNofollow, 0)
	gotSet, wantSet := linkSet(allGot), linkSet(allWant)
	for l := range wantSet {
		if _, ok := gotSet[l]; !ok {
			fail("misses the tree's link " + l)
		}
	}
	if !frameset && len(gotSet) != len(wantSet) {
		fail("takes links the tree does not have")
	}
	if want.noindex && !got.noindex || want.nofollow && !got.nofollow ||
		!frameset && (got.noindex != want.noindex || got.nofollow != want.nofollow) {
		fail("not the tree's directives")
	}
	if maxLinks > 0 && len(got.links) != min(len(allGot.links), maxLinks) {
		fail("not as many links as the cap allows")
	}
}

// decodedLower is body as parsePage reads it, in lower case.
func decodedLower(body []byte, contentType string) string {
	var r io.Reader = bytes.NewReader(body)
	if enc, name, _ := charset.DetermineEncoding(body, contentType); name != "utf-8" {
		r = enc.NewDecoder().Reader(r)
	}
	b, _ := io.ReadAll(r)
	return strings.ToLower(string(b))
}

// sourceAnchors counts the a and area start tags with an href in src, as
// the tokenizer reads them.
func sourceAnchors(src string) int {
	n := 0
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return n
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			if t.Data != "a" && t.Data != "area" {
				continue
			}
			for _, a := range t.Attr {
				if a.Key == "href" || a.Key == "xlink:href" {
					n++
					break
				}
			}
		}
	}
}

// linkSet is the set of p's links.
func linkSet(p page) map[string]struct{} {
	set := make(map[string]struct{}, len(p.links))
	for _, l := range p.links {
		set[l.String()] = struct{}{}
	}
	return set
}

// domFixtures are documents where a pass of the tokenizer could go wrong:
// what the tree builder makes of raw text, foreign content, late <base>
// elements, misnested markup.
var domFixtures = []string{
	`<a href="/a">a</a><base href="/late/"><a href="b">b</a><a href="/a">again</a>`,
	`<a href="x"></a><a href="x"></a><base href="http://other.example/"><base href="/second/">`,
	`<a href="x"></a><base><base href="::bad"><a href="y">`,
	`<a href=x rel=nofollow><a href=javascript:1><a href=y><a href=y><base href=/b/><a href=z>`,
	`<script>document.write('<a href="/in-script">x</a>')</script><a href="/after">a</a>`,
	`<script><!--<script>'<a href="/double">'</script>--></script><a href="/after">a</a>`,
	`<style>a{}</style><title><a href="/in-title"></title><textarea><a href="/in-ta"></textarea><a href=/ok>`,
	`<noscript><a href="/in-noscript">n</a></noscript><iframe><a href="/in-iframe"></iframe><a href=/ok>`,
	`<noembed><a href=/ne></noembed><noframes><a href=/nf></noframes><xmp><a href=/xmp></xmp><a href=/ok>`,
	`<a href=/before><plaintext><a href="/in-plaintext">`,
	`<template><a href="/in-template">t</a><base href="/tb/"></template><a href="x">`,
	`<!-- <a href="/in-comment"> --><a href="/ok"><![CDATA[<a href="/cdata-html">]]>`,
	`<svg><a xlink:href="/svg-xlink"><text>t</text></a><a href="/svg-href"/><style><a href="/svg-style"></style></svg>`,
	`<svg><title><a href="/svg-title">x</a></title><script>'<a href="/svg-script">'</script></svg><a href=/after>`,
	`<svg><![CDATA[<a href="/in-cdata">]]><a href="/after-cdata"/></svg><a xlink:href="/html-xlink">`,
	`<math><mi><a href="/mi"></a></mi><a href="/math-a" xlink:href="/math-xlink"></a></math>`,
	`<svg><foreignObject><div><a href="/fo"></a><style><a href="/fo-style"></style></div></foreignObject></svg>`,
	`<svg><p><a href="/broke-out"><style><a href="/html-style"></style>`,
	`<svg><desc><svg><style><a href="/nested-svg-style"></style></svg></desc></svg>`,
	`<svg><base xlink:href="/svg-base/"></svg><a href=x>`,
	`<p><a href="/p1">one<p>two</a><b><a href="/b"><i>x</b>y</i><a href="/last">`,
	`<a href="/outer"><div><a href="/inner">x</a></div></a>`,
	`<select><option><a href="/in-select">s</a></option></select><a href="/after">`,
	`<html><head><a href=/in-head><meta name=robots content=nofollow></head><body></body></html><a href=/after-html><meta name=CRAWLD content=noindex>`,
	`<meta name="robots" content="noindex"><meta name="robots"><meta content="nofollow"><meta name=" Robots " content=" none ">`,
	`<a HREF="/upper" REL="NOFOLLOW"><AREA Href="/area"><a href="/dup-attr" href="/second">`,
	`<a href="&#x2F;escaped&amp;x=1">e</a><a href='&lt;' >l</a><a href="&notanentity;">n</a><a href="a&#0;b">`,
	"<a href=\"  /spaced  \"><a href=\"/tab\tbed\"><a href=\"/new\nline\">",
	"<a href=\"/nul\x00\">n</a>\x00<a href=/after-nul>",
	`<a href=/unterminated`,
	`<a href="/unclosed-quote>x</a><a href=/next>`,
	`<div><<a href=/angle>a</a><a/href=/slash><a href=/x/>`,
	`<body><a href="/1"><form><a href="/2"></form></a><object><a href=/obj></object><map><area href=/area nohref></map>`,
	`<svg><font color=red><a href=/font-out>`,
	// Where the tree departs from the source (see compareWithDOM).
	`<table><tr><td><a href="/cell">c</a></td></tr><a href="/fostered">f</a></table>`,
	`<table><a href="/t1"><tr><a href="/t2"><td><a href="/t3">`,
	`<p><a href="/p1">one</p><p>two`,
	`<a href="/one"><p>x</a>`,
	`<b><a href="/b1"><div>x</b><a href=/b2>`,
	`<frameset><frame src=/f></frameset><a href=/after-frameset><meta name=robots content=noindex>`,
	`<a href=/before><frameset><a href=/in-frameset></frameset>`,
	strings.Repeat(`<div>`, 1000) + `<a href="/deep">d</a>`,
	strings.Repeat(`<b>`, 1000) + `<a href="/deep-b">d</a>`,
	strings.Repeat(`<a href=/same>`, 50) + `<a href=/different>`,
}

func TestParsePage_SameAsDOM(t *testing.T) {
	page, _ := url.Parse("http://example.com/dir/page.html")
	for i, body := range domFixtures {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for _, maxLinks := range []int{0, 1, 2, 3} {
				for _, follow := range []bool{false, true} {
					compareWithDOM(t, page, "text/html", []byte(body), follow, maxLinks)
				}
			}
		})
	}
}

// TestParsePage_SameAsDOMTestsite compares the two on every page of the
// test site, decoys and filler included, as crawld fetches them.
func TestParsePage_SameAsDOMTestsite(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 20, Decoys: true, Padding: 4000, Seed: 3})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for _, u := range site.URLs() {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		page, _ := url.Parse(u)
		for _, maxLinks := range []int{0, 2} {
			compareWithDOM(t, page, resp.Header.Get("Content-Type"), body, false, maxLinks)
		}
	}
}
