-- One rate-limit decision over several token buckets, atomically.
--
-- It mirrors apikey.LocalLimiter's bucket operation for operation, in
-- IEEE doubles as Go does, so that both limiters reach the
-- same decisions and headers. Times travel as whole seconds and
-- nanoseconds since the Unix epoch: nanoseconds since the epoch do not fit
-- a double exactly.
--
-- KEYS[i]   the bucket of request i (a key may repeat)
-- ARGV[1]   "1": use the server's TIME; "0": use ARGV[2], ARGV[3]
-- ARGV[2]   now, seconds since the epoch
-- ARGV[3]   now, nanoseconds within the second
-- ARGV[4]   milliseconds a bucket is kept after it would be full again
-- then for request i, from ARGV[5 + 5*(i-1)]:
--           requests, period seconds, period nanoseconds, burst, cost
--
-- A bucket is a string "tokens lastSec lastNsec requests periodSec
-- periodNsec burst". A missing bucket is a full one. Buckets expire once
-- they would be full again (plus the margin), so memory stays bounded.
--
-- Returns {allowed (1/0), nowSec, nowNsec, tokens_1, ..., tokens_n}: the
-- tokens each bucket held at now before the decision (as "%.17g", exact),
-- from which the caller builds the Decision as LocalLimiter does.

local nowS, nowN
if ARGV[1] == '1' then
  local t = redis.call('TIME')
  nowS = tonumber(t[1])
  nowN = tonumber(t[2]) * 1000
else
  nowS = tonumber(ARGV[2])
  nowN = tonumber(ARGV[3])
end
local margin = tonumber(ARGV[4])

-- before reports whether (s1, n1) is before (s2, n2).
local function before(s1, n1, s2, n2)
  return s1 < s2 or (s1 == s2 and n1 < n2)
end

-- advance is bucket.tokensAt in apikey: the tokens of b at now. A now before the
-- bucket's last update adds nothing (time.Duration.Seconds of the elapsed
-- time, computed as Go does: whole seconds + nanoseconds/1e9).
local function advance(b)
  local elapsed = 0
  if not before(nowS, nowN, b.s, b.n) then
    local ds, dn = nowS - b.s, nowN - b.n
    if dn < 0 then
      ds = ds - 1
      dn = dn + 1000000000
    end
    elapsed = ds + dn / 1e9
  end
  local tokens = b.tokens + elapsed * b.rate
  if tokens > b.burst then
    tokens = b.burst
  end
  return tokens
end

-- touch moves the bucket's last update to now, never back (as
-- LocalLimiter): with several machines a clock behind another's would
-- otherwise be credited the same interval again and again.
local function touch(b)
  if not before(nowS, nowN, b.s, b.n) then
    b.s, b.n = nowS, nowN
  end
end

local function rateOf(req, ps, pn)
  -- float64(Requests) / Period.Seconds()
  return tonumber(req) / (tonumber(ps) + tonumber(pn) / 1e9)
end

local buckets = {}

-- load returns the bucket of request i, created full at now if missing,
-- and brought to the request's limit as LocalLimiter.bucketLocked does:
-- tokens accrued under the old rate, capped at the new burst.
local function load(i)
  local key = KEYS[i]
  local a = 4 + 5 * (i - 1)
  local req, ps, pn, burst = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local b = buckets[key]
  if b == nil then
    local v = redis.call('GET', key)
    if v then
      local f = {}
      for w in string.gmatch(v, '%S+') do
        f[#f + 1] = w
      end
      b = {tokens = tonumber(f[1]), s = tonumber(f[2]), n = tonumber(f[3]),
           req = f[4], ps = f[5], pn = f[6], burst = tonumber(f[7]), rate = rateOf(f[4], f[5], f[6])}
    else
      b = {tokens = tonumber(burst), s = nowS, n = nowN, req = req, ps = ps, pn = pn,
           burst = tonumber(burst), rate = rateOf(req, ps, pn)}
    end
    buckets[key] = b
  end
  if b.req ~= req or b.ps ~= ps or b.pn ~= pn or b.burst ~= tonumber(burst) then
    -- Advance under the old limit.
    b.tokens = advance(b)
    touch(b)
    b.req, b.ps, b.pn, b.rate = req, ps, pn, rateOf(req, ps, pn)
    -- Cap at the new burst.
    b.burst = tonumber(burst)
    if b.tokens > b.burst then
      b.tokens = b.burst
    end
    b.dirty = true
  end
  return b
end

local n = #KEYS
local out = {0, nowS, nowN}
local allowed = true
for i = 1, n do
  local b = load(i)
  local tokens = advance(b)
  if tokens < tonumber(ARGV[4 + 5 * (i - 1) + 5]) then
    allowed = false
  end
  out[3 + i] = string.format('%.17g', tokens)
end

if allowed then
  out[1] = 1
  for i = 1, n do
    -- bucket.take in apikey (x/time/rate's AllowN rule): it fails only
    -- for a key repeated in one decision, as it does in LocalLimiter.
    local b = buckets[KEYS[i]]
    local cost = tonumber(ARGV[4 + 5 * (i - 1) + 5])
    local tokens = advance(b) - cost
    local ok = cost <= b.burst
    if ok and tokens < 0 then
      ok = (-tokens / b.rate) * 1e9 < 1 -- time.Duration(wait) <= 0
    end
    if ok then
      b.tokens = tokens
      touch(b)
      b.dirty = true
    end
  end
end

for i = 1, n do
  local key = KEYS[i]
  local b = buckets[key]
  if b.dirty then
    b.dirty = false
    local ttl = math.ceil((b.burst - b.tokens) / b.rate * 1000) + margin
    if ttl < 1 then
      ttl = 1
    end
    redis.call('SET', key,
      string.format('%.17g %d %d %s %s %s %d', b.tokens, b.s, b.n, b.req, b.ps, b.pn, b.burst),
      'PX', string.format('%.0f', ttl))
  end
end

return out
