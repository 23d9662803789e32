-- keydesk's lease script: go-redis/redis_rate v10's AllowAtMost (GCRA after
-- github.com/rwz/redis-gcra) for several budgets in one call. KEYS are the
-- budgets; ARGV holds burst, rate, period (seconds) and cost (the most to
-- allow) for each key in turn. The reply is one {allowed, remaining,
-- retry_after, reset_after} per key, computed and stored exactly as
-- redis_rate does, so both spend the same budgets.

-- this script has side-effects, so it requires replicate commands mode
redis.replicate_commands()

-- seconds since Jan 1, 2017, as redis_rate counts them (see there why)
local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)

local replies = {}
for i, rate_limit_key in ipairs(KEYS) do
  local burst = ARGV[4 * i - 3]
  local rate = ARGV[4 * i - 2]
  local period = ARGV[4 * i - 1]
  local cost = tonumber(ARGV[4 * i])

  local emission_interval = period / rate
  local burst_offset = emission_interval * burst

  local tat = redis.call("GET", rate_limit_key)
  if not tat then
    tat = now
  else
    tat = tonumber(tat)
  end
  tat = math.max(tat, now)

  local diff = now - (tat - burst_offset)
  local remaining = diff / emission_interval

  if remaining < 1 then
    local reset_after = tat - now
    local retry_after = emission_interval - diff
    replies[i] = {0, 0, tostring(retry_after), tostring(reset_after)}
  else
    if remaining < cost then
      cost = remaining
      remaining = 0
    else
      remaining = remaining - cost
    end

    local increment = emission_interval * cost
    local new_tat = tat + increment

    local reset_after = new_tat - now
    if reset_after > 0 then
      redis.call("SET", rate_limit_key, new_tat, "EX", math.ceil(reset_after))
    end
    replies[i] = {cost, remaining, tostring(-1), tostring(reset_after)}
  end
end
return replies
