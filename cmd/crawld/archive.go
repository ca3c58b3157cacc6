package main

import (
	"os"
	"strconv"

	"go.uber.org/zap"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/internal/buildinfo"
	"github.com/crawld/crawld/warc"
)

// archive is the WARC writer warc.dir asks for; the zero value is no
// archive.
type archive struct{ w *warc.Writer }

// openArchive opens the WARC writer s asks for, or none without warc.dir.
// Its files are named after the node (node_id, else the host name), so
// that nodes writing into one directory do not collide. With a durable
// frontier, each exchange is fsynced before its item is done. Files a
// crash left .open are repaired first, and the repair logged to log. With
// warc.dedupe, payloads already archived are found in front's index when
// it offers one (Pebble: across restarts; Redis: across the crawl's
// nodes), else in one in memory.
func openArchive(s settings, front crawler.Frontier, durable bool, log *zap.Logger) (archive, error) {
	if s.warcDir == "" {
		return archive{}, nil
	}
	node := s.nodeID
	if node == "" {
		node, _ = os.Hostname()
	}
	w, err := warc.Open(warc.Config{
		Dir: s.warcDir, Prefix: s.warcPrefix, Node: node, MaxSize: s.warcMaxSize, Compress: s.warcCompress,
		Software: buildinfo.String(), Durable: durable, CDXJ: s.warcCDXJ, Logger: log,
		Dedupe: s.warcDedupe, Digests: digestsOf(front),
		Info: [][2]string{
			{"http-header-user-agent", s.crawl.UserAgent},
			{"robots", map[bool]string{true: "obey", false: "ignore"}[s.crawl.Robots]},
			{"max-body", strconv.FormatInt(s.crawl.MaxBody, 10)},
		},
	})
	return archive{w}, err
}

// digestIndex is a frontier that keeps an index of archived payloads
// (store.Frontier, redisq.Frontier).
type digestIndex interface{ Digests() warc.Digests }

// digestsOf returns front's index of archived payloads, or nil (the
// archive then keeps one in memory).
func digestsOf(front crawler.Frontier) warc.Digests {
	if d, ok := front.(digestIndex); ok {
		return d.Digests()
	}
	return nil
}

// options are the crawler options that keep the crawl's exchanges in the
// archive.
func (a archive) options() []crawler.Option {
	if a.w == nil {
		return nil
	}
	return []crawler.Option{crawler.WithArchive(a.w)}
}

// close completes the file being written, logging a failure.
func (a archive) close(log *zap.Logger) error {
	if a.w == nil {
		return nil
	}
	err := a.w.Close()
	if err != nil {
		log.Error("closing the WARC archive", zap.Error(err))
	}
	return err
}
