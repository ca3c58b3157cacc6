// The Lua library every script of scripts.go starts with: the run-id check,
// the key names, the GCRA and the helpers the scripts share.

package redisq

// runidFunc defines runid(), the run_id of the Redis process (INFO
// server), or the empty string if the script may not read it (an ACL
// without INFO, a service that hides it): restarts then go unnoticed,
// which Open warns of.
const runidFunc = `
local function runid()
  local info = redis.pcall('INFO', 'server')
  if type(info) ~= 'string' then return '' end
  local i = string.find(info, 'run_id:', 1, true)
  if not i then return '' end
  return string.sub(info, i + 7, i + 46)
end
`

// Every script but initScript starts with prelude, and is called with the
// same KEYS and the same first ARGV (see Frontier.run):
//
//	KEYS[1] meta   KEYS[2] ready   KEYS[3] active  KEYS[4] stats
//	KEYS[5] lease  KEYS[6] leased  KEYS[7] nodes   KEYS[8] puts
//	ARGV[1] key prefix "cd:{c:<crawl>}:"   ARGV[2] run epoch
//	ARGV[3] T, the configured interval in µs (0 = unlimited rate)
//	ARGV[4] burst  ARGV[5] per-host in-flight cap
//	ARGV[6…] the script's own arguments
//
// The per-host keys (q:<host>, h:<host>), per-node lease sets (l:<node>)
// and seen buckets (s:<b>) are built inside the scripts from ARGV[1]:
// claim and the reapers learn the host or node only from data they read,
// and one add touches as many buckets as its batch, so they are not
// declared in advance. ARGV[1] carries the crawl's hash tag, so those keys
// hash to the same slot as the declared ones; Redis Cluster (7.0, scripts
// without a shebang) accepts that, but a proxy that insists on every key
// being in KEYS does not. See the package doc.
//
// Times are integer microseconds of Redis's TIME; host scores and GCRA state
// are stored as Lua numbers (doubles, exact for integers below 2^53, so for
// µs until the year 2255) and converted by Redis with a round-trip-exact
// formatter.
const prelude = runidFunc + `
local META, READY, ACTIVE, STATS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local LEASE, LEASED, NODES, PUTS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local P, EPOCH = ARGV[1], ARGV[2]
local T0, B0, MAXINF = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('HGET', META, 'epoch') ~= EPOCH then
  return redis.error_reply('LOST redis: crawl state lost (meta key missing or from another run)')
end
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- hoststate reads what decides when a host may start its next request.
local function hoststate(hk)
  local f = redis.call('HMGET', hk, 'tat', 'last', 'iv', 'bu', 'inf')
  return {tat = tonumber(f[1]) or 0, last = tonumber(f[2]) or 0, iv = tonumber(f[3]) or 0,
          bu = tonumber(f[4]) or 0, inf = tonumber(f[5]) or 0}
end

-- pace returns the GCRA interval and burst in force for a host: a
-- SetInterval interval (only ever stored when slower than T0) replaces the
-- configured rate with burst 1, as Crawl-delay means.
local function pace(s)
  if s.iv > 0 then return s.iv, 1 end
  return T0, B0
end

-- allowat is the earliest start the host's pacing and block allow. GCRA as
-- golang.org/x/time/rate: a start at now is allowed when
-- now >= tat - (burst-1)*T; with an interval, also not before the last
-- start plus the interval.
local function allowat(s)
  local T, b = pace(s)
  local a = 0
  if T > 0 then a = s.tat - (b - 1) * T end
  if s.iv > 0 then a = math.max(a, s.last + s.iv) end
  return math.max(a, s.bu)
end

-- settle makes the shared indexes agree with a host's state after any
-- change: in ready (at its allowed time, not before now) iff it has queued
-- items and a free slot, keeping its place if it was already waiting for a
-- turn and still may start now; in active iff it has queued items; and its
-- state hash kept while it matters, else left to expire once its GCRA and
-- block have run out (a fresh host behaves the same) — except that an
-- interval is kept until SetInterval clears it.
local function settle(host)
  local q, hk = P .. 'q:' .. host, P .. 'h:' .. host
  local n = redis.call('LLEN', q)
  local s = hoststate(hk)
  if n > 0 then redis.call('SADD', ACTIVE, host) else redis.call('SREM', ACTIVE, host) end
  if n > 0 and s.inf < MAXINF then
    local a = allowat(s)
    local old = redis.call('ZSCORE', READY, host)
    if not (old and tonumber(old) <= NOW and a <= NOW) then
      redis.call('ZADD', READY, math.max(a, NOW), host)
    end
  else
    redis.call('ZREM', READY, host)
  end
  if n == 0 and s.inf <= 0 and s.iv == 0 then
    local e = math.max(s.tat, s.bu)
    if e <= NOW then
      redis.call('DEL', hk)
    else
      redis.call('PEXPIREAT', hk, math.ceil(e / 1000) + 1)
    end
  else
    redis.call('PERSIST', hk)
  end
end

-- With a max depth (meta's depth), a seen member's low 7 bits are the
-- URL's smallest depth found (6 bits) and a bit, HANDED, set while no item
-- of the URL is queued since one was handed out; the records carry the
-- URL's fingerprint (version 3, see encode). fprec returns, for such a
-- record, the key of its URL's seen bucket, the member with its low 7 bits
-- clear, and the position of the record's kind byte; nil for another
-- record.
local HANDED, KINDSITEMAP = 64, 1
local function fprec(rec)
  if string.byte(rec, 1) ~= 3 or #rec < 12 then return nil end
  local b = {string.byte(rec, 2, 9)}
  local base = 0
  for k = 3, 8 do base = base * 256 + b[k] end
  local p = 11
  while p < #rec and string.byte(rec, p) >= 128 do p = p + 1 end
  return P .. 's:' .. (b[1] * 256 + b[2]), base - base % 128, p + 1
end

local function int(x) return string.format('%d', x) end

-- seenmember returns the member of sk for the URL whose member is base
-- with its low 7 bits clear (one of the max depth's 2 × (depth + 1)
-- candidates), or nil.
local function seenmember(sk, base)
  local c = {}
  for d = 0, tonumber(redis.call('HGET', META, 'depth')) or 0 do
    c[#c + 1] = int(base + d)
    c[#c + 1] = int(base + HANDED + d)
  end
  local r = redis.call('SMISMEMBER', sk, unpack(c))
  for i = 1, #r do
    if r[i] == 1 then return tonumber(c[i]) end
  end
  return nil
end

-- reseen replaces member old of sk with new.
local function reseen(sk, old, new)
  if old == new then return end
  redis.call('SREM', sk, int(old))
  redis.call('SADD', sk, int(new))
end

-- unhand notes that rec is queued again (a retry, or a lease handed
-- back), so that a smaller depth found meanwhile lowers it rather than
-- queueing an expand item.
local function unhand(rec)
  local sk, base, kp = fprec(rec)
  if not sk or string.byte(rec, kp) == KINDSITEMAP then return end
  local m = seenmember(sk, base)
  if m and m % 128 >= HANDED then reseen(sk, m, m - HANDED) end
end

-- leaseparts splits a leased value, node "\n" host "\n" ["@" claim µs
-- "\n"] record, into node, host, record and claim time (nil in a value
-- written before claim times were kept; a record never starts with "@").
local function leaseparts(v)
  local i = string.find(v, '\n', 1, true)
  local j = string.find(v, '\n', i + 1, true)
  local node, host, rest = string.sub(v, 1, i - 1), string.sub(v, i + 1, j - 1), string.sub(v, j + 1)
  local at
  if string.sub(rest, 1, 1) == '@' then
    local k = string.find(rest, '\n', 2, true)
    at = tonumber(string.sub(rest, 2, k - 1))
    rest = string.sub(rest, k + 1)
  end
  return node, host, rest, at
end

-- unlease drops lease id and returns its node, host and item record, or
-- nil if the lease is gone.
local function unlease(id)
  local v = redis.call('HGET', LEASED, id)
  redis.call('ZREM', LEASE, id)
  if not v then return nil end
  redis.call('HDEL', LEASED, id)
  local node, host, rec = leaseparts(v)
  redis.call('SREM', P .. 'l:' .. node, id)
  local inf = redis.call('HINCRBY', P .. 'h:' .. host, 'inf', -1)
  if inf < 0 then redis.call('HSET', P .. 'h:' .. host, 'inf', 0) end
  return node, host, rec
end

-- requeue puts the items of leases ids back at the front of their hosts'
-- lists, earliest claimed first, so each host's FIFO order is restored
-- (renewal moves expiries, so they do not tell the order; a lease without
-- a claim time is placed by its expiry); pending is unchanged (the items
-- are still unfinished).
local function requeue(ids)
  local ls = {}
  for _, id in ipairs(ids) do
    local v = redis.call('HGET', LEASED, id)
    local at
    if v then _, _, _, at = leaseparts(v) end
    ls[#ls + 1] = {id, at or tonumber(redis.call('ZSCORE', LEASE, id)) or 0}
  end
  table.sort(ls, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] > b[1]
  end)
  local hosts, n = {}, 0
  for _, l in ipairs(ls) do
    local _, host, rec = unlease(l[1])
    if host then
      redis.call('LPUSH', P .. 'q:' .. host, rec)
      unhand(rec)
      hosts[host] = true
      n = n + 1
    end
  end
  for host in pairs(hosts) do settle(host) end
  if n > 0 then redis.call('HINCRBY', STATS, 'requeued', n) end
  return n
end

-- ackone finishes lease id of host, leaving the host to be settled by the
-- caller: 1 done; 0 the lease is gone and ran is '1' (a retry whose
-- earlier try may have run and finished it: not stale); -1 the lease is
-- gone (it expired or its node was reaped, and the item was queued again:
-- a stale ack, counted); -2 the lease is of another host (nothing written).
local function ackone(id, host, ran)
  local v = redis.call('HGET', LEASED, id)
  if not v then
    if ran == '1' then return 0 end
    redis.call('HINCRBY', STATS, 'stale', 1)
    return -1
  end
  local i = string.find(v, '\n', 1, true)
  if string.sub(v, i + 1, string.find(v, '\n', i + 1, true) - 1) ~= host then return -2 end
  unlease(id)
  redis.call('HINCRBY', STATS, 'pending', -1)
  redis.call('HINCRBY', STATS, 'done', 1)
  return 1
end

-- acks applies the acks in ARGV from index i: their count n, then n
-- triples lease id, host, flags, settling each host touched once. Flags
-- hold '1' if the ack is ran (see ackone), and 'c' if the host's run of
-- failed requests ended (its count in hf is cleared, whatever became of
-- the lease, unless the ack names the wrong host). Returns the n results of ackone.
local function acks(i)
  local n = tonumber(ARGV[i]) or 0
  local r, hosts = {}, {}
  for k = 0, n - 1 do
    local host, flags = ARGV[i + 2 + 3 * k], ARGV[i + 3 + 3 * k]
    local ran = ''
    if string.find(flags, '1', 1, true) then ran = '1' end
    r[k + 1] = ackone(ARGV[i + 1 + 3 * k], host, ran)
    if r[k + 1] ~= -2 and string.find(flags, 'c', 1, true) then redis.call('HDEL', P .. 'hf', host) end
    if r[k + 1] == 1 then hosts[host] = true end
  end
  for host in pairs(hosts) do settle(host) end
  return r
end

-- reapnode hands back every lease of node.
local function reapnode(node)
  local lk = P .. 'l:' .. node
  local n = requeue(redis.call('SMEMBERS', lk))
  redis.call('DEL', lk)
  return n
end

-- shift adds d to the score of every member of ZSET key.
local function shift(key, d)
  local m = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #m, 2 do redis.call('ZADD', key, tonumber(m[i + 1]) + d, m[i]) end
end

-- runcheck notices that the Redis process changed since the crawl's last
-- claim, heartbeat or join: a restart or a failover, after which up to a
-- second or two of writes (appendfsync everysec, or asynchronous
-- replication) may be gone. Redis's run_id (INFO server) names the
-- process; meta's run field names the one the crawl last saw. On a change
-- it starts a quarantine, in which no claim hands anything out, of the
-- longest interval in force (see the package doc): q, the caller's own
-- longest SetInterval, meta's miv, the cluster's, and burst × T0, capped
-- at 60 s. It also cuts the downtime out of the clocks of node silence and
-- lease age: every heartbeat and lease expiry moves by the time since the
-- latest heartbeat, so that no live node is taken for dead, and no lease
-- expires, for the time Redis was away. It returns the run id and the end
-- of the quarantine (µs). A Redis that hides run_id gets no quarantine.
local function runcheck(q)
  local run = runid()
  local m = redis.call('HMGET', META, 'run', 'miv', 'qu')
  local qu = tonumber(m[3]) or 0
  if run == '' or m[1] == run then return run, qu end
  if m[1] then
    local top = redis.call('ZRANGE', NODES, -1, -1, 'WITHSCORES')
    if #top == 2 and NOW > tonumber(top[2]) then
      local d = NOW - tonumber(top[2])
      shift(NODES, d)
      shift(LEASE, d)
    end
    local len = math.min(60000000, math.max(B0 * T0, tonumber(m[2]) or 0, q))
    qu = math.max(qu, NOW + math.ceil(len))
    redis.call('HSET', META, 'qu', qu, 'restarted', NOW)
    redis.call('HINCRBY', STATS, 'restarts', 1)
  end
  redis.call('HSET', META, 'run', run)
  return run, qu
end
`
