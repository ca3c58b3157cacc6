// Command crawlbench measures whole crawls by the crawld binary of the
// synthetic loopback site (internal/testsite), the site running in this
// process and crawld in its own, so that crawld's peak RSS and CPU time are
// its alone. It prints one Markdown table row per scenario.
//
//	go run ./cmd/crawlbench                 # every scenario but the on-request ones
//	go run ./cmd/crawlbench -scenario politeness
//	go run ./cmd/crawlbench -scenario frontier
//	go run ./cmd/crawlbench -scenario cluster  # the scale-out group, with Redis
//
// Scenarios:
//   - politeness: 50 hosts × 40 pages, links within and across hosts, 50 ms
//     per response, --rate 4 --burst 1, 32 workers. The wall time is compared
//     with the simulated lower bound for this very link graph (see
//     lowerBound), and every host's busiest 1 s window is measured on the
//     server's side.
//   - politeness-503: the same, with the last host answering every request
//     (robots.txt included) with 503 and Retry-After: 5. The other 49 hosts
//     must finish as if it were not there; their finish time is compared
//     with the healthy bound above, and with the bound for a site whose
//     failing host yields no links.
//   - throughput: one host, 20,000 pages, no latency, --rate 0, 64 workers
//     and 64 requests in flight to the host.
//   - throughput-pebble: the same with the crawl's state in the embedded
//     store (--storage pebble), whose size on disk is reported too.
//   - hostile: 8 hosts whose every page links to an endless body, a 1 GiB
//     gzip bomb and 200 more pages of an endless calendar, and whose
//     sitemaps are a nesting bomb and an endless index; 32 workers,
//     --max-pages 20000, --sitemaps. What matters is crawld's peak RSS.
//   - hostile-tiny: 8 hosts whose every page is 10 MiB of tiny elements
//     (<p><p><p>…, the page that costs a tree builder most) ending in links
//     to more such pages; 16 workers, --max-body 10MiB, --max-pages 48.
//     What matters is crawld's peak RSS: under 200 MiB.
//   - frontier (on request: it takes minutes): the bounded frontier. 25 hosts,
//     each a home page linking to 100 hubs of 800 leaves: 2,000,000 leaves,
//     2,002,525 pages, all fetched (no max_pages), --rate 0, 64 workers, 16
//     requests in flight per host, --frontier-memory-limit 256MiB. Taking
//     each host's URLs first in, first out, crawld fetches every hub before
//     any leaf, so nearly all the leaves wait in the frontier at once. The
//     last column shows it: the most URLs queued at once, how many of them
//     were spilled to disk and the spill directory's size then, sampled
//     from crawld's progress lines once a second. The goal is a peak RSS
//     under 512 MiB; the run fails if crawld exceeds it.
//   - stall (on request: it takes about two minutes, and has a table of its
//     own): crawld with its defaults against servers that never answer,
//     drip their body one byte a second or send a header line a second,
//     first on the page (robots.txt answering 404), then on robots.txt
//     (which may also answer 503), one host each, all at once. Each crawl
//     must exit 0 with an error record for every seed within its bound:
//     90 s for a page, 150 s for robots.txt, whose host is set aside with
//     no page requested.
//   - frontier-unbounded (on request): the same crawl with
//     --frontier-memory-limit 0, every queued URL in memory: what the bound
//     saves, and what it costs in time and CPU.
//
// The cluster group (on request: -scenario cluster runs all of it, in this
// order, or name one) measures the scale-out: N crawld processes sharing one
// crawl in a private redis-server (see cluster.go; redis-server must be on
// PATH), started by crawlbench on a free loopback port with no persistence
// and killed at the end, one per scenario. Its table has five more columns:
// the nodes and the records each wrote; the closest two requests to any
// host, with the floor below; Redis's CPU time and, per page, the commands
// it ran (total_commands_processed, which counts the commands inside Lua
// scripts) and the script calls crawld sent (EVALSHA and EVAL, from
// commandstats), all INFO deltas over the crawl; and the scenario's ratio
// with its goal. A last line sums up the goals. In the cluster rows, CPU is
// summed over the nodes and peak RSS is the largest node's (their sum
// follows).
//   - throughput, throughput-pebble: as above, the embedded baselines.
//   - cluster-politeness-local, cluster-politeness-1, cluster-politeness-3:
//     the politeness crawl (32 workers a node) in one process with the
//     embedded memory store, and on 1 and 3 nodes on Redis. Per-host rate
//     is the bound, so more nodes must not finish sooner, nor much later:
//     the goal is done/bound ≤ 1.05 for 3 nodes.
//   - cluster-capacity-local (storage memory, crawld crawl's default),
//     cluster-capacity-pebble, cluster-capacity-1, cluster-capacity-3: 200
//     hosts × 30 pages, 100 ms per response, --rate 10 --burst 1, 8 workers
//     per node, so the workers are the bound (80 pages/s a node at most; the
//     rate would allow 2,000). Goal: 3 nodes reach 2.7 × 1 node's pages/s.
//   - cluster-throughput-redis-1: the throughput crawl by one node on Redis.
//     Goal: 0.8 × throughput's pages/s.
//   - cluster-fanout-local (storage memory), cluster-fanout-redis-1: the
//     fan-out shape (10 hosts × 20 hubs × 100 leaves, so a hub brings 100
//     new links), --rate 0 and throughput's workers, in one process and on
//     one node on Redis: what admitting many new links costs on Redis.
//     Goal: the node on Redis reaches 0.8 × the embedded crawl's pages/s.
//   - cluster-cpu-local (storage memory), cluster-cpu-redis-1: CPU-bound.
//     6 hosts × 500 pages of about 300 KB, each with 200 links within and
//     across hosts (nearly all of them to pages already seen), no latency,
//     --rate 0, 16 workers and 16 requests in flight per host, in one
//     process and on one node on Redis. Parsing binds, so the Redis
//     columns show the shared frontier's overhead per page. Goal: the node
//     on Redis reaches 0.8 × the embedded crawl's pages/s.
//
// Every cluster scenario with a rate fails the run on a politeness
// violation, judged by the site's log: a host's busiest 1 s window over
// rate+burst or, with burst 1, two requests to a host closer than 1/rate
// minus 5 ms. Missing a ratio goal is reported, not a failure.
//
// Peak RSS is crawld's own: the kernel's figure for a child starts at its
// parent's peak, so crawlbench also samples the child's VmHWM (see
// meteredProc).
//
// In every scenario but the hostile ones the records are checked: each page of the
// site must be recorded exactly once (across the nodes' outputs, in a
// cluster) and, unless its host fails on purpose, without error, so
// "records" is also the number of URLs the crawl discovered.
package main
