package testsite

import (
	"bytes"
	"html"
	"math/rand/v2"
	"strconv"
	"strings"
)

// page identifies a page by host index and page index.
type page struct{ host, page int }

// edge is one out-link: its target and how the href is written.
type edge struct {
	to   page
	form int // index into the forms of hrefFor
}

// pagePath gives every page exactly one path. Every third page ends in
// ".html" so that a crawler's extension filter sees both forms and must not
// drop them.
func pagePath(k int) string {
	switch {
	case k == 0:
		return "/"
	case k%3 == 0:
		return "/page/" + strconv.Itoa(k) + ".html"
	default:
		return "/page/" + strconv.Itoa(k)
	}
}

// parsePath inverts pagePath, accepting only the canonical form so that
// "/page/3" and "/page/1.html" are 404s instead of duplicate content.
func parsePath(p string, pages int) (int, bool) {
	if p == "/" {
		return 0, pages > 0
	}
	rest, ok := strings.CutPrefix(p, "/page/")
	if !ok {
		return 0, false
	}
	rest = strings.TrimSuffix(rest, ".html")
	k, err := strconv.Atoi(rest)
	if err != nil || k <= 0 || k >= pages || pagePath(k) != p {
		return 0, false
	}
	return k, true
}

// path returns the one path of page k in the site's shape.
func (s *Site) path(k int) string {
	if s.cfg.Hubs > 0 {
		return s.fanPath(k)
	}
	return pagePath(k)
}

// parse inverts path, accepting only canonical paths of existing pages.
func (s *Site) parse(p string) (int, bool) {
	if s.cfg.Hubs > 0 {
		return s.parseFan(p)
	}
	return parsePath(p, s.cfg.PagesPerHost)
}

// fanPath numbers a fan-out host's pages home page first, then the hubs,
// then the leaves hub by hub, so that a page index alone tells its kind
// and the pages need no table.
func (s *Site) fanPath(k int) string {
	hubs, leaves := s.cfg.Hubs, s.cfg.LeavesPerHub
	switch {
	case k == 0:
		return "/"
	case k <= hubs:
		return "/hub/" + strconv.Itoa(k-1)
	default:
		n := k - 1 - hubs
		return "/hub/" + strconv.Itoa(n/leaves) + "/leaf/" + strconv.Itoa(n%leaves)
	}
}

// parseFan inverts fanPath. Comparing with the canonical path rejects
// "/hub/01" and "/hub/+1" as parsePath rejects its variants.
func (s *Site) parseFan(p string) (int, bool) {
	if p == "/" {
		return 0, true
	}
	rest, ok := strings.CutPrefix(p, "/hub/")
	if !ok {
		return 0, false
	}
	hub, leaf, isLeaf := strings.Cut(rest, "/leaf/")
	j, err := strconv.Atoi(hub)
	if err != nil || j < 0 || j >= s.cfg.Hubs {
		return 0, false
	}
	k := 1 + j
	if isLeaf {
		i, err := strconv.Atoi(leaf)
		if err != nil || i < 0 || i >= s.cfg.LeavesPerHub {
			return 0, false
		}
		k = 1 + s.cfg.Hubs + j*s.cfg.LeavesPerHub + i
	}
	if s.fanPath(k) != p {
		return 0, false
	}
	return k, true
}

// fanEdges is edges for the fan-out shape. The home page links to the next
// host first, as in the random graph, so that a crawler finds every host
// from the seed.
func (s *Site) fanEdges(p page) []edge {
	hubs, leaves := s.cfg.Hubs, s.cfg.LeavesPerHub
	var out []edge
	add := func(to page) {
		out = append(out, edge{to: to, form: len(out) + p.page + p.host})
	}
	switch {
	case p.page == 0:
		if p.host+1 < s.cfg.Hosts {
			add(page{p.host + 1, 0})
		}
		for j := range hubs {
			add(page{p.host, 1 + j})
		}
	case p.page <= hubs:
		first := 1 + hubs + (p.page-1)*leaves
		for i := range leaves {
			add(page{p.host, first + i})
		}
	}
	return out
}

