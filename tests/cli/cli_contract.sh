#!/usr/bin/env bash
# The command-line contract of gwctl validate and gwctl schema: exit codes, output
# formats, colour rules and help. Usage: cli_contract.sh GWCTL SOURCE_DIR
set -uo pipefail
gwctl=$1
src=$2
failures=0
check() {  # check NAME EXPECTED_EXIT COMMAND... ; output in $out
  local name=$1 expected=$2
  shift 2
  out=$("$@" 2>&1)
  local code=$?
  if [ "$code" != "$expected" ]; then
    echo "FAIL $name: exit $code, expected $expected"; echo "$out" | head -20; failures=$((failures + 1))
  fi
}
contains() {  # contains NAME TEXT
  if ! grep -qF -- "$2" <<<"$out"; then echo "FAIL $1: output lacks '$2'"; echo "$out" | head -20; failures=$((failures + 1)); fi
}

check valid-examples 0 "$gwctl" validate "$src/examples"
contains valid-summary "valid: 0 errors, 0 warnings"

check invalid 1 "$gwctl" validate "$src/examples/invalid/03-domains"
contains display-root "$src/examples/invalid/03-domains/customers/globex.yaml:8:14: error:"

check missing-dir 4 "$gwctl" validate /nonexistent/repository
contains missing-dir-message "cannot open /nonexistent/repository"

check not-a-dir 4 "$gwctl" validate "$src/README.md"
check bad-usage 4 "$gwctl" validate --format yaml "$src/examples"
check no-command 4 "$gwctl"

check json 1 "$gwctl" validate --format json "$src/examples/invalid/05-outbound-relay"
contains json-version '"format_version": 1'
contains json-valid '"valid": false'
contains json-rule '"rule": "relay-source-conflict"'

check github 1 "$gwctl" validate --format github "$src/examples/invalid/09-lists"
contains github-error "::error file=$src/examples/invalid/09-lists/customers/acme.yaml,line=16,col=9,title=gwctl list-conflict::partner.example is on both"
contains github-warning "::warning file="

# Colour only on a terminal and never with NO_COLOR; output to a pipe has none.
check no-color-pipe 1 "$gwctl" validate "$src/examples/invalid/03-domains"
if grep -q $'\033' <<<"$out"; then echo "FAIL colour escape codes in piped output"; failures=$((failures + 1)); fi
if command -v script >/dev/null; then
  out=$(script -qec "$gwctl validate $src/examples/invalid/03-domains" /dev/null)
  grep -q $'\033\[1;31merror' <<<"$out" || { echo "FAIL no colour on a terminal"; failures=$((failures + 1)); }
  out=$(NO_COLOR=1 script -qec "$gwctl validate $src/examples/invalid/03-domains" /dev/null)
  grep -q $'\033' <<<"$out" && { echo "FAIL colour despite NO_COLOR"; failures=$((failures + 1)); }
fi

check help 0 "$gwctl" validate --help
contains help-exit-codes "Exit codes: 0 valid"
check version 0 "$gwctl" --version

check schema-list 0 "$gwctl" schema
contains schema-list-customer "customer.schema.json"
check schema-print 0 "$gwctl" schema customer
contains schema-print-title '"title": "gwctl Customer"'
check schema-unknown 4 "$gwctl" schema tenant
tmp=$(mktemp -d)
check schema-out 0 "$gwctl" schema --out "$tmp/schemas"
for f in common customer manifest partner-defaults repository; do
  cmp -s "$tmp/schemas/$f.schema.json" "$src/schemas/$f.schema.json" || { echo "FAIL schema --out $f differs"; failures=$((failures + 1)); }
done
rm -rf "$tmp"

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "cli contract: all checks passed"
