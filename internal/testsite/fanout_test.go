package testsite

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestFanOutShape(t *testing.T) {
	const hosts, hubs, leaves = 3, 4, 5
	s := start(t, Config{Hosts: hosts, Hubs: hubs, LeavesPerHub: leaves, Seed: 9})
	cfg := s.Config()
	if cfg.PagesPerHost != 1+hubs*(1+leaves) || cfg.LinksPerPage != 0 || cfg.CrossLinks != 0 {
		t.Fatalf("Config() = %+v", cfg)
	}
	for h, addr := range s.Hosts() {
		root := s.PageURL(h, 0)
		var want []string
		if h+1 < hosts {
			want = append(want, s.PageURL(h+1, 0))
		}
		for j := range hubs {
			want = append(want, "http://"+addr+"/hub/"+strconv.Itoa(j))
		}
		if got := s.Links(root); !slices.Equal(got, want) {
			t.Errorf("%s links to\n%v\nwant\n%v", root, got, want)
		}
		for j := range hubs {
			hub := "http://" + addr + "/hub/" + strconv.Itoa(j)
			want = want[:0]
			for i := range leaves {
				want = append(want, hub+"/leaf/"+strconv.Itoa(i))
			}
			if got := s.Links(hub); !slices.Equal(got, want) {
				t.Errorf("%s links to\n%v\nwant\n%v", hub, got, want)
			}
			for _, leaf := range want {
				if got := s.Links(leaf); len(got) != 0 {
					t.Errorf("leaf %s links to %v", leaf, got)
				}
			}
		}
	}
}

// TestFanOutReachesEveryPage checks that a breadth-first crawl from the seed
// finds every page once, and that in each host's discovery order (which a
// per-host FIFO frontier fetches in) every hub comes before every leaf: the
// property that makes the frontier peak at about all the leaves.
func TestFanOutReachesEveryPage(t *testing.T) {
	const hosts, hubs, leaves = 3, 4, 5
	s := start(t, Config{Hosts: hosts, Hubs: hubs, LeavesPerHub: leaves})
	seen := map[string]bool{s.SeedURL(): true}
	order := map[string][]string{} // host -> paths in discovery order
	queue := []string{s.SeedURL()}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		pu, _ := url.Parse(u)
		order[pu.Host] = append(order[pu.Host], pu.Path)
		for _, l := range s.Links(u) {
			if seen[l] {
				t.Errorf("%s: link to %s, already found", u, l)
				continue
			}
			seen[l] = true
			queue = append(queue, l)
		}
	}
	if want := hosts * (1 + hubs + hubs*leaves); len(seen) != want || len(s.URLs()) != want {
		t.Errorf("BFS found %d pages, URLs() has %d, want %d", len(seen), len(s.URLs()), want)
	}
	nLeaves := 0
	for host, paths := range order {
		lastHub, firstLeaf := -1, len(paths)
		for i, p := range paths {
			switch {
			case strings.Contains(p, "/leaf/"):
				firstLeaf = min(firstLeaf, i)
				nLeaves++
			case strings.HasPrefix(p, "/hub/"):
				lastHub = i
			}
		}
		if lastHub > firstLeaf {
			t.Errorf("%s: a hub is found after a leaf: %v", host, paths)
		}
	}
	if nLeaves != hosts*hubs*leaves {
		t.Errorf("%d leaves, want %d", nLeaves, hosts*hubs*leaves)
	}
}

