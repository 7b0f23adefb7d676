"""Whether any worker is alive, and jobs that waited too long for one.

Workers beat into one sorted set scored by Redis's own clock (`TIME` inside the scripts), so
a bot and workers on hosts whose clocks differ still agree who is alive and what has waited.
"""

from __future__ import annotations

from typing import Final

# KEYS: the beats. ARGV: the worker's name, how long a silent one counts as alive (ms).
# Beats older than ten times that are removed, so the set stays as small as the fleet.
BEAT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10 * tonumber(ARGV[2]))
return now
"""

# KEYS: the beats. ARGV: how long a silent worker still counts as alive (ms).
ALIVE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
"""

# KEYS: the RQ queue list, the first-seen set, the results stream. ARGV: how long a job may
# wait (ms), RQ's job key prefix, the error code, the stream's cap. Each sweep notes when it
# first saw each queued job; one that has waited longer than allowed is taken off the queue
# and answered with an error result in the same step, atomically against a worker taking
# it: a job is either drawn or answered "no worker", never both, never neither. Returns the
# ids answered.
EXPIRE_WAITING: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local queued = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  queued[id] = true
  redis.call('ZADD', KEYS[2], 'NX', now, id)
end
local expired = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if not queued[id] then
    redis.call('ZREM', KEYS[2], id)
  elseif tonumber(redis.call('ZSCORE', KEYS[2], id)) <= now - tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[2], id)
    if redis.call('LREM', KEYS[1], 0, id) > 0 then
      redis.call('DEL', ARGV[2] .. id)
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*',
                 'job_id', id, 'status', 'error', 'error', ARGV[3])
      table.insert(expired, id)
    end
  end
end
return expired
"""
