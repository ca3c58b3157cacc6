package main

import (
	"time"

	"go.uber.org/zap"
)

// pack writes the WACZ package of the WARC files the crawl wrote (warc.wacz,
// crawld crawl only): at the end of a crawl that was not stopped, once the
// last file is complete. The daemon never packages: its files are never
// all written.
func (a archive) pack(log *zap.Logger) error {
	if a.w == nil {
		return nil
	}
	if len(a.w.Files()) == 0 {
		log.Warn("no WARC file written: no WACZ package")
		return nil
	}
	path, err := a.w.Package(time.Now())
	if err != nil {
		log.Error("writing the WACZ package", zap.Error(err))
		return err
	}
	log.Info("WACZ package written", zap.String("path", path))
	return nil
}
