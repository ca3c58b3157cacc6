// Package redisq is a crawl frontier shared by several crawld processes
// (nodes) through one Redis: one queue, one seen set, one politeness clock
// per host, one page budget, one count per host for a per-host cap, one
// robots.txt outcome per site and one "finished" count for the whole
// cluster.
// It implements the crawler's Frontier interface with queue.Memory's
// semantics; the design is section 2 of design/scaleout.md, with one shard.
//
// # Keys
//
// Every key of crawl c carries the hash tag {c:<c>}, so all of them live in
// one Redis Cluster slot and every script touches one slot only. With
// P = "cd:{c:<c>}:":
//
//	P meta          HASH epoch (random id of this run of the crawl), config (ConfigHash),
//	                politeness, created, version; run (run_id of the Redis process the
//	                crawl last saw), restarted and qu (when the last restart was noticed
//	                and its quarantine ends, µs), miv (longest interval ever set, µs)
//	P nodes         ZSET node id → last heartbeat (µs, Redis TIME)
//	P ready         ZSET host → earliest start allowed (µs); a host is in it iff it
//	                has queued items and a free in-flight slot
//	P active        SET of hosts with queued items (for Stats)
//	P q:<host>      LIST of encoded items (see encode), FIFO: RPUSH, LPOP, LPUSH to re-queue
//	P h:<host>      HASH tat (GCRA), last (last start), iv (SetInterval), bu (block
//	                until), inf (in flight); expires once it no longer matters
//	P lease         ZSET lease id → expiry (µs); ids are random, drawn by the claiming node
//	P leased        HASH lease id → node "\n" host "\n" "@" claim time (µs) "\n" item
//	P l:<node>      SET of the node's lease ids, to reap a dead node at once
//	P puts          ZSET token of a recent Put → when it may be forgotten (µs)
//	P s:<b>         seen set bucket b (0…65535, the top 16 bits of the URL's
//	                seen.Fingerprint): a SET of the low 48 bits as integers, an intset;
//	                with a max depth (meta's depth), the low 7 of them are the URL's
//	                smallest depth and a handed-out bit (see memberDepth)
//	P stats         HASH pending (queued + leased), admitted (the budget count behind
//	                Limits.Pages), seen, done, stale, requeued, restarts, robots (bytes of r: keys)
//	P hc            HASH host → items admitted with a Limits.PagesPerHost (Admit)
//	P hf            HASH host → failed requests in a row, by all nodes (HostFailed; an ack
//	                after HostSucceeded clears it)
//	P r:<authority> STRING a robots.txt outcome (SaveRobots), expiring with it (24 h at most)
//	P rx            ZSET authority → when its r: key expires (µs), to bound them all
//	P rs            HASH authority → bytes its r: key is charged; stats' robots field is their sum
//	P d             HASH payload digest → the capture that archived it first (Digests): its
//	                WARC-Date (Unix ns), record id and URI, a line each
//
// # Scripts
//
// State changes are Lua scripts (see scripts.go), atomic on the server:
// add (Admit: a page's links in one call), put
// (Put), claim (Get, carrying the node's acks), ack (a batch of acks:
// Finish, and the Dones no claim carried), interval, block, unblock,
// heartbeat (with the lease renewal and the dead-node reaper), release
// (Close), handback (Release), join and init (Open), stats (Snapshot and
// Join), saverobots (SaveRobots: robots.txt outcomes, in keys that expire
// with them, within a memory budget), claimdigest and unclaimdigest
// (Digests, in digests.go: the archive's index of payloads). Two reads and one count need no
// script: LoadRobots (GET and PTTL) and HostFailed's count (HINCRBY; acks
// clear it). Every time is Redis's TIME read inside the
// script; a node's clock is only used to sleep the wait a claim
// returns, and to turn Block's until into a duration. Claim, heartbeat
// and join also read INFO server's run_id, to notice a restart (below).
//
// Keys the scripts know in advance are passed in KEYS. The per-host and
// per-node keys are built inside the scripts from the tagged prefix in
// ARGV: claim and the reapers only learn the host or node from the data
// they read. They share the crawl's hash tag, so Redis Cluster runs the
// scripts (7.0 lets a script without a shebang touch undeclared keys of
// the declared slot), but a proxy that checks every key against KEYS
// would refuse them; a sharded design (S > 1) would need the same
// compromise for claim.
//
// # Retries
//
// A script that ran on the server but whose reply was lost must not be run
// again blindly: a second claim would lease a second item, a second Put
// queue a second copy (go-redis#2339). The client must therefore have
// retries off (MaxRetries -1): Open sets that on the client it builds from
// Options.URL and refuses a *redis.Client with retries on, or a
// *redis.ClusterClient with retries or redirect attempts on (its
// MaxRedirects attempts also resend a command after a connection error). go-redis's Script.Run still retries an EVALSHA that failed
// with NOSCRIPT, which is safe, since the script did not run. The frontier
// retries by itself, for up to Options.RetryFor, backing off from 20 ms to
// 1 s, after a connection error, LOADING or BUSY, and every script is made
// safe to repeat: Add by the seen set (a repeat of an Add that had taken
// effect reports Duplicate); Put by a random token it stores with the
// item, with which a repeat does nothing; claim by its lease id, drawn by
// the node before the first try: a repeat finds the lease its lost reply
// carried, hands it back and claims afresh, so the item is neither leased
// twice nor started late against its host's clock; an ack by its lease
// id: every ack a call carries (claim or ack script) is flagged as a
// repeat once a try may have run, and a repeat that finds no lease is not
// counted stale; the others set state or only read. A call that still fails after RetryFor returns an
// error wrapping ErrUnavailable and the last Redis error, the Frontier
// staying usable: the crawler decides whether to stop.
//
// # Leases and failures
//
// Get leases an item: the lease id is set in Item.ID and Done acks it.
// While the node holds it (until Done or Finish), every heartbeat renews
// it to expire Options.LeaseTTL later, so a fetch, a robots.txt wait or
// a retry may take however long it takes without another node being
// handed the item or exceeding the host's in-flight cap. A lease the node
// stopped renewing expires LeaseTTL after the last renewal: the node
// died or lost Redis, or its Done was lost with a Redis rollback. The
// node beats every Options.Heartbeat, or more often if LeaseTTL/LeaseBeats is
// shorter. A node whose heartbeat is older than Options.DeadAfter has all
// its leases handed back at once by any other node's heartbeat.
// Handed-back items go to the front of their host's list in their original
// order (by claim time, kept with the lease). The Done of a lease handed
// back is stale: counted (Stale), with no effect, since the item is
// unfinished again. So a page may be fetched twice after a node dies or
// is cut off from Redis, never lost. Close sends this node's pending acks,
// then hands its other leases back at once.
//
// # Acks
//
// Done does not call Redis: it records the ack (lease id and host) in the
// node's pending acks, and the node's next claim carries them, up to 256,
// in its ARGV. The claim script applies them first, each exactly as the
// ack script does (the stale check, the in-flight slot freed, the host
// settled), then claims: ack then claim, in one atomic step, so
// politeness and the in-flight cap are as if the acks had been sent
// alone. A crawler's worker calls Get right after Done, so a page costs
// one round trip for both. Acks no claim took within 5 ms are sent in one
// batch by the node's ack loop (a goroutine that ends with Close). Join
// sends them before each poll, the heartbeat before it reads the
// Snapshot that Stats serves, Stale and Err before they read, and
// Close before handing leases back; each waits too for the calls carrying
// acks taken before (by a claim or the ack loop) to end, so that it sees
// every Done made before it. Finish is Done sent at once: it returns
// once its ack (with the acks pending) was applied. A buffered ack holds
// its item pending, so Join cannot return before it is applied. A call
// carrying acks that fails because its context or the node is done puts
// them back, flagged as may-have-run; one that fails otherwise reports
// the error to Err, as a failed Done did, and its leases expire.
//
// # Redis restarts
//
// A Redis that stops and comes back (shutdown, crash, failover to a
// replica) within RetryFor is ridden through: calls in progress retry as
// above, and none of Get, Done, Add, Put or Join returns an error. With
// appendonly yes and appendfsync everysec, a shutdown loses nothing, but a
// crash of the machine, a crash of Redis while its disk lags (it then
// holds AOF writes back for up to 2 s), or a failover may lose the last
// second or two of writes: the restored state is a consistent prefix (each script is one
// MULTI/EXEC in the AOF), but claims, acks and Adds of that second are
// undone although their nodes saw them succeed. What that costs:
//
//   - A lost claim: its item is queued again and handed out a second
//     time; the Done of the first lease finds no lease (stale). Lease ids
//     are random, so an id lost with the tail is not handed out again to
//     another item.
//   - A lost Done: the lease is back, held by a node that finished it; that
//     node no longer renews it, so it expires after LeaseTTL and its item
//     is handed out again. So pages
//     fetched twice are at most those claimed or done in the lost second,
//     plus the leases in flight.
//   - A lost Add: the URL is neither seen nor queued; but the Done of the
//     page it was found on came later, so it is lost too, and that page is
//     fetched again and finds the URL again (the crawler Adds a page's
//     links before its Done). Nodes had cached the URL as seen (see Add):
//     each drops its whole cache when it notices the restart, at its next
//     claim or heartbeat, and a claim notices it before it hands out the
//     item, so the node fetching that page again admits its links anew.
//     An Add answered before the drop is not cached after it.
//   - A host's clock (GCRA tat, last start, Crawl-delay interval, block)
//     goes back to what it was before the lost claims, which were real
//     starts: the host could be started again at once, too early.
//
// Against the last, every claim, heartbeat and join compares Redis's
// run_id with the one meta recorded, and the first to see it change (one
// script, atomically for the whole cluster) starts a quarantine in which
// no claim hands anything out. Its length is the longest interval in
// force: burst × 1/rate for the configured rate, or the longest interval
// SetInterval ever set on the crawl (meta's miv) or on the claiming node
// (in case miv's write was lost), capped at 60 s. That suffices however
// much was lost: the lost starts came before the restart was noticed, and
// once burst × interval has passed since a host's last start, its real
// GCRA state, had nothing been lost, would be a full bucket, which the
// rolled-back state is too (its tat is no later); from then on both agree.
// The quarantine does not restore a Block or SetInterval lost with the
// tail: each node keeps its latest ones per host of the last few seconds
// and, when it notices the restart, makes again those it made from 5 s
// before the old Redis's last reply on (the crawler sets them only when
// they change, so a lost one would stay lost). Nor does it bound the
// fetches of lost claims still in flight against PerHostConcurrency: those
// leases are gone, and their items may be handed out again at once. The
// same script moves every heartbeat and lease
// expiry forward by the time since the latest heartbeat, so that the
// downtime neither makes live nodes look dead (their leases handed back
// at once) nor expires leases. Each node warns (Options.Warn) when it sees
// the run id change. If scripts may not read INFO (an ACL), Open warns
// that restarts go unnoticed.
//
// If the crawl's meta key disappears or is replaced (Redis restarted on an
// empty dir, FLUSHALL) while nodes run, every script fails and Get, Join,
// Add and Finish return an error wrapping ErrStateLost at once, rather
// than crawling again from nothing; nothing is written to the new Redis.
// If Redis stays away longer than RetryFor, calls return an error wrapping
// ErrUnavailable instead.
//
// The loss the other way round, an ack that Redis keeps for a record that
// a crash of the node's machine lost, is the node's to prevent: the
// crawler fsyncs a record before its Done, and an ack is only sent after
// its Done.
//
// # Waiting
//
// A claim that finds no host ready returns how long until the earliest
// one will be. One sleeping Get of the node sleeps that long (at most
// 250 ms); the others sleep 250 ms. When this node queues or finishes
// work, or a Get claims an item, one sleeping Get is woken to claim: never
// all of them, which would send a herd of claims to Redis, most of them
// for nothing, each time a host's turn comes. Work queued by another node
// is thus seen within 250 ms, or at the next host's time. A Done gives
// the turn to one sleeping Get, whose claim carries the ack and may take
// the slot it frees. Join polls the pending count every 100 ms, or when
// this node's acks were applied or it queued work.
package redisq
