package main

import (
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/store"
)

// openStore opens the embedded store in dir.
func openStore(dir string, cfg queue.Config) (frontier, error) {
	return store.Open(dir, cfg)
}
