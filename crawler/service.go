package crawler

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/queue"
)

// Crawl states reported by Status.
const (
	StateStarting = "starting" // workers not started yet
	StateCrawling = "crawling" // work queued or in flight
	StateIdle     = "idle"     // nothing to do until seeds are added or a recrawl starts
	StateStopping = "stopping" // taking no new work, finishing what is in flight
)

// Status is a snapshot of the crawl for the admin API.
type Status struct {
	State        string       `json:"state"`
	Pages        int64        `json:"pages"`
	Errors       int64        `json:"errors"`
	Bytes        int64        `json:"bytes"`
	RobotsDenied int64        `json:"robots_denied"`
	Retries      int64        `json:"retries"`
	Frontier     *queue.Stats `json:"frontier,omitempty"` // nil when the frontier cannot report it
	BusiestHosts []HostCount  `json:"busiest_hosts"`      // by records in the last one to two minutes
}

// HostCount is a host and how many of its pages were recorded lately.
type HostCount struct {
	Host  string `json:"host"`
	Pages int64  `json:"pages"`
}

// Status returns the crawl's state and counters. It takes no lock that a
// worker holds while fetching, so it answers however busy the crawl is.
func (c *Crawler) Status() Status {
	st := Status{
		State:        StateStarting,
		Pages:        c.counts.pages.Load(),
		Errors:       c.counts.errors.Load(),
		Bytes:        c.counts.bytes.Load(),
		RobotsDenied: c.counts.robotsDenied.Load(),
		Retries:      c.counts.retries.Load(),
		BusiestHosts: c.busiest.top(10),
	}
	fs := c.front.Stats()
	st.Frontier = &fs
	switch {
	case c.stopping.Load():
		st.State = StateStopping
	case !c.started.Load():
	case st.Frontier != nil && st.Frontier.Queued+st.Frontier.InFlight == 0:
		st.State = StateIdle
	default:
		st.State = StateCrawling
	}
	return st
}

// Stopping marks the crawl as stopping in Status, for a service about to
// cancel Serve's stop context.
func (c *Crawler) Stopping() { c.stopping.Store(true) }

// SeedResult says what became of one URL given to AddSeeds.
type SeedResult struct {
	URL      string `json:"url"`
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason,omitempty"` // why it was not accepted
}

// AddSeeds admits urls as new seeds (depth 0), each through the URL filter,
// the seen set and max_pages, and says for each whether it was queued.
func (c *Crawler) AddSeeds(ctx context.Context, urls []string) ([]SeedResult, error) {
	results := make([]SeedResult, 0, len(urls))
	for _, raw := range urls {
		res := SeedResult{URL: raw}
		u, err := filter.Parse(raw)
		if err != nil {
			res.Reason = "invalid: " + err.Error()
			results = append(results, res)
			continue
		}
		if reason := c.rules.Load().Check(u); reason != filter.ReasonOK {
			res.Reason = "filtered: " + reason.String()
			results = append(results, res)
			continue
		}
		// The same admission as a discovered link: seen set, max_pages
		// and max_pages_per_host, counted alike.
		res.URL = u.String()
		admissions, err := c.enqueue(ctx, []queue.Item{{URL: res.URL, Host: u.Host, Kind: queue.KindPage}}, true)
		if err != nil {
			return results, err
		}
		switch admissions[0] {
		case queue.Added:
			res.Accepted = true
		case queue.Duplicate:
			res.Reason = "duplicate: already crawled or queued"
		case queue.OverLimit:
			res.Reason = "max_pages or max_pages_per_host reached"
		}
		results = append(results, res)
	}
	return results, nil
}

// SetAllowedDomains replaces the allowed domains (as allow_domains, empty
// meaning the seeds' hosts) for URLs admitted from now on; URLs already
// queued stay queued.
func (c *Crawler) SetAllowedDomains(domains []string) error {
	cfg := c.cfg
	cfg.AllowDomains = domains
	rules, err := cfg.rules()
	if err != nil {
		return err
	}
	c.rules.Store(rules)
	return nil
}

// hostCounter counts recorded pages per host over a sliding window of one to
// two minutes, so its memory follows the hosts crawled lately.
type hostCounter struct {
	mu       sync.Mutex // guards the fields below
	current  map[string]int64
	previous map[string]int64
	since    time.Time
}

const hostCounterWindow = time.Minute

func (h *hostCounter) reset() {
	h.current, h.previous, h.since = make(map[string]int64), make(map[string]int64), time.Now()
}

func (h *hostCounter) rotate(now time.Time) {
	elapsed := now.Sub(h.since)
	if elapsed < hostCounterWindow {
		return
	}
	h.previous, h.current, h.since = h.current, make(map[string]int64), now
	if elapsed >= 2*hostCounterWindow {
		clear(h.previous) // nothing was counted in the last window
	}
}

func (h *hostCounter) add(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rotate(time.Now())
	h.current[host]++
}

// top returns the n hosts with the most pages in the window, most first.
func (h *hostCounter) top(n int) []HostCount {
	h.mu.Lock()
	h.rotate(time.Now())
	counts := make(map[string]int64, len(h.current)+len(h.previous))
	for host, c := range h.previous {
		counts[host] += c
	}
	for host, c := range h.current {
		counts[host] += c
	}
	h.mu.Unlock()
	all := make([]HostCount, 0, len(counts))
	for host, c := range counts {
		all = append(all, HostCount{Host: host, Pages: c})
	}
	slices.SortFunc(all, func(a, b HostCount) int {
		return cmp.Or(cmp.Compare(b.Pages, a.Pages), cmp.Compare(a.Host, b.Host))
	})
	return all[:min(n, len(all))]
}
