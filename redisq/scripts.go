package redisq

import "github.com/redis/go-redis/v9"

// initScript creates the crawl's meta on first use, or checks that the
// crawl was started with the same config. KEYS[1] meta; ARGV config hash,
// politeness, a fresh epoch, max depth (> 0: the seen set keeps depths,
// stored in meta's depth; the politeness names it too, so that every
// node agrees). Returns {'OK', epoch, created} or
// {'CONFIG', stored hash, stored politeness}. A new crawl records the
// Redis process it starts on (see runcheck).
var initScript = redis.NewScript(runidFunc + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'config', 'politeness')
if not m[1] then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'config', ARGV[1], 'politeness', ARGV[2],
    'created', t[1], 'version', 1, 'run', runid())
  if tonumber(ARGV[4] or '0') > 0 then redis.call('HSET', KEYS[1], 'depth', ARGV[4]) end
  return {'OK', ARGV[3], 'new'}
end
if m[2] ~= ARGV[1] or m[3] ~= ARGV[2] then
  return {'CONFIG', m[2] or '', m[3] or ''}
end
return {'OK', m[1], 'joined'}
`)

// joinScript registers a node. ARGV[6] node, ARGV[7] dead-after µs.
// Returns {-1, age of the node's heartbeat, run id} if a live node has the
// same id; else the leases of an earlier run of this node id (which must
// have died) are handed back: {their count, 0, run id}.
var joinScript = redis.NewScript(prelude + `
local node, dead = ARGV[6], tonumber(ARGV[7])
local run = runcheck(0)
local hb = redis.call('ZSCORE', NODES, node)
if hb and NOW - tonumber(hb) < dead then
  return {-1, NOW - tonumber(hb), run}
end
local n = reapnode(node)
redis.call('ZADD', NODES, NOW, node)
return {n, 0, run}
`)

// heartbeatScript records that a node is alive (registering it again if
// its entry was lost), renews the leases the node still holds, and hands
// back the leases of up to ARGV[8] nodes silent for longer than ARGV[7]
// µs. ARGV[6] node, ARGV[9] the node's longest interval (µs, for
// runcheck), ARGV[10] the lease TTL (µs), ARGV[11…] the ids of the leases
// the node holds (Get returned them, Done has not been called): each that
// is still the node's expires the TTL from now, unless it already expires
// later. A lease the node no longer holds (its Done was lost with the
// AOF's tail) is not renewed, and expires. Returns {dead nodes reaped,
// leases handed back, run id}.
var heartbeatScript = redis.NewScript(prelude + `
local node, dead, most = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local run = runcheck(tonumber(ARGV[9]))
redis.call('ZADD', NODES, NOW, node)
local lk, exp = P .. 'l:' .. node, NOW + tonumber(ARGV[10])
for k = 11, #ARGV do
  if redis.call('SISMEMBER', lk, ARGV[k]) == 1 then
    redis.call('ZADD', LEASE, 'XX', 'GT', exp, ARGV[k])
  end
end
local gone = redis.call('ZRANGEBYSCORE', NODES, '-inf', NOW - dead, 'LIMIT', 0, most)
local n = 0
for _, d in ipairs(gone) do
  n = n + reapnode(d)
  redis.call('ZREM', NODES, d)
