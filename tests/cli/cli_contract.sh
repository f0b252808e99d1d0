#!/usr/bin/env bash
# The command-line contract of gwctl: exit codes, output formats, colour rules and help. Usage: cli_contract.sh GWCTL SOURCE_DIR
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

# trace: the gateway's own decision, offline, with the line that decides it.
check trace-refused 2 "$gwctl" trace --from x@spam.example --to alice@acme.example "$src/examples"
contains trace-reply "reply:  550 5.7.1 sender is blocked by acme.example"
contains trace-where "set at: $src/examples/customers/acme.yaml:50:9 (/spec/lists/block/0)"
check trace-accepted 0 "$gwctl" trace --from x@example.org --to a.smith@acme.example "$src/examples"
contains trace-route "route:  smtp-verify:[mail.acme.example]:25, [203.0.113.10]:25"
contains trace-tls "tls:    [mail.acme.example]:25 verify match=mail.acme.example; [203.0.113.10]:25 verify match=mail.acme.example"
check trace-relay-cleartext 2 "$gwctl" trace --from it@acme.example --to x@else.example --client 203.0.113.10 --client-tls false "$src/examples"
contains trace-relay-tls-rule "[relay-tls-required]"
check trace-json 2 "$gwctl" trace --format json --from it@acme.example --to x@else.example --client 192.0.2.1 "$src/examples"
contains trace-json-rule '"rule": "relay-source"'
check trace-invalid 1 "$gwctl" trace --from a@b.example --to c@d.example "$src/examples/invalid/03-domains"
check trace-usage 4 "$gwctl" trace --to c@d.example "$src/examples"

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

# plan and apply on a copy of the examples, against an embedded store of the test's own.
work=$(mktemp -d)
cp -r "$src/examples" "$work/repo"
rm -rf "$work/repo/invalid" "$work/repo/gatewayd"
gw="embedded:$work/gateway.db"
export GWCTL_SECRET_ACME_PANEL_PASSWORD=contract-test-secret

check plan-missing-secret 4 env -u GWCTL_SECRET_ACME_PANEL_PASSWORD "$gwctl" plan "$work/repo" --gateway "$gw"
contains plan-missing-secret-where "$work/repo/customers/acme.yaml:14:18: secret env:GWCTL_SECRET_ACME_PANEL_PASSWORD"
check plan-changes 2 "$gwctl" plan "$work/repo" --gateway "$gw"
contains plan-summary "Plan: 9 to create, 0 to update, 0 to delete; users +18 ~0 -0."
check plan-json 2 "$gwctl" plan --format json "$work/repo" --gateway "$gw"
contains plan-json-version '"format_version": 1'
check plan-markdown 2 "$gwctl" plan --format markdown "$work/repo" --gateway "$gw"
contains plan-markdown-heading '### gwctl plan for `northwind-msp`'
check apply 0 "$gwctl" apply "$work/repo" --gateway "$gw" --yes
contains apply-converged "Converged: the gateway matches the repository."
check plan-clean 0 "$gwctl" plan "$work/repo" --gateway "$gw"
contains plan-clean-text "No changes."
if grep -rq "contract-test-secret" "$work"/gateway.db*; then echo "FAIL the secret is in the store"; failures=$((failures + 1)); fi

# Untrusted without a base: no directory source is contacted and no secret read.
check plan-untrusted 2 "$gwctl" plan "$work/repo" --gateway "$gw" --untrusted
contains plan-untrusted-ldap "ldap source ldaps://dc1.globex.example:636 was not read"
contains plan-untrusted-secret "panelLogin.passwordRef env:GWCTL_SECRET_ACME_PANEL_PASSWORD is new in this revision"
check plan-trust-contradiction 4 "$gwctl" plan "$work/repo" --gateway "$gw" --untrusted --trusted
GWCTL_SECRET_ENV_PREFIX= check plan-empty-secret-prefix 4 "$gwctl" plan "$work/repo" --gateway "$gw"
contains plan-empty-secret-prefix-message "GWCTL_SECRET_ENV_PREFIX is empty"

