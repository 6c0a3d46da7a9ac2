/**
 * How every writer and reader of a conversation's history list (`KEYS.history`) keeps `KEYS.historyMeta`
 * true, as Lua functions to prefix to a script. The meta hash holds `gen`, a token that changes whenever the
 * list is created, replaced or edited in place, and `n`, the items appended to it under that token. A reader
 * that keeps a copy of the list as of (gen, n) then needs only the items appended since, instead of the whole
 * list on every turn (up to HISTORY_MAX items of JSON, read, sent and parsed again each time).
 *
 * - `history_append(hist, meta, item, max, ttl)`: appends one item, trims the list to its last `max` items,
 *   and keeps both keys `ttl` seconds.
 * - `history_changed(hist, meta)`: the list was replaced or edited in place; copies of it are stale.
 * - `history_read(hist, meta, max, gen, n)` → `{gen, n, from, llen, items}`: the items appended since (gen, n)
 *   when the reader's copy is still good (`from` = its `n`), else the last `max` items (`from` = -1).
 */
export const HISTORY_LUA = `
local function history_token()
  local t = redis.call('TIME')
  return t[1] .. '.' .. t[2]
end
local function history_changed(hist, meta)
  redis.call('HSET', meta, 'gen', history_token(), 'n', redis.call('LLEN', hist))
  local ttl = redis.call('TTL', hist)
  if ttl > 0 then redis.call('EXPIRE', meta, ttl) else redis.call('EXPIRE', meta, 86400) end
end
local function history_append(hist, meta, item, max, ttl)
  -- a list created anew (first message, or it had expired) starts a new generation
  if redis.call('EXISTS', hist) == 0 then redis.call('DEL', meta) end
  redis.call('RPUSH', hist, item)
  redis.call('LTRIM', hist, -tonumber(max), -1)
  redis.call('EXPIRE', hist, ttl)
  if redis.call('HSETNX', meta, 'gen', history_token()) == 1 then
    redis.call('HSET', meta, 'n', redis.call('LLEN', hist))
  else
    redis.call('HINCRBY', meta, 'n', 1)
  end
  redis.call('EXPIRE', meta, ttl)
end
local function history_read(hist, meta, max, gen, n)
  local m = redis.call('HMGET', meta, 'gen', 'n')
  if not m[1] or not m[2] then
    if redis.call('EXISTS', hist) == 0 then return {'', 0, -1, 0, {}} end
    history_changed(hist, meta)
    m = redis.call('HMGET', meta, 'gen', 'n')
  end
  local now, have, llen = tonumber(m[2]), tonumber(n), redis.call('LLEN', hist)
  if m[1] == gen and have and have <= now and now - have <= math.min(tonumber(max), llen) then
    if now == have then return {m[1], now, have, llen, {}} end
    return {m[1], now, have, llen, redis.call('LRANGE', hist, have - now, -1)}
  end
  return {m[1], now, -1, llen, redis.call('LRANGE', hist, -tonumber(max), -1)}
end
`;
