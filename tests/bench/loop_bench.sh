#!/usr/bin/env bash
# The reconcile loop with a large repository: `gwctl run` against an embedded store.
# Reports the first pass, the time from a signed webhook to the change being applied,
# and the loop's CPU and memory while idle (polling every --interval, nothing to do).
# Usage: loop_bench.sh GWCTL GENERATOR [CUSTOMERS] [USERS] [IDLE_SECONDS]
set -euo pipefail
gwctl=$1 generator=$2 customers=${3:-5000} users=${4:-200000} idle=${5:-60}
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
g() { GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -C "$dir/repo" -c user.name=bench -c user.email=b@example \
        -c init.defaultBranch=main "$@"; }
now() { date +%s.%N; }
since() { awk "BEGIN {printf \"%.2f\", $(now) - $1}"; }
"$generator" "$dir/repo" --customers "$customers" --users "$users" >/dev/null
g init -q && g add -A && g commit -qm base
secret=bench-secret
echo "$secret" > "$dir/secret"
start=$(now)
"$gwctl" run --repo "$dir/repo" --ref main --gateway "embedded:$dir/gateway.db" --listen 127.0.0.1:0 \
  --interval 10s --drift-interval 1h --webhook-secret-file "$dir/secret" 2> "$dir/log" &
pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
until curl -sf "$url/readyz" >/dev/null; do
  kill -0 "$pid" || { cat "$dir/log"; exit 1; }
  sleep 0.2
done
echo "repository: $customers customers, $users users; first pass (apply of everything): $(since "$start") s"

applied() {  # /metrics names the applied commit, and is small to ask for
  local metrics
  metrics=$(curl -s "$url/metrics")
  [[ "$metrics" == *"commit=\"$1\""* ]]
}
for run in 1 2 3; do
  sed -i "s/billableUsers: \([0-9]*\)/billableUsers: $((100 + run))/" "$dir/repo/customers/c00001.yaml"
  g commit -qam "bench $run"
  head=$(g rev-parse HEAD)
  body='{"ref":"refs/heads/main"}'
  signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | awk '{print $NF}')
  sent=$(now)
  curl -sf -X POST -H "X-Hub-Signature-256: sha256=$signature" -d "$body" "$url/hooks/git" >/dev/null
  until applied "$head"; do sleep 0.02; done
  echo "webhook to applied (one customer changed), run $run: $(since "$sent") s"
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
sleep 2
before=$(cpu)
sleep "$idle"
after=$(cpu)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v b="$before" -v a="$after" -v t="$ticks" -v s="$idle" \
  'BEGIN {printf "idle for %d s (polling every 10 s): CPU %.2f s = %.2f%% of one core\n", s, (a - b) / t, 100 * (a - b) / t / s}'
echo "memory: $((rss / 1024)) MiB resident now, $((peak / 1024)) MiB peak"
kill -TERM "$pid"
wait "$pid"
pid=""
