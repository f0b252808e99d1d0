#!/usr/bin/env bash
# Times `gwctl validate` on a generated partner repository and reports wall time and
# peak memory. Usage: validate_bench.sh GWCTL GENERATOR [CUSTOMERS] [USERS] [RUNS]
set -euo pipefail
gwctl=$1 generator=$2 customers=${3:-5000} users=${4:-200000} runs=${5:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$generator" "$dir/repo" --customers "$customers" --users "$users"
echo "files: $(find "$dir/repo" -type f | wc -l), size: $(du -sh "$dir/repo" | cut -f1)"
for run in $(seq "$runs"); do
  /usr/bin/time -f "%e %M" -o "$dir/time" "$gwctl" validate "$dir/repo" > "$dir/out" || { cat "$dir/out"; exit 1; }
  read -r seconds kib < "$dir/time"
  echo "validate run $run: ${seconds} s, peak RSS $((kib / 1024)) MiB ($(tail -1 "$dir/out"))"
done
