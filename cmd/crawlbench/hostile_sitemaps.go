package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"sync/atomic"
)

// addHostileSitemaps adds sitemaps to a host of the hostile site: its
// robots.txt lists 6 KB of gzip nesting two million elements (an XML
// decoder keeping every open element took 204 MiB for it), and its
// /sitemap.xml is an index listing ten sitemaps never listed before, each
// again such an index, every time one is read.
func addHostileSitemaps(mux *http.ServeMux) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write([]byte("<urlset>"))
	deep := bytes.Repeat([]byte("<a>"), 1<<20)
	zw.Write(deep)
	zw.Write(deep)
	zw.Close()
	mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "User-agent: *\nAllow: /\nSitemap: http://%s/sitemap-bomb.xml.gz\n", r.Host)
	})
	mux.HandleFunc("/sitemap-bomb.xml.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(bomb.Bytes())
	})
	var next atomic.Int64
	index := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
		for range 10 {
			fmt.Fprintf(w, "<sitemap><loc>http://%s/sitemap/%d.xml</loc></sitemap>", r.Host, next.Add(1))
		}
		fmt.Fprint(w, "</sitemapindex>")
	}
	mux.HandleFunc("/sitemap.xml", index)
	mux.HandleFunc("/sitemap/", index)
}
