-- Gives back what an allowed decision (limiter.lua) took, atomically.
--
-- KEYS[i]   the bucket of request i (merged: no key repeats)
-- ARGV[1]   "1": use the server's TIME; "0": use ARGV[2], ARGV[3]
-- ARGV[2]   now, seconds since the epoch
-- ARGV[3]   now, nanoseconds within the second
-- ARGV[4]   milliseconds a bucket is kept after it would be full again
-- ARGV[4+i] the cost of request i
--
-- Each existing bucket gets its cost back, never above its burst, under
-- its own limit; a missing bucket is a full one and is left alone.

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

for i = 1, #KEYS do
  local key = KEYS[i]
  local v = redis.call('GET', key)
  if v then
    local f = {}
    for w in string.gmatch(v, '%S+') do
      f[#f + 1] = w
    end
    local tokens, s, n = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
    local burst = tonumber(f[7])
    local rate = tonumber(f[4]) / (tonumber(f[5]) + tonumber(f[6]) / 1e9)
    if s < nowS or (s == nowS and n <= nowN) then
      local ds, dn = nowS - s, nowN - n
      if dn < 0 then
        ds = ds - 1
        dn = dn + 1000000000
      end
      tokens = tokens + (ds + dn / 1e9) * rate
      s, n = nowS, nowN
    end
    tokens = tokens + tonumber(ARGV[4 + i])
    if tokens > burst then
      tokens = burst
    end
    local ttl = math.ceil((burst - tokens) / rate * 1000) + margin
    if ttl < 1 then
      ttl = 1
    end
    redis.call('SET', key,
      string.format('%.17g %d %d %s %s %s %d', tokens, s, n, f[4], f[5], f[6], burst),
      'PX', string.format('%.0f', ttl))
  end
end

return 1
