# Sourced by test and benchmark scripts: a throwaway redis-server on 127.0.0.1.
#
#   . scripts/lib/redis.sh
#   start_redis "$TMP" || exit 1      # sets REDIS_PORT, REDIS_PID, REDIS_URL (redis://127.0.0.1:PORT)
#   ...
#   stop_redis                        # kill -9; also safe to call from an EXIT trap
#
# Ports are drawn from 20000-32767, below Linux's default ephemeral range (32768-60999), so a
# port handed out by bind(0) elsewhere (PostgreSQL in bench/planner.sh, servers on port 0) cannot
# collide with it. A port that already has a listener is skipped; a server that exits (port taken
# between the check and its bind) or does not answer PING within 10 s is killed and the next port
# tried. After 10 failed ports start_redis prints the server's log to stderr and returns 1, so a
# caller never runs against a Redis that is not there.

REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
REDIS_PORT="" REDIS_PID="" REDIS_URL=""

# redis_available: true when a redis-server binary is installed.
redis_available() { [ -x "$REDIS_SERVER" ]; }

# port_listening PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_redis DIR: starts the server (log in DIR/redis.log); see the file comment.
start_redis() {
  local dir=$1 attempt i
  for attempt in $(seq 10); do
    REDIS_PORT=$((20000 + RANDOM % 12768))
    port_listening "$REDIS_PORT" && continue
    "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
      --maxmemory-policy volatile-lru --dir "$dir" > "$dir/redis.log" 2>&1 &
    REDIS_PID=$!
    for i in $(seq 200); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      if [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
        REDIS_URL=redis://127.0.0.1:$REDIS_PORT
        return 0
      fi
      sleep 0.05
    done
    stop_redis
  done
  echo "start_redis: no redis-server answered on 127.0.0.1 after $attempt ports; last log:" >&2
  cat "$dir/redis.log" >&2
  return 1
}

# stop_redis: kills the server started by start_redis, if any; always returns 0.
stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill -9 "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true  # 137 (killed) must not trip a caller's set -e
  fi
  REDIS_PID=""
  return 0
}
