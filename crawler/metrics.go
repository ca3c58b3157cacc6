package crawler

import (
	"cmp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/queue"
)

// metrics are the crawler's Prometheus series, registered on the registry
// the caller passes in (never the global one).
type metrics struct {
	pages         *prometheus.CounterVec // by status class
	bytes         prometheus.Counter
	errors        *prometheus.CounterVec // by kind
	fetchDuration prometheus.Histogram
	robotsDenied  prometheus.Counter
	rejected      *prometheus.CounterVec // by reason
	retries       prometheus.Counter
}

// newMetrics registers the crawler's series on reg, with gauges that read
// the frontier's size when scraped.
func newMetrics(reg prometheus.Registerer, front Frontier) (*metrics, error) {
	m := &metrics{
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crawld_pages_total", Help: "Records written, by HTTP status class (2xx..5xx) or \"error\" when nothing was fetched.",
		}, []string{"class"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crawld_bytes_total", Help: "Response body bytes read (after decompression).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crawld_errors_total", Help: "Records with an error, by kind (the records' error_kind).",
		}, []string{"kind"}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "crawld_fetch_duration_seconds", Help: "Time from request start to body read.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		robotsDenied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crawld_robots_denied_total", Help: "URLs not fetched because robots.txt disallows them.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crawld_rejected_urls_total", Help: "Discovered URLs not admitted, by reason (filter rules, duplicate, too_deep, max_pages).",
		}, []string{"reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crawld_retries_total", Help: "Fetches retried after a transient failure.",
		}),
	}
	collectors := []prometheus.Collector{m.pages, m.bytes, m.errors, m.fetchDuration, m.robotsDenied, m.rejected, m.retries}
	collectors = append(collectors, newFrontierCollector(front))
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Pre-create the label values so dashboards see zeros, not gaps.
	for _, class := range []string{"2xx", "3xx", "4xx", "5xx", "error"} {
		m.pages.WithLabelValues(class)
	}
	for _, r := range filter.Reasons()[1:] {
		m.rejected.WithLabelValues(r.String())
	}
	for _, kind := range errorKinds() {
		m.errors.WithLabelValues(kind)
	}
	return m, nil
}

// observe counts one record.
func (m *metrics) observe(rec Record) {
	if m == nil {
		return
	}
	class := "error"
	if rec.Status >= 100 && rec.Status < 600 {
		class = string("012345"[rec.Status/100]) + "xx"
	}
	m.pages.WithLabelValues(class).Inc()
	m.bytes.Add(float64(rec.Bytes))
	if rec.DurationMS > 0 {
		m.fetchDuration.Observe((time.Duration(rec.DurationMS) * time.Millisecond).Seconds())
	}
	if rec.Error != "" {
		m.errors.WithLabelValues(cmp.Or(rec.ErrorKind, kindOther)).Inc()
	}
}

func (m *metrics) reject(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) robotsDenial() {
	if m != nil {
		m.robotsDenied.Inc()
	}
}

func (m *metrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

// frontierCollector exports the frontier's Stats as gauges, reading them
// once per scrape.
type frontierCollector struct {
	front  Frontier
	gauges []frontierGauge
}

type frontierGauge struct {
	desc  *prometheus.Desc
	value func(queue.Stats) float64
}

func newFrontierCollector(front Frontier) *frontierCollector {
	gauge := func(name, help string, value func(queue.Stats) float64) frontierGauge {
		return frontierGauge{prometheus.NewDesc(name, help, nil, nil), value}
	}
	return &frontierCollector{front: front, gauges: []frontierGauge{
		gauge("crawld_frontier_queued", "URLs waiting in the frontier.", func(s queue.Stats) float64 { return float64(s.Queued) }),
		gauge("crawld_frontier_in_flight", "URLs being fetched.", func(s queue.Stats) float64 { return float64(s.InFlight) }),
		gauge("crawld_seen_urls", "Distinct URLs admitted (the seen set).", func(s queue.Stats) float64 { return float64(s.Seen) }),
		gauge("crawld_hosts_active", "Hosts with state in the frontier.", func(s queue.Stats) float64 { return float64(s.Hosts) }),
		gauge("crawld_hosts_waiting", "Hosts with queued URLs that may not be fetched yet.", func(s queue.Stats) float64 { return float64(s.HostsWaiting) }),
		gauge("crawld_frontier_spilled", "Queued URLs held on disk because the frontier reached frontier_memory_limit.", func(s queue.Stats) float64 { return float64(s.Spilled) }),
		gauge("crawld_frontier_memory_bytes", "Estimated bytes of the queued URLs and host state the frontier holds in memory.", func(s queue.Stats) float64 { return float64(s.MemoryBytes) }),
		gauge("crawld_hosts_backoff", "Hosts paused by Retry-After, back-off or an unreachable robots.txt.", func(s queue.Stats) float64 { return float64(s.Blocked) }),
	}}
}

// Describe implements prometheus.Collector.
func (fc *frontierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range fc.gauges {
		ch <- g.desc
	}
}

// Collect implements prometheus.Collector.
func (fc *frontierCollector) Collect(ch chan<- prometheus.Metric) {
	st := fc.front.Stats()
	for _, g := range fc.gauges {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.value(st))
	}
}
