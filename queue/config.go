package queue

// Config sets the per-host politeness. The zero value means: unlimited rate,
// burst 1, one request in flight per host.
type Config struct {
	Rate               float64 // per-host requests per second; 0 (or negative/+Inf) means unlimited
	Burst              int     // per-host burst; values < 1 mean 1
	PerHostConcurrency int     // max items of one host handed out by Get and not yet Done; values < 1 mean 1
	// Revisitable keeps every URL admitted (not just its 8-byte
	// fingerprint), so that Revisit can queue them all again, and the
	// validators given to SaveValidators, for the next round's
	// conditional requests.
	Revisitable bool
	// Depths keeps each admitted URL's depth with its fingerprint (one
	// more byte per slot), so that it is the shortest link distance found:
	// Admit of a known URL at a smaller depth lowers it (Shallower), and Get
	// hands an item out at its URL's smallest depth. Set it when depths
	// matter (a crawl with max_depth). Reconfigure ignores it.
	Depths bool

	// MemoryLimit bounds, in bytes, the queued items (and the state of the
	// hosts they belong to) that Memory keeps in memory; 0 or less means no
	// bound. Beyond it, items go to Overflow; without an Overflow the limit
	// is not enforced. The size of an item is estimated from its struct and
	// string lengths (see itemBytes), so the bound is on the frontier's
	// data, not on the process's RSS. Reconfigure ignores it.
	MemoryLimit int64
	// Overflow stores the items beyond MemoryLimit. Reconfigure ignores it.
	Overflow Overflow
}
