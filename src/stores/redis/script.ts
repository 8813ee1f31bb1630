import { createHash } from 'node:crypto'

/**
 * The Lua twins of the policies' step and refund functions (src/limiter/algorithms/*.ts), run by
 * Redis in one atomic script call per decision. Operation for operation the same arithmetic as
 * the TypeScript, on doubles kept integral, so both give identical answers: the conformance
 * suite (test/stores/redis/conformance.test.ts) replays random traces through both and compares.
 *
 * A change to this text is a change of the pinned SHA1 in test/stores/redis/script.test.ts: deliberate.
 */
export const DECIDE_SCRIPT = `-- ratekeeper decide v6 (batched, shadow checks, penalty boxes, block reasons)
-- One call decides a batch of requests, one after the other, each atomic and all-or-nothing.
-- ARGV[1] deadline (Redis ms; -1 none): a batch Redis reaches later is refused whole.
-- ARGV[2] extra TTL (ms) added to every key's TTL. ARGV[3] S, the number of specs; ARGV[4..3+S]
-- the specs "kind:limit:a:b:c": 1 token bucket (limit:burst:ticksPerMs:tokenTicks), 2 fixed window
-- (limit:windowMs), 3 calendar month (limit:0), 4 sliding window (limit:subMs:older),
-- 5 concurrency (limit:leaseMs:retryMs), 6 penalty box (after:withinMs:forgiveMs:setUntil:blocks[:reason hex];
-- setUntil 0 the box, 1 unblock, else a block's end). A spec led by "s" is a shadow check: decided, never
-- denying, written only when every check of its request (shadow ones too) admits.
-- Then per request: op (1 consume, 2 peek, 3 refund, 4 reset, 5 charge; +16: the caller's now
-- follows the spec indexes; +32: the request's lease follows), cost, n, the spec index (1..S) of
-- each of its n checks, [now], [chargedAt, charged (refund)], [lease (its text, kept a string)].
-- The lease of one concurrency check alone (a consume or a refund carrying it, of that one check)
-- comes shorter, led by a letter where any other request has its op: one argument, "a" acquire or
-- "r" release ("A", "R": the caller's now follows it), then the spec index as one character
-- (48 + index: "1" is 1), then the lease's text; then [now].
-- KEYS: the n state keys of each request, in request order.
-- A batch of one consume alone of one check on the Redis clock, without a lease (what a process
-- with one request in flight sends), may come compact: ARGV = deadline, head, [cost, [extra TTL]] (below).
-- Returns {1, redisNow, then per request: status, ...}: status 1 admitted, 0 denied, each followed
-- by remaining, resetAt, retryAfterMs per check (reset: nothing); 2 denied by a penalty box whose
-- block was given a reason (limiter.block), the same figures, then the reason; -2 failed, followed by the
-- error text (nothing of that request was written). {-1, redisNow}: the batch arrived after its
-- deadline and nothing was read or written.
-- States are binary (struct, little-endian): token bucket TAT as a double; fixed window index
-- (double) and count (uint32; a double once a charge takes it past 2^32 - 1); sliding window
-- newest index (double) and counts (uint32 each; doubles and a trailing byte, past 2^32 - 1); penalty
-- box five doubles, then the reason of a block by hand (its bytes, while the block lasts).
-- A concurrency limit is a sorted set: member = lease, score = its deadline (ms); expired =
-- deadline <= now, removed whenever the set is written.
local floor, ceil, tonumber, tostring, match, byte, sub = math.floor, math.ceil, tonumber, tostring, string.match, string.byte, string.sub
local pack, unpackState = struct.pack, struct.unpack
local t = redis.call('TIME')                                     -- the server clock
local rnow = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)  -- in ms
local deadline = tonumber(ARGV[1])
if deadline >= 0 and rnow > deadline then return { -1, rnow } end  -- too late: the caller gave up, touch nothing
local extra                                                      -- the extra TTL (ms)
local format = string.format
local BIG = 9007199254740991                                     -- 2^53 - 1: larger numbers go as digits (see the end)
local MAX_TTL = 99999999999999                                  -- the longest TTL written, ms (about 3,000 years)

-- A compact batch: one consume alone, of a token bucket or a fixed window (not a calendar month)
-- that can admit it (limit > 0, 0 < cost <= its capacity: the caller sends nothing else compact).
-- It is decided here, inline, before any function or table of the general path is built (each
-- costs on every call): tbStep / fwStep and put, operation for operation. ARGV = deadline, head,
-- [cost (absent: 1), [extra TTL (absent: 0)]]: every argument costs Redis and the client alike.
-- The head is a letter, the numbers the step needs as 14 hex digits each (a hex parse costs a tenth
-- of a decimal one, and no pattern is matched), then the policy's spec: "t" capacity in ticks,
-- ticksPerMs, tokenTicks; "f" limit, windowMs. Anything else (a key of another type: the GET
-- fails; a figure past 2^53) goes on as the same request in the general layout (A), with that spec.
local A = ARGV
local head = ARGV[2]
local kind = byte(head, 1)
if kind == 116 or kind == 102 then                               -- "t" or "f": a digit leads the extra TTL of the general layout
  extra = ARGV[4] and tonumber(ARGV[4]) or 0
  local cost, key = ARGV[3] and tonumber(ARGV[3]) or 1, KEYS[1]
  local raw = redis.pcall('GET', key)
  if type(raw) ~= 'table' then                                   -- read (false: absent; a table: it failed)
    if kind == 116 then
      local cap, tpm, tt = tonumber(sub(head, 2, 15), 16), tonumber(sub(head, 16, 29), 16), tonumber(sub(head, 30, 43), 16)
      local nowT = rnow * tpm                                    -- now, in ticks
      local tat = raw and (unpackState('<d', raw)) or nowT       -- stored TAT, or fresh
      if tat < nowT then tat = nowT end                          -- an idle bucket is full, never fuller
      local nxt = tat + cost * tt                                -- TAT once this cost is taken
      local over = nxt - nowT - cap                              -- ticks beyond capacity
      if over <= 0 then                                          -- admitted: the new TAT, kept until it has drained
        local resetAt = ceil(nxt / tpm)
        if resetAt <= BIG then
          local ms = resetAt - rnow + extra                      -- the TTL, capped at MAX_TTL as ttlOf caps it
          redis.call('PSETEX', key, format('%d', ms > MAX_TTL and MAX_TTL or ms), pack('<d', nxt))
          return { 1, rnow, 1, floor((cap - (nxt - nowT)) / tt), resetAt, 0 }
        end
      else                                                       -- denied until the excess drains
        local avail, resetAt, retry = floor((cap - (tat - nowT)) / tt), ceil(tat / tpm), ceil(over / tpm)
        if avail < 0 then avail = 0 end
        if resetAt <= BIG and retry <= BIG then return { 1, rnow, 0, avail, resetAt, retry } end
      end
    else
      local limit, w = tonumber(sub(head, 2, 15), 16), tonumber(sub(head, 16, 29), 16)
      local idx, count = floor(rnow / w), 0                      -- the window now falls in
      if raw then
        local si, sc
        if #raw == 16 then si, sc = unpackState('<dd', raw) else si, sc = unpackState('<dI4', raw) end
        if si >= idx then idx = si; count = sc end               -- a clock that ran back stays in the newer window
      end
      local e = (idx + 1) * w                                    -- when the window ends
      if e <= BIG then
        if count + cost <= limit then                            -- admitted: counted until the window ends
          local c = count + cost
          local ms = e - rnow + extra                            -- the TTL, capped at MAX_TTL as ttlOf caps it
          redis.call('PSETEX', key, format('%d', ms > MAX_TTL and MAX_TTL or ms), c > 4294967295 and pack('<dd', idx, c) or pack('<dI4', idx, c))
          return { 1, rnow, 1, limit - c, e, 0 }
        end
        local rem = limit - count                                -- denied until the window ends
        if rem < 0 then rem = 0 end                              -- never negative (a charged debt)
        return { 1, rnow, 0, rem, e, e - rnow }
      end
    end
  end
  A = { ARGV[1], ARGV[4] or '0', '1', sub(head, kind == 116 and 44 or 30), '1', ARGV[3] or '1', '1', '1' }  -- the general layout: 1 spec, 1 request of 1 check
else
  extra = ARGV[2] == '0' and 0 or tonumber(ARGV[2])             -- a number's parse costs as much as an argument: skipped for the usual 0
end

-- A TTL in ms for PSETEX/PEXPIRE (capped at MAX_TTL).
local function ttlOf(ms)
  if ms > MAX_TTL then ms = MAX_TTL end
  return format('%d', ms)                                        -- integer formatting: cheaper than tostring's %.14g
end

-- One consume from one token bucket that can admit it (limit > 0, 0 < cost <= burst), in a batch
-- of several: tbStep and put, inlined. Returns status (1 admitted, 0 denied), remaining, resetAt,
-- retry; nothing (and nothing written) when a figure lies past 2^53: the general path formats it.
local function tbFast(key, cost, now, burst, tpm, tt)
  local raw = redis.call('GET', key)                             -- stored TAT, or false
  local nowT = now * tpm                                         -- now, in ticks
  local tat = raw and (unpackState('<d', raw)) or nowT
  if tat < nowT then tat = nowT end                              -- an idle bucket is full, never fuller
  local cap = burst * tt                                         -- capacity, in ticks
  local nxt = tat + cost * tt                                    -- TAT once this cost is taken
  local over = nxt - nowT - cap                                  -- ticks beyond capacity
  if over <= 0 then                                              -- admitted: store the new TAT until it has drained
    local resetAt = ceil(nxt / tpm)
    if resetAt > BIG then return end
    redis.call('PSETEX', key, ttlOf(resetAt - now + extra), pack('<d', nxt))
    return 1, floor((cap - (nxt - nowT)) / tt), resetAt, 0
  end
  local avail = floor((cap - (tat - nowT)) / tt)                 -- denied: whole tokens available now
  if avail < 0 then avail = 0 end
  local resetAt, retry = ceil(tat / tpm), ceil(over / tpm)
  if resetAt > BIG or retry > BIG then return end
  return 0, avail, resetAt, retry
end

-- The specs, parsed once per batch (one exact pattern per kind: no backtracking).
local nspecs = tonumber(A[3])
local specs = {}
local hasTb, hasFw, hasMonth, hasSw, hasCc, hasPb = false, false, false, false, false, false
local shadowSpec = {}                                            -- shadowSpec[j]: spec j is a shadow check
for j = 1, nspecs do
  local s = A[3 + j]
  if byte(s, 1) == 115 then shadowSpec[j] = true; s = sub(s, 2) end  -- "s": shadow
  local k = byte(s, 1) - 48                                      -- the kind, from its digit
  if k == 1 then
    local l, b, p, q = match(s, '^1:(%d+):(%d+):(%d+):(%d+)$')
    specs[j] = { 1, tonumber(l), tonumber(b), tonumber(p), tonumber(q) }
    hasTb = true
  elseif k == 4 then
    local l, g, o = match(s, '^4:(%d+):(%d+):(%d+)$')
    specs[j] = { 4, tonumber(l), tonumber(g), tonumber(o) }
    hasSw = true
  elseif k == 5 then
    local l, d, r = match(s, '^5:(%d+):(%d+):(%d+)$')
    specs[j] = { 5, tonumber(l), tonumber(d), tonumber(r), ttlOf(tonumber(d) + extra) }  -- [5]: the TTL of a first lease
    hasCc = true
  elseif k == 6 then
    local a, w, f, u, bl, why = match(s, '^6:(%d+):(%d+):(%d+):(%d+):([%d.]+):?(%x*)$')
    local blocks = {}                                            -- block lengths, ms, by repeat offence
    for b in string.gmatch(bl, '%d+') do blocks[#blocks + 1] = tonumber(b) end
    why = why:gsub('%x%x', function(h) return string.char(tonumber(h, 16)) end)  -- the reason of limiter.block ('' none)
    specs[j] = { 6, tonumber(a), tonumber(w), tonumber(f), tonumber(u), blocks, why }
    hasPb = true
  else
    local l, w = match(s, '^%d:(%d+):(%d+)$')
    specs[j] = { k, tonumber(l), tonumber(w) }
    hasFw = true
    if k == 3 then hasMonth = true end
  end
end

-- Only the kinds the batch holds get their functions built (a closure costs on every call).
local civil, daysOf, fwIndex, fwEnd, fwParse, fwPack, fwStep, fwRefund, fwCharge
local tbStep, tbRefund, tbCharge, swLoad, swEmptyAt, swSave, swStep, swRefund, swCharge
local ccStep, ccWrite, ccAdjust, pbLoad, pbSave, pbAnswer, pbStep, pbOffence, pbCharge
local U32 = 4294967295                                           -- the largest count a uint32 holds

if hasMonth then
  -- Days since 1970-01-01 to UTC civil year/month (proleptic Gregorian, integer arithmetic).
  civil = function(days)
    local z = days + 719468                                        -- days since 0000-03-01
    local era = floor(z / 146097)                                  -- 400-year era
    local doe = z - era * 146097                                   -- day of era [0, 146096]
    local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100)) -- day of March-based year
    local mp = floor((5 * doy + 2) / 153)                          -- March-based month [0, 11]
    local m = mp < 10 and mp + 3 or mp - 9                         -- civil month [1, 12]
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)                -- civil year
    return y, m
  end

  -- UTC civil year/month (day 1) to days since 1970-01-01.
  daysOf = function(y, m)
    y = y - (m <= 2 and 1 or 0)                                    -- March-based year
    local era = floor(y / 400)                                     -- 400-year era
    local yoe = y - era * 400                                      -- year of era [0, 399]
    local mp = (m + 9) % 12                                        -- March-based month [0, 11]
    local doy = floor((153 * mp + 2) / 5)                          -- day of year of the 1st
    return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
  end
end

if hasFw then
  -- Window index at now: months since January 1970 (w == 0), else floor(now / w).
  fwIndex = function(now, w)
    if w ~= 0 then return floor(now / w) end
    local y, m = civil(floor(now / 86400000))                      -- UTC date of now
    return (y - 1970) * 12 + m - 1                                 -- months since 1970-01
  end

  -- Epoch ms of the end of window idx; months follow JS Date.UTC(1970 + floor(j / 12), j % 12, 1).
  fwEnd = function(idx, w)
    if w ~= 0 then return (idx + 1) * w end
    local j = idx + 1                                              -- the next month
    local y = 1970 + floor(j / 12)                                 -- Date.UTC's year argument
    local mo = math.fmod(j, 12)                                    -- JS %: sign of the dividend
    y = y + floor(mo / 12)                                         -- Date.UTC normalises the month
    mo = mo - floor(mo / 12) * 12
    return daysOf(y, mo + 1) * 86400000                            -- midnight UTC on the 1st
  end

  -- Fixed window state to its window index and count (nil when absent).
  fwParse = function(raw)
    if not raw then return nil end
    if #raw == 16 then return unpackState('<dd', raw) end          -- a count past 2^32 - 1 (charged debt)
    return unpackState('<dI4', raw)
  end

  -- Fixed window state of window idx holding count.
  fwPack = function(idx, count)
    if count > U32 then return pack('<dd', idx, count) end        -- debt beyond a uint32: kept exact
    return pack('<dI4', idx, count)
  end

  -- Fixed window step (w == 0: calendar month). Returns retry, new state, remaining, resetAt.
  fwStep = function(raw, cost, now, limit, w)
    local idx = fwIndex(now, w)                                    -- the window now falls in
    local count = 0
    local si, sc = fwParse(raw)
    if si and si >= idx then idx = si; count = sc end              -- a clock that ran back stays in the newer window
    local e = fwEnd(idx, w)                                        -- when the window ends
    local rem = limit - count                                      -- what is left before this request
    if rem < 0 then rem = 0 end                                    -- never negative (a charged debt)
    if cost == 0 then return 0, nil, rem, e end                    -- a look
    if limit == 0 or cost > limit then return -1, nil, rem, e end  -- can never fit
    if count + cost <= limit then return 0, fwPack(idx, count + cost), limit - count - cost, e end
    return e - now, nil, rem, e                                    -- denied until the window ends
  end

  -- Fixed window refund: only into the window charged, while it lasts. Returns changed, new state, remaining, resetAt.
  fwRefund = function(raw, cost, chargedAt, now, limit, w)
    local si, sc = fwParse(raw)
    local cur = fwIndex(now, w)                                    -- the window now falls in
    if not si or si < cur or si ~= fwIndex(chargedAt, w) then      -- not the window charged: nothing to give back
      if not si or si < cur then return false, nil, limit, fwEnd(cur, w) end  -- a window that is over counts as absent
      local rem = limit - sc
      if rem < 0 then rem = 0 end
      return false, nil, rem, fwEnd(si, w)
    end
    local count = sc - cost                                        -- never below zero
    if count < 0 then count = 0 end
    local st = nil
    if count > 0 then st = fwPack(si, count) end                   -- an empty window is a fresh one
    local rem = limit - count
    if rem < 0 then rem = 0 end
    return true, st, rem, fwEnd(si, w)
  end

  -- Fixed window charge: cost taken whatever the count (debt). Returns new state, remaining, resetAt.
  fwCharge = function(raw, cost, now, limit, w)
    local idx = fwIndex(now, w)                                    -- the window now falls in
    local count = 0
    local si, sc = fwParse(raw)
    if si and si >= idx then idx = si; count = sc end              -- a clock that ran back stays in the newer window
    count = count + cost                                           -- no limit check: the window may be overdrawn
    local rem = limit - count
    if rem < 0 then rem = 0 end
    if count == 0 then return nil, rem, fwEnd(idx, w) end          -- nothing counted: fresh
    return fwPack(idx, count), rem, fwEnd(idx, w)
  end
end

if hasTb then
  -- Token bucket step (GCRA in ticks). Returns retry (0 admits, -1 never), new TAT, remaining, resetAt.
  tbStep = function(raw, cost, now, limit, burst, tpm, tt)
    local nowT = now * tpm                                         -- now, in ticks
    local tat = raw and (unpackState('<d', raw)) or nowT           -- stored TAT, or fresh
    if tat < nowT then tat = nowT end                              -- an idle bucket is full, never fuller
    local cap = burst * tt                                         -- capacity, in ticks
    local avail = floor((cap - (tat - nowT)) / tt)                 -- whole tokens available now
    if avail < 0 then avail = 0 end
    if cost == 0 then return 0, nil, limit == 0 and 0 or avail, ceil(tat / tpm) end  -- a look
    if limit == 0 or cost > burst then return -1, nil, limit == 0 and 0 or avail, ceil(tat / tpm) end
    local nxt = tat + cost * tt                                    -- TAT once this cost is taken
    local over = nxt - nowT - cap                                  -- ticks beyond capacity
    if over <= 0 then return 0, nxt, floor((cap - (nxt - nowT)) / tt), ceil(nxt / tpm) end
    return ceil(over / tpm), nil, avail, ceil(tat / tpm)           -- denied until the excess drains
  end

  -- Token bucket refund. Returns changed, new TAT (nil: fresh), remaining, resetAt.
  tbRefund = function(raw, cost, chargedAt, charged, now, limit, burst, tpm, tt)
    local nowT = now * tpm                                         -- now, in ticks
    local state = raw and (unpackState('<d', raw))                 -- stored TAT
    local back = chargedAt * tpm + charged * tt - nowT             -- the part of the whole charge not refilled since
    if back > cost * tt then back = cost * tt end                  -- never more than was charged
    if back < 0 then back = 0 end
    if not state or state - back <= nowT then                      -- back to full, never above capacity
      return true, nil, limit == 0 and 0 or burst, now
    end
    local tat = state - back                                       -- TAT with the unrefilled cost given back
    local avail = floor((burst * tt - (tat - nowT)) / tt)          -- whole tokens available now
    if avail < 0 then avail = 0 end
    return true, tat, avail, ceil(tat / tpm)
  end

  -- Token bucket charge: cost taken whatever the TAT (debt: later requests wait it out). Returns new TAT, remaining, resetAt.
  tbCharge = function(raw, cost, now, limit, burst, tpm, tt)
    local nowT = now * tpm                                         -- now, in ticks
    local tat = raw and (unpackState('<d', raw)) or nowT           -- stored TAT, or fresh
    if tat < nowT then tat = nowT end                              -- an idle bucket is full, never fuller
    local nxt = tat + cost * tt                                    -- no capacity check
    if nxt <= nowT then return nil, limit == 0 and 0 or burst, now end  -- nothing owed: fresh
    local avail = 0
    if limit ~= 0 then avail = floor((burst * tt - (nxt - nowT)) / tt) end
    if avail < 0 then avail = 0 end
    return nxt, avail, ceil(nxt / tpm)
  end
end

if hasSw then
  local SWFMT = '<dI4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4'  -- state formats are prefixes of this
  local formats, scratch = {}, {}                                -- per call: state formats by count, and the counts of one step
  local function formatOf(k)                                     -- the struct format of a state holding k counts
    local f = formats[k]
    if not f then f = sub(SWFMT, 1, 2 + 2 * k); formats[k] = f end
    return f
  end
  -- Sliding window state (newest index, then counts, newest first) into counts[1..slots] aligned to now.
  -- Returns the index.
  swLoad = function(raw, now, g, slots, counts)
    local idx = floor(now / g)                                     -- current sub-window
    for i = 1, slots do counts[i] = 0 end
    if raw then
      local k, s
      if #raw % 2 == 1 then                                        -- wide: counts as doubles, a trailing byte
        k = (#raw - 9) / 8
        s = { unpackState('<d' .. string.rep('d', k), raw) }
      else
        k = (#raw - 8) / 4                                         -- counts stored
        s = { unpackState(formatOf(k), raw) }                      -- index, counts…, next position
      end
      if s[1] > idx then idx = s[1] end                            -- a clock that ran back stays at the newest
      local shift = idx - s[1]                                     -- sub-windows elapsed since the state
      local i = 0
      while i + shift < slots and i < k do counts[i + shift + 1] = s[i + 2]; i = i + 1 end
    end
    return idx
  end

  -- Sliding window: epoch ms when every counted request has left the window (now if none).
  swEmptyAt = function(idx, now, g, older, slots, counts)
    for i = 1, slots do
      if counts[i] ~= 0 then return (idx - (i - 1) + older + 1) * g end
    end
    return now
  end

  -- Sliding window counts to a state, trailing zeros trimmed; nil when empty.
  swSave = function(idx, slots, counts)
    local last = slots
    while last >= 1 and counts[last] == 0 do last = last - 1 end
    if last < 1 then return nil end
    for i = 1, last do
      if counts[i] > U32 then                                      -- charged debt beyond a uint32: doubles, odd length
        local wide = { idx, unpack(counts, 1, last) }
        wide[last + 2] = 1                                         -- the trailing byte
        return pack('<d' .. string.rep('d', last) .. 'B', unpack(wide))
      end
    end
    return pack(formatOf(last), idx, unpack(counts, 1, last))
  end

  -- Sliding window step. Returns retry, new state, remaining, resetAt.
  swStep = function(raw, cost, now, limit, g, older)
    local slots, counts = older + 1, scratch                     -- states are packed strings: the table is free again after
    local idx = swLoad(raw, now, g, slots, counts)
    local used = 0                                                 -- requests in the last window
    for i = 1, slots do used = used + counts[i] end
    local rem = limit - used
    if rem < 0 then rem = 0 end
    if cost == 0 then return 0, nil, rem, swEmptyAt(idx, now, g, older, slots, counts) end  -- a look
    if limit == 0 or cost > limit then return -1, nil, rem, swEmptyAt(idx, now, g, older, slots, counts) end
    if used + cost <= limit then                                   -- admitted into the current sub-window
      counts[1] = counts[1] + cost
      return 0, swSave(idx, slots, counts), limit - used - cost, swEmptyAt(idx, now, g, older, slots, counts)
    end
    local freed, wait = used, 1                                    -- first edge at which enough has aged out
    for i = slots, 1, -1 do
      freed = freed - counts[i]
      if freed + cost <= limit then break end
      wait = wait + 1
    end
    return (idx + wait) * g - now, nil, rem, swEmptyAt(idx, now, g, older, slots, counts)
  end

  -- Sliding window refund: only into the sub-window charged. Returns changed, new state, remaining, resetAt.
  swRefund = function(raw, cost, chargedAt, now, limit, g, older)
    local slots, counts = older + 1, scratch                     -- states are packed strings: the table is free again after
    local idx = swLoad(raw, now, g, slots, counts)
    local back = idx - floor(chargedAt / g)                        -- how many sub-windows ago it was charged
    if raw and back >= 0 and back < slots then
      local c = counts[back + 1] - cost                            -- never below zero
      if c < 0 then c = 0 end
      counts[back + 1] = c
    end
    local used = 0
    for i = 1, slots do used = used + counts[i] end
    local rem = limit - used
    if rem < 0 then rem = 0 end
    return true, swSave(idx, slots, counts), rem, swEmptyAt(idx, now, g, older, slots, counts)
  end

  -- Sliding window charge: cost into the current sub-window whatever the count. Returns new state, remaining, resetAt.
  swCharge = function(raw, cost, now, limit, g, older)
    local slots, counts = older + 1, scratch
    local idx = swLoad(raw, now, g, slots, counts)
    counts[1] = counts[1] + cost                                   -- no limit check: it ages out as always
    local used = 0
    for i = 1, slots do used = used + counts[i] end
    local rem = limit - used
    if rem < 0 then rem = 0 end
    return swSave(idx, slots, counts), rem, swEmptyAt(idx, now, g, older, slots, counts)
  end
end

if hasCc then
  -- Concurrency step: reads only. Live leases are those whose deadline is after now. Returns
  -- retry (0 admits, -1 never), the lease to write (admitted), remaining, resetAt (latest live deadline).
  ccStep = function(key, cost, now, limit, leaseMs, retryMs, lease)
    local after = '(' .. format('%d', now)                         -- scores above now: live
    local live = redis.call('ZCOUNT', key, after, '+inf')          -- leases held now
    local top = redis.call('ZREVRANGE', key, 0, 1, 'WITHSCORES')   -- the two latest: member, score, member, score
    local t1 = top[2] and tonumber(top[2])
    local latest = now
    if t1 and t1 > latest then latest = t1 end                     -- full allowance again when the last one ends
    local rem = limit - live
    if rem < 0 then rem = 0 end
    if cost == 0 and not lease then return 0, nil, rem, latest end  -- a look (a consume, with its lease, takes a slot whatever its cost)
    if limit == 0 then return -1, nil, rem, latest end             -- never
    if not lease then                                              -- a peek: would a new request fit?
      if live < limit then return 0, nil, limit - live - 1, latest end
      local first = redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      local wait = tonumber(first[2]) - now
      if wait > retryMs then wait = retryMs end
      if wait < 1 then wait = 1 end
      return wait, nil, rem, latest
    end
    local mine = redis.call('ZSCORE', key, lease)
    local held = mine and tonumber(mine) > now                     -- the same lease again: renewed, admitted once
    if held or live < limit then
      local other = now                                            -- the latest deadline of the other leases
      if top[1] == lease then
        if top[4] and tonumber(top[4]) > other then other = tonumber(top[4]) end
      elseif t1 and t1 > other then
        other = t1
      end
      if now + leaseMs > other then other = now + leaseMs end
      rem = limit - (held and live or live + 1)
      if rem < 0 then rem = 0 end
      return 0, lease, rem, other
    end
    local first = redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local wait = tonumber(first[2]) - now                          -- until the earliest lease expires,
    if wait > retryMs then wait = retryMs end                      -- or a short hint: releases come sooner
    if wait < 1 then wait = 1 end
    return wait, nil, rem, latest
  end

  -- Writes an admitted lease: expired ones go, the lease gets its deadline, the key lives until the latest.
  ccWrite = function(key, lease, now, leaseMs, resetAt)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', format('%d', now))
    redis.call('ZADD', key, format('%d', now + leaseMs), lease)
    redis.call('PEXPIRE', key, ttlOf(resetAt - now + extra))
  end

  -- Refund (lease given: released, idempotent) or charge (nil: unchanged); count: the set's size,
  -- when the caller has it. Returns remaining, resetAt.
  -- Leases only go, so the key's TTL (set by the acquire of the latest lease) still covers them.
  ccAdjust = function(key, now, limit, lease, count)
    if lease then redis.call('ZREM', key, lease) end
    count = count or redis.call('ZCARD', key)                      -- (given: counted already); an empty set is gone already
    if count > 0 then                                              -- expired leases go
      count = count - redis.call('ZREMRANGEBYSCORE', key, '-inf', format('%d', now))
    end
    local latest = now
    if count > 0 then                                              -- its TTL stays: the last deadline an acquire set, no sooner
      latest = tonumber(redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')[2])
    end
    local rem = limit - count
    if rem < 0 then rem = 0 end
    return rem, latest
  end
end

-- Decides cost for a check with numbers v (key and lease: a concurrency check). Returns retry, new state, remaining, resetAt.
if hasPb then
  pbLoad = function(raw, now, v)                                 -- the state as it stands at now, and the block's reason
    if not raw then return 0, 0, 0, 0, 0, '' end
    local u, lv, fi, c, la = unpackState('<ddddd', raw)            -- until, level, first offence, offences, last
    local q = u > la and u or la                                   -- the quiet period runs from the later
    if lv > 0 and now >= q + v[4] then lv = 0 end                  -- forgiven
    if c > 0 and now >= fi + v[3] then c = 0; fi = 0 end           -- the offences' span is over
    return u, lv, fi, c, la, u > now and sub(raw, 41) or ''        -- a reason lasts as long as its block
  end

  pbSave = function(now, v, u, lv, fi, c, la, why)                -- the state and when it stops mattering
    local e = u
    if c > 0 and fi + v[3] > e then e = fi + v[3] end
    local q = u > la and u or la
    if lv > 0 and q + v[4] > e then e = q + v[4] end
    if e <= now then return nil, now end                           -- nothing left: fresh
    return pack('<ddddd', u, lv, fi, c, la) .. (u > now and why or ''), e
  end

  pbAnswer = function(cost, now, v, u, fi, c)                     -- retry, remaining, resetAt
    if cost > 0 and u > now then return u - now, 0, u end          -- in the box until u
    if u > now then return 0, 0, u end
    if c > 0 then return 0, v[2] - c, fi + v[3] end
    return 0, v[2], now
  end

  pbStep = function(raw, cost, now, v)
    local u, lv, fi, c, la, why = pbLoad(raw, now, v)
    local st, e = pbSave(now, v, u, lv, fi, c, la, why)
    local retry, rem, resetAt = pbAnswer(cost, now, v, u, fi, c)
    return retry, st, rem, resetAt, e, why
  end

  pbOffence = function(raw, now, v)                              -- the request was denied by another policy
    local u, lv, fi, c, la, why = pbLoad(raw, now, v)
    if u <= now then                                             -- requests denied in the box are no offence
      if c == 0 then fi = now end
      c = c + 1; la = now
      if c >= v[2] then                                          -- in the box: the next block length, capped
        local blocks = v[6]
        lv = lv + 1
        if lv > #blocks then lv = #blocks end
        u = now + blocks[lv]; c = 0; fi = 0; why = ''             -- an earned block has no reason
      end
    end
    local st, e = pbSave(now, v, u, lv, fi, c, la, why)
    local retry, rem, resetAt = pbAnswer(1, now, v, u, fi, c)
    return retry, st, rem, resetAt, e
  end

  pbCharge = function(raw, now, v)                               -- limiter.block / unblock (v[5]: the block's end)
    local u, lv, fi, c, la, why = pbLoad(raw, now, v)
    if v[5] == 1 then u, lv, fi, c, la, why = 0, 0, 0, 0, 0, ''    -- unblock: the record is forgotten
    elseif v[5] ~= 0 then u = v[5]; la = now; why = v[7] end       -- the block (a past end ends it; level kept), its reason
    local st, e = pbSave(now, v, u, lv, fi, c, la, why)
    local _, rem, resetAt = pbAnswer(0, now, v, u, fi, c)
    return st, rem, resetAt, e
  end
end

local function step(v, raw, cost, now, key, lease)
  local kind = v[1]
  if kind == 1 then return tbStep(raw, cost, now, v[2], v[3], v[4], v[5]) end
  if kind == 4 then return swStep(raw, cost, now, v[2], v[3], v[4]) end
  if kind == 5 then return ccStep(key, cost, now, v[2], v[3], v[4], lease) end
  if kind == 6 then return pbStep(raw, cost, now, v) end
  return fwStep(raw, cost, now, v[2], kind == 3 and 0 or v[3])
end

-- Stores a state with its TTL, or deletes a fresh one (no key ever lives without a TTL).
local function put(key, st, ttl)
  if st and ttl > 0 then
    redis.call('PSETEX', key, ttlOf(ttl), type(st) == 'number' and pack('<d', st) or st)
  else
    redis.call('DEL', key)
  end
end

local out, o = { 1, rnow }, 2                                    -- o: the last index of out written

-- One request: n checks with keys KEYS[base + 1..base + n] and spec indexes at I[at..at + n - 1]
-- (I: the arguments, or the index a lease alone carried in its code).
local function decide(op, cost, n, now, chargedAt, charged, lease, base, I, at)
  if op == 4 then                                                -- reset: forget every check
    if n > 0 then redis.call('DEL', unpack(KEYS, base + 1, base + n)) end
    out[o + 1] = 1; o = o + 1
    return
  end
  if n == 1 and op == 1 and not shadowSpec[tonumber(I[at])] then
    -- Fast path, the common case: consume from one token bucket that can admit it (tbFast).
    local v = specs[tonumber(I[at])]
    if v[1] == 1 and v[2] > 0 and cost > 0 and cost <= v[3] then              -- else never admissible: the general path says so
      local st, rem, resetAt, retry = tbFast(KEYS[base + 1], cost, now, v[3], v[4], v[5])
      if st then
        out[o + 1] = st; out[o + 2] = rem; out[o + 3] = resetAt; out[o + 4] = retry
        o = o + 4
        return
      end
    end
    if v[1] == 5 and v[2] > 0 and lease then
      -- Fast path: take a lease of one concurrency limit that has a slot free (ccStep and ccWrite, inlined).
      -- (The request loop takes a first lease, the set absent, of a compact acquire itself.)
      local key, limit = KEYS[base + 1], v[2]
      local nowS = format('%d', now)
      local live = redis.call('ZCOUNT', key, '(' .. nowS, '+inf')  -- leases held now
      if live < limit then                                       -- admitted, the lease held already or not
        redis.call('ZREMRANGEBYSCORE', key, '-inf', nowS)         -- expired leases go
        local added = redis.call('ZADD', key, format('%d', now + v[3]), lease)  -- 0: the same lease, renewed
        local latest = tonumber(redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')[2])
        redis.call('PEXPIRE', key, ttlOf(latest - now + extra))  -- the key lives until its last lease ends
        out[o + 1] = 1; out[o + 2] = limit - live - added; out[o + 3] = latest; out[o + 4] = 0
        o = o + 4
        return
      end                                                        -- full: renewed or denied, the general path says
    end
  end
  local specsOf, shadows = {}, {}
  for i = 1, n do
    local j = tonumber(I[at + i - 1])
    specsOf[i] = specs[j]; shadows[i] = shadowSpec[j]
  end
  local s = o + 1                                                -- out[s]: the status
  if op == 3 or op == 5 then                                     -- refund (give cost back) or charge (take it, debt allowed)
    for i = 1, n do
      local v, key = specsOf[i], KEYS[base + i]
      local kind, limit = v[1], v[2]
      local changed, st, rem, resetAt, e = false, nil, 0, 0, nil
      if kind == 5 then                                          -- a lease: released by a refund, untouched by a charge
        rem, resetAt = ccAdjust(key, now, limit, op == 3 and lease or nil)
      elseif op == 5 then
        local raw = redis.call('GET', key)
        changed = true
        if kind == 1 then
          st, rem, resetAt = tbCharge(raw, cost, now, limit, v[3], v[4], v[5])
        elseif kind == 6 then
          st, rem, resetAt, e = pbCharge(raw, now, v)             -- a settled cost changes nothing; a block is written
        elseif kind == 4 then
          st, rem, resetAt = swCharge(raw, cost, now, limit, v[3], v[4])
        else
          st, rem, resetAt = fwCharge(raw, cost, now, limit, kind == 3 and 0 or v[3])
        end
      else
        local raw = redis.call('GET', key)
        if kind == 6 then                                        -- a box gives nothing back; its state is kept as it stands now
          local _
          _, st, rem, resetAt, e = pbStep(raw, 0, now, v)
          changed = true
        elseif kind == 1 then
          changed, st, rem, resetAt = tbRefund(raw, cost, chargedAt, charged, now, limit, v[3], v[4], v[5])
        elseif kind == 4 then
          changed, st, rem, resetAt = swRefund(raw, cost, chargedAt, now, limit, v[3], v[4])
        else
          changed, st, rem, resetAt = fwRefund(raw, cost, chargedAt, now, limit, kind == 3 and 0 or v[3])
        end
      end
      if changed then put(key, st, (e or resetAt) - now + extra) end
      out[s + 3 * i - 2] = rem; out[s + 3 * i - 1] = resetAt; out[s + 3 * i] = 0
    end
    out[s] = 1; o = s + 3 * n
    return
  end
  -- consume or peek: every check decides cost; all or nothing
  local raws
  if n > 1 then raws = redis.call('MGET', unpack(KEYS, base + 1, base + n))         -- false for a sorted set (concurrency): read apart
  elseif specsOf[1][1] == 5 then raws = { false }                                    -- GET would fail on a sorted set
  else raws = { redis.call('GET', KEYS[base + 1]) } end
  local states, ends, allowed, boxed, shadowsAdmit, reason = {}, {}, true, false, true, nil
  for i = 1, n do
    local raw = raws[i]                                          -- false when absent
    if not raw then raw = nil; raws[i] = nil end
    local retry, st, rem, resetAt, e, why = step(specsOf[i], raw, cost, now, KEYS[base + i], lease)
    states[i] = st; ends[i] = e                                  -- e: a penalty box's state lives until then
    out[s + 3 * i - 2] = rem; out[s + 3 * i - 1] = resetAt; out[s + 3 * i] = retry
    if retry ~= 0 then                                           -- a shadow check never denies
      if shadows[i] then shadowsAdmit = false elseif specsOf[i][1] == 6 then
        boxed = true
        if not reason and why ~= '' then reason = why end        -- the first box that denies with a reason
      else allowed = false end
    end
  end
  local offended = op == 1 and not allowed and cost > 0          -- denied by a policy other than a box: an offence
  if boxed then allowed = false end
  out[s] = allowed and 1 or 0; o = s + 3 * n
  local done = {}                                                -- boxes that recorded the offence
  if offended and hasPb then
    for i = 1, n do
      local v = specsOf[i]
      if v[1] == 6 and out[s + 3 * i] == 0 then
        local retry, st, rem, resetAt, e = pbOffence(raws[i], now, v)
        put(KEYS[base + i], st, e - now + extra)
        out[s + 3 * i - 2] = rem; out[s + 3 * i - 1] = resetAt; out[s + 3 * i] = retry
        done[i] = true
      end
    end
  end
  local write = allowed and op == 1 and (cost > 0 or lease)      -- admitted: charge every check (leases whatever the cost)
  if write then
    for i = 1, n do
      local v = specsOf[i]
      if shadows[i] and not shadowsAdmit then                    -- a shadow check is charged only when all admit
      elseif v[1] == 5 then ccWrite(KEYS[base + i], states[i], now, v[3], out[s + 3 * i - 1])
      elseif v[1] == 6 then if cost > 0 then put(KEYS[base + i], states[i], ends[i] - now + extra) end
      elseif cost > 0 then put(KEYS[base + i], states[i], out[s + 3 * i - 1] - now + extra) end
    end
    if shadowsAdmit then return end
  end
  if cost > 0 or lease then                                      -- nothing charged: admitting checks report their uncharged state
    for i = 1, n do
      if out[s + 3 * i] == 0 and (not write or shadows[i]) and not done[i] then
        local _, _, rem, resetAt = step(specsOf[i], raws[i], 0, now, KEYS[base + i], nil)  -- a look: no lease
        out[s + 3 * i - 2] = rem; out[s + 3 * i - 1] = resetAt
      end
    end
  end
  if reason and not allowed then out[s] = 2; out[o + 1] = reason; o = o + 1 end  -- denied in a box given a reason: it follows
end

local a, base, last = 4 + nspecs, 0, #A                       -- a: the next argument; base: keys used
local one = {}                                                   -- the spec index of a lease alone, for decide
while a <= last do
  local x, mark, ok, err = A[a], o, true, nil
  local lead = byte(x, 1)
  if lead > 64 then
    -- A concurrency check's lease alone: "a"/"r" (acquire, release; "A"/"R": [now] follows), the
    -- spec index as one character (48 + index), the lease's text (kept a string: a member).
    local j, now, lease, key = byte(x, 2) - 48, rnow, sub(x, 3), KEYS[base + 1]
    local v = specs[j]
    if lead < 97 then now = tonumber(A[a + 1]); a = a + 1; lead = lead + 32 end
    a = a + 1
    one[1] = j                                                   -- where decide reads the spec index
    if lead == 114 then                                          -- released (none held: released, expired or unknown, nothing changes)
      local gone = redis.pcall('ZREM', key, lease)
      if type(gone) == 'table' then ok, err = false, gone else   -- not a sorted set: fails, as the general path does
        local count, rem, latest = redis.call('ZCARD', key), v[2], now  -- none left: the set is gone, the whole limit free
        if count > 0 then rem, latest = ccAdjust(key, now, v[2], nil, count) end  -- others held: the live ones count
        out[o + 1] = 1; out[o + 2] = rem; out[o + 3] = latest; out[o + 4] = 0
        o = o + 4
      end
    elseif v[2] > 0 and redis.call('EXISTS', key) == 0 then      -- the first lease (no set: none held)
      if v[6] ~= now then v[6] = now; v[7] = format('%d', now + v[3]) end  -- its deadline, once per batch on one clock
      local added = redis.pcall('ZADD', key, v[7], lease)        -- out of memory: nothing written, this request fails
      if type(added) == 'table' then ok, err = false, added else
        redis.call('PEXPIRE', key, v[5])                         -- the key lives as long as its lease
        out[o + 1] = 1; out[o + 2] = v[2] - 1; out[o + 3] = now + v[3]; out[o + 4] = 0
        o = o + 4
      end
    else ok, err = pcall(decide, 1, 1, 1, now, 0, 0, lease, base, one, 1) end  -- others held, or never: the cost does not matter to a lease
    base = base + 1
  else
    local op, cost, n = tonumber(x), tonumber(A[a + 1]), tonumber(A[a + 2])
    local at = a + 3
    a = at + n
    local now, chargedAt, charged, lease = rnow, 0, 0, nil
    local leased = op > 32
    if leased then op = op - 32 end
    if op > 16 then op = op - 16; now = tonumber(A[a]); a = a + 1 end  -- the caller's clock decides
    if op == 3 then chargedAt, charged = tonumber(A[a]), tonumber(A[a + 1]); a = a + 2 end  -- charged: the whole charge (>= cost)
    if leased then lease = A[a]; a = a + 1 end                -- a string: tostring would round a 53-bit number
    ok, err = pcall(decide, op, cost, n, now, chargedAt, charged, lease, base, A, at)
    base = base + n
  end
  if not ok then                                                 -- this request failed (a read fails before any write); the others go on
    for i = o, mark + 1, -1 do out[i] = nil end
    out[mark + 1] = -2
    out[mark + 2] = type(err) == 'table' and (err.err or 'error') or tostring(err)
    o = mark + 2
  end
end
-- Beyond 2^53 (a charged debt far in the future) a number goes as its exact digits: Redis would
-- truncate it to a 64-bit integer, and a client reading digit by digit rounds it.
for i = 3, o do
  local x = out[i]
  if type(x) == 'number' and (x > BIG or x < -BIG) then out[i] = format('%.0f', x) end
end
return out
`

/** SHA1 of {@link DECIDE_SCRIPT}, as Redis names it (EVALSHA). */
export const DECIDE_SHA = createHash('sha1').update(DECIDE_SCRIPT).digest('hex')
