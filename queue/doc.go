// Package queue is crawld's crawl frontier: it decides which URL is fetched
// next so that every host is crawled politely.
//
// The design follows Mercator. Each host has its own FIFO of items, its own
// token-bucket rate limiter and a cap on requests in flight. The hosts that
// could be served (items queued, below the cap) sit in a min-heap keyed by
// readyAt, the time their limiter next has a token, and Get takes from the
// host at the top. A single FIFO would make workers wait behind whichever
// host is at its head; with the ready-heap a worker never waits for one host
// while another could be fetched now (no head-of-line blocking), and ties go
// to the host that has been eligible longest, so no host starves.
//
// Get charges the host's limiter when it hands an item out, so the rate
// bounds when requests start, however long they take.
//
// Memory held follows the active hosts, not every host ever seen: once a host
// has nothing queued or in flight its state is dropped as soon as its limiter
// has refilled, at which point a fresh limiter would behave identically. The
// idle hosts sit in a second heap keyed by that time, swept by every call, so
// the frontier needs no goroutine of its own.
//
// Crawl-delay from robots.txt, the Retry-After of a 429 or 503, back-off
// after failures and adaptive throttling all slow one host down at run time,
// and they all come down to the same thing: a later readyAt on the same
// clock. SetInterval retunes a host's limiter to one request per interval
// (burst 1); Block sets a time before which the host is not ready, whatever
// its limiter says. A host's readyAt is the later of its limiter's next token
// and the end of its block, so the ready-heap and the waiting Gets honour
// both with no machinery of their own, and an idle host is kept in memory
// until its block has passed too. Intervals must outlive the host's state, so
// they are kept in a map of their own.
//
// Without a rate limit the clock is not read at all while no host held has an
// interval or a block: every eligible host is then ready at once. While one
// has, the whole frontier runs on the clock (see Memory.now).
//
// New URLs come in through Admit, which deduplicates them through the
// frontier's seen set and applies the crawl's Limits; Put queues an item
// whatever was seen (a retry), and Revisit queues every admitted URL again
// for a new round.
//
// Put, Get, Done and Join give WaitGroup-style join semantics, like Python's
// asyncio.Queue: every Put counts one unfinished task, Done finishes one, and
// Join waits until none remain.
package queue
