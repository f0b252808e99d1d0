#!/usr/bin/env bash
# Times a pull request's plan (--since, one customer changed) against a full plan, both
# read from git, on a generated repository committed to a local git repository; then
# what an untrusted plan pays for reading its base (against the same plan --trusted),
# with one customer changed and with gwctl.yaml changed (every file read at both ends).
# Usage: since_bench.sh GWCTL GENERATOR [CUSTOMERS] [USERS]
set -euo pipefail
gwctl=$1 generator=$2 customers=${3:-5000} users=${4:-200000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
g() { GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -C "$dir/repo" -c user.name=bench -c user.email=b@example \
        -c init.defaultBranch=main "$@"; }
"$generator" "$dir/repo" --customers "$customers" --users "$users" >/dev/null
g init -q && g add -A && g commit -qm base
gateway="embedded:$dir/gateway.db"
"$gwctl" apply --repo "$dir/repo" --yes --gateway "$gateway" >/dev/null 2>&1
sed -i 's/maxMessageSize: 50MiB/maxMessageSize: 49MiB/' "$dir/repo/customers/c00001.yaml"
g commit -qam "one customer"
timed() {
  local label=$1
  shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$dir/out" 2>&1 || [ $? -eq 2 ]
  end=$(date +%s.%N)
  printf '%-32s %6.2f s   (%s)\n' "$label" "$(awk "BEGIN {print $end - $start}")" "$(grep '^Plan' "$dir/out")"
}
echo "repository: $customers customers, $users users, in git"
for run in 1 2; do
  timed "full plan from git" "$gwctl" plan --repo "$dir/repo" --ref main --gateway "$gateway"
  timed "plan --since HEAD~1" "$gwctl" plan --repo "$dir/repo" --ref main --since HEAD~1 --gateway "$gateway"
  timed "plan --since HEAD~1 --trusted" "$gwctl" plan --repo "$dir/repo" --ref main --since HEAD~1 --trusted --gateway "$gateway"
done
echo "# gwctl.yaml" >> "$dir/repo/gwctl.yaml"
g commit -qam "gwctl.yaml"
for run in 1 2; do
  timed "gwctl.yaml changed: untrusted" "$gwctl" plan --repo "$dir/repo" --ref main --since HEAD~1 --gateway "$gateway"
  timed "gwctl.yaml changed: --trusted" "$gwctl" plan --repo "$dir/repo" --ref main --since HEAD~1 --trusted --gateway "$gateway"
done