// edges computes a page's out-links from the seed and the page identity
// alone, so that no graph is stored: a 200,000-page site costs nothing
// until its pages are requested, and pages may be rendered in any order.
func (s *Site) edges(p page) []edge {
	if s.cfg.Hubs > 0 {
		return s.fanEdges(p)
	}
	n, hosts := s.cfg.PagesPerHost, s.cfg.Hosts
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), uint64(p.host)<<32|uint64(p.page)))
	var out []edge
	add := func(to page) {
		// Rotating forms by position and page guarantees that even a tiny
		// site uses every form, which random choice would not.
		out = append(out, edge{to: to, form: len(out) + p.page + p.host})
	}
	// The chain and the host-to-host links make every page reachable from
	// the seed whatever the random links turn out to be.
	if p.page+1 < n {
		add(page{p.host, p.page + 1})
	}
	next := p.page == 0 && p.host+1 < hosts
	if next {
		add(page{p.host + 1, 0})
	}
	// Random targets are distinct from each other, the page itself and the
	// links above, so Links never repeats a URL.
	skip := []int{p.page}
	if p.page+1 < n {
		skip = append(skip, p.page+1)
	}
	for _, k := range sample(r, n, s.cfg.LinksPerPage, skip) {
		add(page{p.host, k})
	}
	if hosts > 1 && s.cfg.CrossLinks > 0 {
		// Index i in [0, (hosts-1)*n) is page i%n of the i/n-th host other
		// than p.host.
		var skip []int
		if next {
			skip = []int{p.host * n} // host p.host+1, page 0
		}
		for _, i := range sample(r, (hosts-1)*n, s.cfg.CrossLinks, skip) {
			h := i / n
			if h >= p.host {
				h++
			}
			add(page{h, i % n})
		}
	}
	return out
}

