import type { Redis } from 'ioredis';

/**
 * The Lua scripts of `RedisMesh`, each one atomic on the server. They read
 * keys derived from values (node keys from ids), so they target a standalone
 * Redis (or a primary with replicas), not Redis Cluster.
 */
export const SCRIPTS = {
  /** KEYS[1] node key; ARGV channel, message. -1 when the node is not alive, else PUBLISH's count. */
  twPublishIfAlive: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('PUBLISH', ARGV[1], ARGV[2])`,
  },
  /** KEYS[1] node index set; ARGV[1] node key prefix. Node records; prunes ids whose record expired. */
  twListNodes: {
    numberOfKeys: 1,
    lua: `local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then out[#out + 1] = v else redis.call('SREM', KEYS[1], id) end
end
return out`,
  },
  /** KEYS[1] user key; ARGV[1] node key prefix. The location "<nodeId> <sid>" if its node is alive. */
  twLocateUser: {
    numberOfKeys: 1,
    lua: `local v = redis.call('GET', KEYS[1])
if not v then return false end
local sp = string.find(v, ' ', 1, true)
if not sp then return false end
if redis.call('EXISTS', ARGV[1] .. string.sub(v, 1, sp - 1)) == 0 then return false end
return v`,
  },
  /** KEYS[1] user key; ARGV[1] location. Deletes only if the key still holds that location. */
  twDeleteUser: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  /**
   * KEYS user keys; ARGV[1] ttl ms, ARGV[i + 1] the location for KEYS[i].
   * Extends keys holding our location, restores missing ones; returns the
   * 1-based indexes of keys holding another location.
   */
  twRefreshUsers: {
    lua: `local lost = {}
for i, key in ipairs(KEYS) do
  local want = ARGV[i + 1]
  local v = redis.call('GET', key)
  if not v then redis.call('SET', key, want, 'PX', ARGV[1])
  elseif v == want then redis.call('PEXPIRE', key, ARGV[1])
  else lost[#lost + 1] = i end
end
return lost`,
  },
  /**
   * KEYS[1] claim set; ARGV[1] ttl ms, ARGV[2..] members. 1 per member added
   * now, 0 per member already there; the set lives at least ttl ms more.
   */
  twClaim: {
    numberOfKeys: 1,
    lua: `local out = {}
for i = 2, #ARGV do out[#out + 1] = redis.call('SADD', KEYS[1], ARGV[i]) end
local ttl = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return out`,
  },
  /**
   * KEYS[1] ticket key, KEYS[2] the user's ticket key; ARGV[1] ticket record,
   * ARGV[2] ttl ms, ARGV[3] sid, ARGV[4] ticket key prefix. Stores the ticket
   * and deletes the user's previous ticket if it is still unused.
   */
  twIssueTicket: {
    numberOfKeys: 2,
    lua: `local old = redis.call('GET', KEYS[2])
if old and old ~= ARGV[3] then redis.call('DEL', ARGV[4] .. old) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1`,
  },
} as const;

/** The methods `defineCommand` adds for `SCRIPTS`. */
export interface ScriptCommands {
  twPublishIfAlive(nodeKey: string, channel: string, message: Buffer): Promise<number>;
  twListNodesBuffer(indexKey: string, nodeKeyPrefix: string): Promise<Buffer[]>;
  twLocateUser(userKey: string, nodeKeyPrefix: string): Promise<string | null>;
  twDeleteUser(userKey: string, location: string): Promise<number>;
  twRefreshUsers(numberOfKeys: number, ...keysThenArgs: string[]): Promise<number[]>;
  twClaim(claimKey: string, ttlMs: number, ...members: string[]): Promise<number[]>;
  twIssueTicket(
    ticketKey: string,
    userTicketKey: string,
    record: Buffer,
    ttlMs: number,
    sid: string,
    ticketKeyPrefix: string,
  ): Promise<number>;
}

export function defineScripts(client: Redis): Redis & ScriptCommands {
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition);
  return client as Redis & ScriptCommands;
}
