package crawler_test

import (
	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/redisq"
	"github.com/crawld/crawld/store"
)

// Which backend provides which capability (see frontier.go). A backend
// that loses a method, or gains a capability, fails to build here first.
var (
	_ crawler.Frontier       = (*queue.Memory)(nil)
	_ crawler.ValidatorStore = (*queue.Memory)(nil)
	_ crawler.HostHolder     = (*queue.Memory)(nil)
	_ crawler.CaptureStore   = (*queue.Memory)(nil)

	_ crawler.Frontier        = (*store.Frontier)(nil)
	_ crawler.DurableFrontier = (*store.Frontier)(nil)
	_ crawler.ValidatorStore  = (*store.Frontier)(nil)
	_ crawler.HostHolder      = (*store.Frontier)(nil)
	_ crawler.CaptureStore    = (*store.Frontier)(nil)

	_ crawler.Frontier       = (*redisq.Frontier)(nil)
	_ crawler.SharedFrontier = (*redisq.Frontier)(nil)
)
