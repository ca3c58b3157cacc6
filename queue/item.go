package queue

// Kind says what an Item fetches.
type Kind uint8

const (
	KindPage    Kind = iota // a page admitted by the crawler
	KindSitemap             // a sitemap or sitemap index whose URLs the crawler admits
	// KindExpand is a page fetched again only for its links: it was
	// handed out at a greater depth than a path found since (see
	// Shallower), so its links are taken at the smaller depth. Its record
	// was written when it was first fetched.
	KindExpand
)

// Item is one unit of work. The frontier paces it by Host and admits it by
// URL (with Config.Depths, Depth and Kind too); the rest is carried for the
// crawler.
type Item struct {
	URL       string // absolute, normalised URL to fetch
	Host      string // politeness key: items with the same Host share one rate limiter and one in-flight cap
	Depth     int    // link depth from a seed (seeds are 0)
	Kind      Kind
	Redirects int    // redirect hops that led to this URL (0 for a URL found as a link or seed)
	Origin    string // for a redirect hop, the URL originally admitted; "" otherwise
	Attempt   int    // failed tries so far (0 on the first try)

	// Via, for a redirect hop, lists the hops between Origin and URL,
	// oldest first and separated by spaces (a normalised URL has none), so
	// that a chain coming back on itself is seen as a loop; "" otherwise.
	// A chain is at most max_redirects hops long, which bounds it.
	Via string

	// Referrer is the page on which the URL was found as a link (the
	// page's URL as fetched, after its redirects); "" for a seed, a
	// sitemap's URL, a recrawl's items (the seen set keeps no referrer)
	// and an item queued by a crawld that did not keep it.
	// A redirect hop keeps its origin's. Items found on one page share
	// the string.
	Referrer string

	// ID identifies a stored copy of the item for a frontier that keeps
	// items outside memory (the embedded store): it sets ID when the item is
	// queued and finds the copy again by it when the item is Done. Memory
	// keeps it as given and never reads it.
	ID uint64
}
