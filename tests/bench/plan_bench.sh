#!/usr/bin/env bash
# Times gwctl apply and plan on a generated partner repository, against the embedded
# engine and against gatewayd over HTTP on loopback:
#   initial apply, a no-op plan, and a plan after changing one customer.
# The floor a no-op plan is compared with is `gwctl validate` (loading every manifest
# and CSV file) plus one state snapshot (see engine_bench).
# Usage: plan_bench.sh GWCTL GATEWAYD GENERATOR [CUSTOMERS] [USERS]
set -euo pipefail
gwctl=$1 gatewayd=$2 generator=$3 customers=${4:-5000} users=${5:-200000}
dir=$(mktemp -d)
gatewayd_pid=""
cleanup() { [ -n "$gatewayd_pid" ] && kill "$gatewayd_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
"$generator" "$dir/repo" --customers "$customers" --users "$users" >/dev/null
echo "repository: $customers customers, $users users"

timed() {  # timed LABEL EXPECTED_EXIT COMMAND...
  local label=$1 expected=$2
  shift 2
  local start end code
  start=$(date +%s.%N)
  set +e
  /usr/bin/time -f "%M" -o "$dir/rss" "$@" > "$dir/out" 2>&1
  code=$?
  set -e
  end=$(date +%s.%N)
  if [ "$code" != "$expected" ]; then echo "$label: exit $code (expected $expected)"; tail -5 "$dir/out"; exit 1; fi
  printf '%-34s %6.2f s   peak RSS %4d MiB   (%s)\n' "$label" "$(awk "BEGIN {print $end - $start}")" \
    $(( $(tail -1 "$dir/rss") / 1024 )) "$(grep -E '^(Plan|No changes|Applied|valid)' "$dir/out" | head -1)"
}

run() {  # run LABEL GATEWAY
  local label=$1 gateway=$2
  git -C "$dir/repo" checkout -q -- . 2>/dev/null || true
  timed "$label validate (floor, part 1)" 0 "$gwctl" validate "$dir/repo"
  timed "$label initial apply" 0 "$gwctl" apply "$dir/repo" --yes --gateway "$gateway"
  timed "$label no-op plan" 0 "$gwctl" plan "$dir/repo" --gateway "$gateway"
  sed -i 's/maxMessageSize: 50MiB/maxMessageSize: 49MiB/' "$dir/repo/customers/c00001.yaml"
  echo "newuser@c00001.example,New,User,mailbox," >> "$dir/repo/customers/c00001.users.csv"
  timed "$label plan, one customer changed" 2 "$gwctl" plan "$dir/repo" --gateway "$gateway"
  timed "$label apply, one customer changed" 0 "$gwctl" apply "$dir/repo" --yes --gateway "$gateway"
  sed -i 's/maxMessageSize: 49MiB/maxMessageSize: 50MiB/' "$dir/repo/customers/c00001.yaml"
  sed -i '/^newuser@/d' "$dir/repo/customers/c00001.users.csv"
}

run embedded "embedded:$dir/embedded.db"

token=bench-operator-token
{ echo "tokens:"; echo "$token" | "$gatewayd" hash-token --name bench; } > "$dir/tokens.yaml"
"$gatewayd" --data "$dir/gatewayd" --listen 127.0.0.1:0 --tokens "$dir/tokens.yaml" 2> "$dir/gatewayd.log" &
gatewayd_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$dir/gatewayd.log" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$dir/gatewayd.log" | head -1)
export GWCTL_TOKEN=$token
run http "$url"