// sample picks up to want distinct integers in [0, n) not in skip (a list of
// at most a few distinct values), in random order.
func sample(r *rand.Rand, n, want int, skip []int) []int {
	avail := n
	for _, v := range skip {
		if v >= 0 && v < n {
			avail--
		}
	}
	want = min(want, avail)
	if want <= 0 {
		return nil
	}
	skipped := func(v int, picked []int) bool {
		for _, x := range skip {
			if x == v {
				return true
			}
		}
		for _, x := range picked {
			if x == v {
				return true
			}
		}
		return false
	}
	if want <= 16 && want*2 <= avail {
		// The common case: few links among many pages; rejection is cheap.
		picked := make([]int, 0, want)
		for len(picked) < want {
			if v := r.IntN(n); !skipped(v, picked) {
				picked = append(picked, v)
			}
		}
		return picked
	}
	// Dense or large requests: partial Fisher–Yates over the candidates,
	// which stays linear where rejection would degrade.
	cand := make([]int, 0, avail)
	for v := range n {
		if !skipped(v, nil) {
			cand = append(cand, v)
		}
	}
	for i := range want {
		j := i + r.IntN(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
	}
	return cand[:want]
}

// href writes a link the way real sites mix them, so that a crawler's URL
// resolution is exercised: root-relative, two kinds of relative, and
// absolute for same-host targets; protocol-relative and absolute across
// hosts.
func (s *Site) href(from page, e edge) string {
	to := e.to
	path := s.path(to.page)
	if to.host != from.host {
		if e.form%2 == 0 {
			return "//" + s.hosts[to.host] + path
		}
		return "http://" + s.hosts[to.host] + path
	}
	if s.cfg.Hubs > 0 {
		// A fan-out page links only below its own directory ("/" to
		// "/hub/3", "/hub/3" to "/hub/3/leaf/7"), so the relative form is
		// the path without that directory: "hub/3", "3/leaf/7".
		switch e.form % 3 {
		case 0:
			return path
		case 1:
			dir := s.path(from.page)
			return strings.TrimPrefix(path, dir[:strings.LastIndex(dir, "/")+1])
		default:
			return "http://" + s.hosts[to.host] + path
		}
	}
	switch e.form % 4 {
	case 0:
		return path
	case 1: // relative to the page's directory: "/" or "/page/"
		if from.page == 0 {
			if to.page == 0 {
				return "./"
			}
			return path[1:] // "page/3"
		}
		if to.page == 0 {
			return "../"
		}
		return strings.TrimPrefix(path, "/page/") // "3" from "/page/2"
	case 2: // relative with dot segments
		if from.page == 0 {
			return "." + path // "./page/3", "./"
		}
		return ".." + path // "../page/3", "../"
	default:
		return "http://" + s.hosts[to.host] + path
	}
}

// decoys lists the hrefs that a correct crawler either skips or collapses
// into a URL it fetches anyway. The fragment and upper-case variants point
// at a same-host page the page already links to (or at itself), so
// deduping them must not add requests.
func (s *Site) decoys(p page, edges []edge) []string {
	target := p
	for _, e := range edges {
		if e.to.host == p.host {
			target = e.to
			break
		}
	}
	path := s.path(target.page)
	return []string{
		"mailto:webmaster@testsite.invalid",
		"javascript:void(0)",
		"tel:+1-555-0100",
		DecoyPDFPath,
		path + "#section-2",
		"HTTP://" + strings.ToUpper(s.hosts[p.host]) + path,
	}
}

// pageEnd closes every page, after the padding.
const pageEnd = "</body>\n</html>\n"

// fillerBlock is the unit of the padding: a paragraph of text with inline
// markup, as articles have, and no link.
const fillerBlock = "<div class=\"section\"><p>Lorem ipsum dolor sit amet, <em>consectetur</em> adipiscing elit, " +
	"sed do eiusmod tempor incididunt ut labore et <strong>dolore magna aliqua</strong>. Ut enim ad minim veniam, " +
	"quis nostrud exercitation ullamco &amp; laboris nisi ut aliquip ex ea commodo consequat.</p></div>\n"

// filler returns n bytes of padding: whole fillerBlocks, then spaces and a
// newline to make up the length, so that the padding never cuts a tag.
func filler(n int) []byte {
	if n <= 0 {
		return nil
	}
	b := bytes.Repeat([]byte(fillerBlock), n/len(fillerBlock))
	b = append(b, bytes.Repeat([]byte(" "), n-len(b))...)
	b[len(b)-1] = '\n'
	return b
}

// render builds a page's HTML up to, not including, the padding and
// pageEnd, which serve writes after it. Decoys are split around the real
// links so that neither kind is only ever first or last in the document.
func (s *Site) render(p page) string {
	edges := s.edges(p)
	var dec []string
	if s.cfg.Decoys {
		dec = s.decoys(p, edges)
	}
	title := "Host " + strconv.Itoa(p.host) + " page " + strconv.Itoa(p.page)
	var b strings.Builder
	b.Grow(256 + 64*(len(edges)+len(dec)))
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>")
	b.WriteString(title)
	b.WriteString("</title></head>\n<body>\n<h1>")
	b.WriteString(title)
	b.WriteString("</h1>\n<p>This is page ")
	b.WriteString(strconv.Itoa(p.page))
	b.WriteString(" of synthetic host ")
	b.WriteString(strconv.Itoa(p.host))
	b.WriteString(", generated for crawler tests.</p>\n")
	link := func(href, text string) {
		b.WriteString("<a href=\"")
		b.WriteString(html.EscapeString(href))
		b.WriteString("\">")
		b.WriteString(html.EscapeString(text))
		b.WriteString("</a>")
	}
	half := len(dec) / 2
	for _, d := range dec[:half] {
		link(d, "contact")
		b.WriteString("\n")
	}
	b.WriteString("<ul>\n")
	for _, e := range edges {
		b.WriteString("<li>")
		link(s.href(p, e), "Host "+strconv.Itoa(e.to.host)+" page "+strconv.Itoa(e.to.page))
		b.WriteString("</li>\n")
	}
	b.WriteString("</ul>\n")
	if s.cfg.Archival && p == (page{0, 0}) {
		for _, path := range archivalLinks {
			link(path, path)
			b.WriteString("\n")
		}
	}
	for _, d := range dec[half:] {
		link(d, "more")
		b.WriteString("\n")
	}
	return b.String()
}