end
return {#gone, n, run}
`)

// releaseScript hands back every lease of node ARGV[6] and removes it from
// the nodes (Close). Returns the leases handed back.
var releaseScript = redis.NewScript(prelude + `
local n = reapnode(ARGV[6])
redis.call('ZREM', NODES, ARGV[6])
return n
`)

// handbackScript hands lease ARGV[6] back to the front of its host's list
// (Release): its item is unfinished again, for any node to claim. Returns
// 1, or 0 if the lease was gone (expired, reaped, or handed back by a try
// whose reply was lost), so a repeat does nothing.
var handbackScript = redis.NewScript(prelude + `
return requeue({ARGV[6]})
`)

// putScript queues an item again (Put): no seen check, no budget. ARGV[6]
// host, ARGV[7] record, ARGV[8] Put's token and ARGV[9] how long to keep
// it (µs). A Put whose token is in puts already ran (its reply was lost):
// it returns 0 and changes nothing; tokens expire, pruned by later Puts.
var putScript = redis.NewScript(prelude + `
local host, rec, token = ARGV[6], ARGV[7], ARGV[8]
if redis.call('ZSCORE', PUTS, token) then return 0 end
redis.call('ZREMRANGEBYSCORE', PUTS, '-inf', NOW)
redis.call('ZADD', PUTS, NOW + tonumber(ARGV[9]), token)
redis.call('RPUSH', P .. 'q:' .. host, rec)
unhand(rec)
redis.call('HINCRBY', STATS, 'pending', 1)
settle(host)
return 0
`)

// addScript admits items, in order: each is queued unless its URL is in
// the seen set (1, a duplicate, also when it came earlier in the batch),
// its host has the per-host cap's items (3; counted in the hc hash), or
// the shared budget is spent (2); else it is added (0). ARGV[6] the budget
// (> 0: each item counts toward it), ARGV[7] the per-host cap (> 0: each
// item counts toward its host's), then four arguments per item: host,
// record, seen member and seen bucket number (its key is built here,
// under the crawl's hash tag). Returns each item's queue.Admission.
//
// With depths (a version 3 record, whose member carries the item's
// depth), a page whose URL is seen at a greater depth gets that depth
// lowered to its own (4, queue.Shallower), counting toward no limit; if
// the URL was handed out since last queued, an expand item (the record
// with kind 2, queue.KindExpand) is queued too, so that the page's links
// are taken again from the smaller depth.
var addScript = redis.NewScript(prelude + `
local limit, cap = tonumber(ARGV[6]), tonumber(ARGV[7])
local admitted = tonumber(redis.call('HGET', STATS, 'admitted')) or 0
local out, touched, added, expanded = {}, {}, 0, 0
for i = 8, #ARGV, 4 do
  local host, rec, member = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local sk = P .. 's:' .. ARGV[i + 3]
  local a = 0
  local fsk, base, kp = fprec(rec)
  local old
  if fsk then
    old = seenmember(sk, base)
  elseif redis.call('SISMEMBER', sk, member) == 1 then
    old = true
  end
  if old then
    a = 1
    local d = (tonumber(member) or 0) % 128
    if fsk and string.byte(rec, kp) == 0 and d < old % 128 % HANDED then
      reseen(sk, old, base + d)
      if old % 128 >= HANDED then
        redis.call('RPUSH', P .. 'q:' .. host, string.sub(rec, 1, kp - 1) .. '\2' .. string.sub(rec, kp + 1))
        touched[host] = true
        expanded = expanded + 1
      end
      a = 4
    end
  elseif cap > 0 and (tonumber(redis.call('HGET', P .. 'hc', host)) or 0) >= cap then
    a = 3
  elseif limit > 0 and admitted >= limit then
    a = 2
  else
    if limit > 0 then
      admitted = admitted + 1
      redis.call('HINCRBY', STATS, 'admitted', 1)
    end
    if cap > 0 then redis.call('HINCRBY', P .. 'hc', host, 1) end
    redis.call('SADD', sk, member)
    redis.call('RPUSH', P .. 'q:' .. host, rec)
    touched[host] = true
    added = added + 1
  end
  out[#out + 1] = a
end
if added > 0 then redis.call('HINCRBY', STATS, 'seen', added) end
if added + expanded > 0 then redis.call('HINCRBY', STATS, 'pending', added + expanded) end
for host in pairs(touched) do settle(host) end
return out
`)

// claimScript is the only place a request is authorised. ARGV[6] node,
// ARGV[7] lease TTL µs, ARGV[8] how many expired leases to hand back at
// most, ARGV[9] the lease id (the caller's, fresh for each claim and the
// same for its retries), ARGV[10] the node's longest interval (µs, for
// runcheck), ARGV[11…] the node's pending acks (see acks), applied first
// exactly as ackScript would, so that a claim carrying them is ack then
// claim in one step. A lease with this id already there is an earlier try
// of the same claim whose reply was lost: it is handed back first, so that
// a retry leases one item, not two, and the item's start is authorised
// anew, at the time its node will really start it. Then, outside a
// quarantine, it hands back expired leases and leases the oldest item of
// the host with the smallest ready score <= now, charging the host's GCRA.
// Returns {1, acked, host, record, now µs, run id, depth}, depth the
// smallest its URL is seen at (with depths; else -1), noting that the URL
// was handed out (see fprec); or {0, acked, wait µs, run id}
// with wait -1 when no host is queued with a free slot; or {-1, acked} if
// the id is another node's lease (pick another); acked is the list of the
// acks' results.
var claimScript = redis.NewScript(prelude + `
local node, ttl, reap, id = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local run, qu = runcheck(tonumber(ARGV[10]))
local acked = acks(11)
local function claim()
  local mine = redis.call('HGET', LEASED, id)
  if mine then
    if string.sub(mine, 1, #node + 1) ~= node .. '\n' then return {-1} end
    requeue({id})
  end
  if NOW < qu then return {0, math.ceil(qu - NOW), run} end
  local expired = redis.call('ZRANGEBYSCORE', LEASE, '-inf', NOW, 'LIMIT', 0, reap)
  if #expired > 0 then requeue(expired) end
  -- Bounded: each pass either hands out an item or repairs the top host's
  -- entry, which the settle discipline should never leave stale.
  for _ = 1, 16 do
    local top = redis.call('ZRANGE', READY, 0, 0, 'WITHSCORES')
    if #top == 0 then return {0, -1, run} end
    local score = tonumber(top[2])
    if score > NOW then return {0, math.ceil(score - NOW), run} end
    local host = top[1]
    local hk = P .. 'h:' .. host
    local s = hoststate(hk)
    local a = allowat(s)
    if s.inf >= MAXINF then
      redis.call('ZREM', READY, host)
    elseif a > NOW then
      redis.call('ZADD', READY, a, host)
    else
      local rec = redis.call('LPOP', P .. 'q:' .. host)
      if rec then
        local T = pace(s)
        if T > 0 then redis.call('HSET', hk, 'tat', math.max(s.tat, NOW) + T) end
        redis.call('HSET', hk, 'last', NOW)
        redis.call('HINCRBY', hk, 'inf', 1)
        -- Out and back in at now: behind the hosts already waiting their turn.
        redis.call('ZREM', READY, host)
        settle(host)
        redis.call('ZADD', LEASE, NOW + ttl, id)
        redis.call('HSET', LEASED, id, node .. '\n' .. host .. '\n@' .. string.format('%d', NOW) .. '\n' .. rec)
        redis.call('SADD', P .. 'l:' .. node, id)
        local depth = -1
        local sk, base, kp = fprec(rec)
        if sk and string.byte(rec, kp) ~= KINDSITEMAP then
          local m = seenmember(sk, base)
          if m then
            depth = m % HANDED
            if m % 128 < HANDED then reseen(sk, m, m + HANDED) end
          end
        end
        return {1, host, rec, NOW, run, depth}
      end
      settle(host)
    end
  end
  return {0, 1000, run}
end
local r = claim()
table.insert(r, 2, acked)
return r
`)

// ackScript applies a batch of acks (Done, Finish and their flushes):
// ARGV[6…] as acks reads them. Returns the list of their results (see
// ackone).
var ackScript = redis.NewScript(prelude + `
return acks(6)
`)

// intervalScript sets (ARGV[7] µs > 0) or clears (0) the interval of host
// ARGV[6], and keeps in meta's miv the longest interval ever set, the
// bound of a restart's quarantine.
var intervalScript = redis.NewScript(prelude + `
local host, iv = ARGV[6], tonumber(ARGV[7])
local hk = P .. 'h:' .. host
if iv > 0 then
  redis.call('HSET', hk, 'iv', iv)
  if iv > (tonumber(redis.call('HGET', META, 'miv')) or 0) then redis.call('HSET', META, 'miv', iv) end
else
  redis.call('HDEL', hk, 'iv')
end
settle(host)
return 0
`)

// blockScript blocks host ARGV[6] for ARGV[7] µs from Redis's now, unless
// it is already blocked for longer (blocks never shorten).
var blockScript = redis.NewScript(prelude + `
local host, d = ARGV[6], tonumber(ARGV[7])
local hk = P .. 'h:' .. host
local until_ = NOW + d
if until_ > (tonumber(redis.call('HGET', hk, 'bu')) or 0) then
  redis.call('HSET', hk, 'bu', until_)
  settle(host)
end
return 0
`)

// unblockScript lifts any block on host ARGV[6].
var unblockScript = redis.NewScript(prelude + `
redis.call('HDEL', P .. 'h:' .. ARGV[6], 'bu')
settle(ARGV[6])
return 0
`)

// statsScript reads the cluster-wide counters: {pending, seen, leases,
// hosts with queued items, hosts ready now, stale acks, requeued}.
var statsScript = redis.NewScript(prelude + `
local c = redis.call('HMGET', STATS, 'pending', 'seen', 'stale', 'requeued')
return {tonumber(c[1]) or 0, tonumber(c[2]) or 0, redis.call('ZCARD', LEASE),
  redis.call('SCARD', ACTIVE), redis.call('ZCOUNT', READY, '-inf', NOW),
  tonumber(c[3]) or 0, tonumber(c[4]) or 0}
`)

// saveRobotsScript stores a robots.txt outcome (SaveRobots) within the
// crawl's budget for them. ARGV[6] authority, ARGV[7] the outcome (” to
// only remove the authority's), ARGV[8] its TTL (µs), ARGV[9] the budget
// (bytes), ARGV[10] the overhead charged per entry besides its data and
// three copies of its authority. The index rx (ZSET authority → expiry,
// µs) and rs (HASH authority → bytes charged) follow the r:<authority>
// keys, and stats' robots field their total: expired entries are
// forgotten (up to 64 per call, their keys gone already), then the
// authority's older entry, then, while the new one would not fit, the
// entry closest to expiring. Returns 1 if the outcome was stored.
var saveRobotsScript = redis.NewScript(prelude + `
local a, data, ttl, budget = ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local RX, RS = P .. 'rx', P .. 'rs'
local total = tonumber(redis.call('HGET', STATS, 'robots')) or 0
local function drop(x)
  total = total - (tonumber(redis.call('HGET', RS, x)) or 0)
  redis.call('HDEL', RS, x)
  redis.call('ZREM', RX, x)
  redis.call('DEL', P .. 'r:' .. x)
end
for _, x in ipairs(redis.call('ZRANGEBYSCORE', RX, '-inf', NOW, 'LIMIT', 0, 64)) do drop(x) end
drop(a)
local size = #data + 3 * #a + tonumber(ARGV[10])
local stored = 0
if #data > 0 and size <= budget then
  while total + size > budget do
    local x = redis.call('ZRANGE', RX, 0, 0)
    if #x == 0 then break end
    drop(x[1])
  end
  redis.call('SET', P .. 'r:' .. a, data, 'PX', math.max(1, math.floor(ttl / 1000)))
  redis.call('ZADD', RX, NOW + ttl, a)
  redis.call('HSET', RS, a, size)
  total = total + size
  stored = 1
end
redis.call('HSET', STATS, 'robots', math.max(total, 0))
return stored
`)
