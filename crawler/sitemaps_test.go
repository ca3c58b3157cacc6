package crawler

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/redisq"
	"github.com/crawld/crawld/store"
)

// TestCrawl_DynamicSitemapIndex serves a sitemap index that lists ten new
// sitemaps, each again such an index, every time one is read. Without a cap
// the crawl reads 1 + 10 + 100 + 1,000 of them from each of robots.txt's
// line and /sitemap.xml (and, were nesting unbounded, would never end);
// with it, it ends having read max_sitemaps_per_host sitemaps, the
// robots.txt line and /sitemap.xml included.
func TestCrawl_DynamicSitemapIndex(t *testing.T) {
	var next atomic.Int64
	var log pathLog
	var base string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/robots.txt":
			fmt.Fprintf(w, "User-agent: *\nAllow: /\nSitemap: %s/dyn/root.xml\n", base)
		case r.URL.Path == "/sitemap.xml" || strings.HasPrefix(r.URL.Path, "/dyn/"):
			fmt.Fprint(w, `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
			for range 10 {
				fmt.Fprintf(w, "<sitemap><loc>%s/dyn/%d.xml</loc></sitemap>", base, next.Add(1))
			}
			fmt.Fprint(w, "</sitemapindex>")
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "page")
		}
	})
	base = serve(t, "127.0.0.2", log.wrap(handler))
	cfg := testConfig(base + "/")
	cfg.Sitemaps = true
	recs := mustCrawl(t, cfg).records()
	read := log.total() - log.count("/robots.txt") - log.count("/")
	if want := DefaultConfig().MaxSitemapsPerHost; read != want {
		t.Errorf("sitemaps read: got %d, want max_sitemaps_per_host (%d)", read, want)
	}
	if len(recs) != 1 {
		t.Errorf("records: got %d, want 1 (the seed): %v", len(recs), recs)
	}
}

// TestCrawl_SitemapURLsCountAgainstPageLimits has a sitemap list 30 pages
// of its own host and 30 of another, and checks with each frontier that
// they are admitted within max_pages and max_pages_per_host like links.
func TestCrawl_SitemapURLsCountAgainstPageLimits(t *testing.T) {
	hosts := []string{"127.0.0.2", "127.0.0.3"}
	var bases [2]string
	var logs [2]pathLog
	for i, ip := range hosts {
		bases[i] = serve(t, ip, logs[i].wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/robots.txt":
				fmt.Fprint(w, "User-agent: *\nAllow: /\n")
			case r.URL.Path == "/sitemap.xml" && i == 0:
				fmt.Fprint(w, `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
				for j := range 30 {
					fmt.Fprintf(w, "<url><loc>%s/p/%d</loc></url><url><loc>%s/p/%d</loc></url>", bases[0], j, bases[1], j)
				}
				fmt.Fprint(w, "</urlset>")
			case r.URL.Path == "/sitemap.xml":
				http.NotFound(w, r)
			default:
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, "page")
			}
		})))
	}
	redis := redistest.Start(t)
	frontiers := []struct {
		name string
		open func(t *testing.T, pol queue.Config) Frontier
	}{
		{"memory", func(t *testing.T, pol queue.Config) Frontier { return queue.NewMemory(pol) }},
		{"pebble", func(t *testing.T, pol queue.Config) Frontier {
			f, err := store.Open(t.TempDir(), pol)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}},
		{"redis", func(t *testing.T, pol queue.Config) Frontier {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f, err := redisq.Open(ctx, redisq.Options{URL: redis.URL, CrawlID: strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), Config: pol})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}},
	}
	limits := []struct {
		name              string
		maxPages, perHost int
		want              [2]int // pages requested (and recorded) per host; -1: any
		wantTotal         int
	}{
		{"max_pages", 10, 0, [2]int{-1, -1}, 10},
		{"max_pages_per_host", 0, 5, [2]int{5, 5}, 10},
	}
	for _, fr := range frontiers {
		for _, lim := range limits {
			t.Run(fr.name+"/"+lim.name, func(t *testing.T) {
				for i := range logs {
					logs[i] = pathLog{}
				}
				cfg := testConfig(bases[0] + "/")
				cfg.AllowDomains = hosts
				cfg.Sitemaps = true
				cfg.MaxPages, cfg.MaxPagesPerHost = lim.maxPages, lim.perHost
				front := fr.open(t, queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency})
				sink := &recordSink{}
				mustRunOn(t, cfg, front, sink)
				recs := sink.byURL(t)
				var recorded [2]int
				for u := range recs {
					for i, b := range bases {
						if strings.HasPrefix(u, b+"/") {
							recorded[i]++
						}
					}
				}
				total := 0
				for i := range hosts {
					pages := logs[i].total() - logs[i].count("/robots.txt") - logs[i].count("/sitemap.xml")
					total += pages
					if pages != recorded[i] {
						t.Errorf("%s: %d pages requested, %d recorded", hosts[i], pages, recorded[i])
					}
					if lim.want[i] >= 0 && pages != lim.want[i] {
						t.Errorf("%s: %d pages requested, want %d", hosts[i], pages, lim.want[i])
					}
				}
				if total != lim.wantTotal || len(recs) != lim.wantTotal {
					t.Errorf("pages: %d requested, %d recorded, want %d", total, len(recs), lim.wantTotal)
				}
			})
		}
	}
}

func TestConfig_MaxSitemapsPerHost(t *testing.T) {
	cfg := testConfig("http://127.0.0.2/")
	cfg.MaxSitemapsPerHost = -1
	var ce *ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "max_sitemaps_per_host" {
		t.Errorf("Validate: got %v, want a ConfigError for max_sitemaps_per_host", err)
	}
}

func TestCrawl_SitemapSeeding(t *testing.T) {
	var base string
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, s)
		zw.Close()
		return b.Bytes()
	}
	var log timedLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprintf(w, "User-agent: *\nDisallow: /hidden\nSitemap: %s/index.xml\n", base)
		case "/index.xml":
			fmt.Fprintf(w, `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>%s/part.xml.gz</loc></sitemap></sitemapindex>`, base)
		case "/part.xml.gz":
			w.Header().Set("Content-Type", "application/gzip")
			w.Write(gz(fmt.Sprintf(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>%[1]s/deep1</loc></url><url><loc>%[1]s/deep2</loc></url><url><loc>%[1]s/hidden</loc></url><url><loc>%[1]s/file.pdf</loc></url></urlset>`, base)))
		case "/sitemap.xml":
			fmt.Fprintf(w, `<urlset><url><loc>%s/deep3</loc></url><url><loc>http://127.0.0.9/elsewhere</loc></url></urlset>`, base)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "page")
		}
	})
	base = serve(t, "127.0.0.2", log.wrap(handler))
	cfg := testConfig(base + "/")
	cfg.Sitemaps = true
	recs := mustCrawl(t, cfg).byURL(t)
	for _, p := range []string{"/", "/deep1", "/deep2", "/deep3", "/index.xml", "/part.xml.gz", "/sitemap.xml"} {
		if n := len(log.times(p)); n != 1 {
			t.Errorf("%s requested %d times, want 1", p, n)
		}
	}
	for _, p := range []string{"/hidden", "/file.pdf"} {
		if n := len(log.times(p)); n != 0 {
			t.Errorf("%s requested %d times, want 0", p, n)
		}
	}
	if len(recs) != 5 { // /, deep1-3, and /hidden as robots-disallowed
		t.Errorf("records: got %d, want 5: %v", len(recs), recs)
	}
}