# A field change shows where it came from; the secret shows only that it changed.
sed -i 's/maxMessageSize: 50MiB/maxMessageSize: 40MiB/' "$work/repo/customers/acme.yaml"
GWCTL_SECRET_ACME_PANEL_PASSWORD=rotated check plan-field 2 "$gwctl" plan "$work/repo" --gateway "$gw"
contains plan-field-line "~ filtering.contentFilter.maxMessageSize: 50MiB -> 40MiB   ($work/repo/customers/acme.yaml:43)"
contains plan-secret-line "~ panelLogin.password: (secret changed)"
if grep -q rotated <<<"$out"; then echo "FAIL the secret value is in the plan"; failures=$((failures + 1)); fi

# Saved plans: applied exactly once; refused when the gateway moved or the file was edited.
check plan-out 2 "$gwctl" plan "$work/repo" --gateway "$gw" --out "$work/plan.json"
sed 's/40MiB/30MiB/' "$work/plan.json" > "$work/edited.json"
check apply-edited-plan 4 "$gwctl" apply --plan "$work/edited.json" "$work/repo"
contains apply-edited-plan-message "checksum does not match"
check apply-saved-plan 0 "$gwctl" apply --plan "$work/plan.json" "$work/repo"
check apply-stale-plan 3 "$gwctl" apply --plan "$work/plan.json" "$work/repo"
contains apply-stale-plan-message "the gateway changed since the plan was made"

# Deleting a customer whose mail a MailTest expects to flow is invalid (exit 1).
rm "$work/repo/customers/hooli.yaml"
check validate-mail-test 1 "$gwctl" validate "$work/repo"
contains validate-mail-test-message "to <gavin@hooli.example> would be refused"
rm -r "$work/repo/tests"

# Safety: deleting a protected customer is refused (exit 3) and applies nothing.
check apply-refused 3 "$gwctl" apply "$work/repo" --gateway "$gw" --yes
contains apply-refused-message "customers are protected"
check apply-forced 0 "$gwctl" apply "$work/repo" --gateway "$gw" --yes --force

# Invalid manifests stop plan before the gateway; an unreachable gateway is exit 4.
check plan-invalid 1 "$gwctl" plan "$src/examples/invalid/03-domains" --gateway "$gw"
GWCTL_TOKEN=x check plan-unreachable 4 "$gwctl" plan "$work/repo" --gateway http://127.0.0.1:9
contains plan-unreachable-message "cannot reach gateway at http://127.0.0.1:9"
check apply-help 0 "$gwctl" apply --help
contains apply-help-plan "--plan"

# gwctl run refuses what it cannot use before it starts anything.
# gwctl export needs a target and a choice of customers.
check export-help 0 "$gwctl" export --help
contains export-help-adopt "apply --adopt"
check export-no-out 4 "$gwctl" export --all
check export-no-choice 4 "$gwctl" export --out "$work/exported" --partner p --gateway "$gw"
contains export-no-choice-message "name customers with --customer NAME, or export them all with --all"
check export-no-partner 4 "$gwctl" export --out "$work/nowhere" --all --gateway "$gw"
contains export-no-partner-message "which partner?"

check run-help 0 "$gwctl" run --help
contains run-help-drift "--drift-interval"
contains run-help-signals "SIGHUP re-reads"
check run-bad-interval 4 "$gwctl" run "$work/repo" --interval soon
contains run-bad-interval-message "'soon' is not a duration such as 500ms, 30s, 5m or 1h"
check run-bad-listen 4 "$gwctl" run "$work/repo" --listen nowhere
contains run-bad-listen-message "--listen nowhere: expected HOST:PORT"
check run-bad-drift 4 "$gwctl" run "$work/repo" --drift fix
check run-since 4 "$gwctl" run "$work/repo" --since HEAD~1
contains run-since-message "--since is for a pull request's plan"
check run-missing-secret-file 4 "$gwctl" run "$work/repo" --webhook-secret-file /nonexistent/secret
contains run-missing-secret-file-message "cannot read the webhook secret file /nonexistent/secret"
rm -rf "$work"

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "cli contract: all checks passed"