func TestFanOutHTML(t *testing.T) {
	s := start(t, Config{Hosts: 2, Hubs: 3, LeavesPerHub: 4})
	c := newClient(t)
	forms := map[string]bool{}
	for _, pageURL := range s.URLs() {
		resp, body := get(t, c, pageURL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", pageURL, resp.StatusCode)
		}
		base, _ := url.Parse(pageURL)
		var got []string
		for _, h := range hrefs(t, body) {
			forms[hrefForm(h)] = true
			ref, err := url.Parse(h)
			if err != nil {
				t.Fatalf("%s: bad href %q", pageURL, h)
			}
			got = append(got, base.ResolveReference(ref).String())
		}
		if want := s.Links(pageURL); !slices.Equal(got, want) {
			t.Errorf("%s: hrefs resolve to\n%v\nLinks() =\n%v", pageURL, got, want)
		}
		if strings.Contains(pageURL, "/leaf/") && (len(got) != 0 || len(body) > 512) {
			t.Errorf("leaf %s: %d links, %d bytes; want a small page without links", pageURL, len(got), len(body))
		}
	}
	// Cross-host links come only from the first host's home page, so one
	// form of them is all a two-host site shows.
	if len(forms) < 4 {
		t.Errorf("href forms used: %v", forms)
	}
}

func TestFanOutPaths(t *testing.T) {
	s := start(t, Config{Hubs: 3, LeavesPerHub: 4})
	c := newClient(t)
	for _, u := range s.URLs() {
		h, k, ok := s.Page(u + "#frag")
		if !ok || s.PageURL(h, k) != u {
			t.Errorf("Page(%s) = %d, %d, %v", u, h, k, ok)
		}
	}
	base := "http://" + s.Hosts()[0]
	for _, p := range []string{"/hub/3", "/hub/01", "/hub/+1", "/hub/-0", "/hub/", "/hub/0/", "/hub/0/leaf/4",
		"/hub/0/leaf/", "/hub/0/leaf/01", "/hub/x/leaf/1", "/page/1", "/leaf/1"} {
		if _, _, ok := s.Page(base + p); ok {
			t.Errorf("Page(%s) accepted", p)
		}
		if resp, _ := get(t, c, base+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestFanOutConfig(t *testing.T) {
	for _, bad := range []Config{
		{Hubs: -1}, {Hubs: 1, LeavesPerHub: -1}, {LeavesPerHub: 3},
		{Hubs: 2, LinksPerPage: 1}, {Hosts: 2, Hubs: 2, CrossLinks: 1}, {Hubs: 2, Decoys: true},
		{Hubs: 2, LeavesPerHub: 3, PagesPerHost: 10}, {Hubs: 1 << 20, LeavesPerHub: 1 << 20},
	} {
		if s, err := Start(bad); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", bad)
		}
	}
	s := start(t, Config{Hosts: 2, Hubs: 2, LinksPerPage: -1, CrossLinks: -1})
	if got := s.Config(); got.LeavesPerHub != 10 || got.PagesPerHost != 23 {
		t.Errorf("Config() = %+v", got)
	}
	// A normalised Config starts the same site again.
	again := start(t, s.Config())
	if !reflect.DeepEqual(again.Config(), s.Config()) {
		t.Errorf("restarted Config() = %+v, want %+v", again.Config(), s.Config())
	}
}

// TestFanOutLargeIsCheap serves a host of two million leaves: nothing may be
// stored per page, and pages far into the numbering must work.
func TestFanOutLargeIsCheap(t *testing.T) {
	s := start(t, Config{Hubs: 1000, LeavesPerHub: 2000})
	c := newClient(t)
	last := "http://" + s.Hosts()[0] + "/hub/999/leaf/1999"
	if h, k, ok := s.Page(last); !ok || h != 0 || k != s.Config().PagesPerHost-1 {
		t.Fatalf("Page(%s) = %d, %d, %v", last, h, k, ok)
	}
	if resp, _ := get(t, c, last); resp.StatusCode != http.StatusOK {
		t.Errorf("last leaf: status %d", resp.StatusCode)
	}
	if _, body := get(t, c, "http://"+s.Hosts()[0]+"/hub/500"); len(hrefs(t, body)) != 2000 {
		t.Errorf("hub has %d links, want 2000", len(hrefs(t, body)))
	}
}
