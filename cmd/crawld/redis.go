package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/redisq"
)

// redisFrontier is a crawl shared over Redis, as the commands use it.
type redisFrontier struct{ *redisq.Frontier }

var _ crawler.NodeNamer = redisFrontier{}

// Reconfigure does nothing: a shared crawl's politeness is part of its
// identity in Redis, the same for every node, so a reload cannot change it
// on one node alone.
func (redisFrontier) Reconfigure(queue.Config) {}

// Revisit refuses: recrawls of a shared crawl are not implemented (the
// config check keeps recrawl_interval at 0 with storage redis).
func (redisFrontier) Revisit(context.Context) (int, error) {
	return 0, errors.New("recrawl is not supported with storage redis")
}

// openRedis joins the shared crawl s names, logging what Redis's settings
// put at risk.
func openRedis(ctx context.Context, s settings, log *zap.Logger) (frontier, error) {
	// go-redis reports reconnection trouble through a process-wide logger
	// that prints plain text to stderr; route it into crawld's JSON log.
	redis.SetLogger(redisLog{log.Named("redis")})
	f, err := redisq.Open(ctx, redisq.Options{
		URL:          s.redisURL,
		CrawlID:      s.redisCrawlID,
		NodeID:       s.nodeID,
		ConfigHash:   s.crawl.SharedIdentity(),
		Config:       politeness(s.crawl),
		MaxDepth:     s.crawl.MaxDepth,
		LeaseTTL:     s.redisLeaseTTL,
		RobotsMemory: s.redisRobotsMem,
		Warn:         func(w string) { log.Warn("redis", zap.String("warning", w)) },
		Logger:       log.Named("redisq"),
	})
	if err != nil {
		err = fmt.Errorf("storage redis (%s, crawl %q): %w", s.redisURL, s.redisCrawlID, err)
		return nil, redactedError{msg: scrub(err.Error(), s.redisURL), err: err}
	}
	return redisFrontier{f}, nil
}

// redisLog is go-redis's logger writing to zap.
type redisLog struct{ log *zap.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

// clusterMetrics describes the node and the cluster it belongs to; the
// frontier gauges the crawler registers already count the whole cluster.
func clusterMetrics(rf redisFrontier) []prometheus.Collector {
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "crawld_node_info",
		Help:        "Always 1; the node label names this node of a crawl shared over Redis.",
		ConstLabels: prometheus.Labels{"node": rf.NodeID()},
	})
	info.Set(1)
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "crawld_cluster_live_nodes",
		Help: "Nodes of the shared crawl whose heartbeat is recent, as this node's heartbeat last read them.",
	}, func() float64 {
		snap := rf.Snapshot() // never waits on Redis: a scrape must not
		if snap.At.IsZero() {
			return math.NaN() // not read yet
		}
		return float64(len(snap.LiveNodes))
	})
	return []prometheus.Collector{info, live}
}
