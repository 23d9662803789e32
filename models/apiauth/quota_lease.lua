-- keydesk's quota ledger in Redis: one hash per key and period with the
-- units settled as spent (used) and the units held by instances (reserved).
-- One call settles an instance's previous lease (ARGV[2] granted, ARGV[3]
-- spent of them) and takes up to ARGV[4] new units, never more than
-- quota (ARGV[1]) - used - reserved: used + reserved never exceeds the
-- quota. ARGV[5] is the hash's lifetime in seconds (past its period).
-- The reply is {granted, used, reserved}.
local quota = tonumber(ARGV[1])
local granted = tonumber(ARGV[2])
local spent = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local row = redis.call("HMGET", KEYS[1], "used", "reserved")
local used = tonumber(row[1] or "0") + spent
local reserved = math.max(0, tonumber(row[2] or "0") - granted)
local left = quota - used - reserved
local take = 0
if left > 0 then
  take = math.min(want, left)
end
reserved = reserved + take
redis.call("HSET", KEYS[1], "used", used, "reserved", reserved)
redis.call("EXPIRE", KEYS[1], tonumber(ARGV[5]))
return {take, used, reserved}
