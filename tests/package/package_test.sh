#!/usr/bin/env bash
# The Debian package, built by cpack from this build and unpacked into a fresh directory
# root: its files, dependencies and maintainer scripts; its units verified and scored by
# systemd-analyze; and a mail admin's first step with the unpacked programs (the example
# gatewayd.yaml, pointed into a scratch directory, through `gatewayd setup` and a
# gatewayd serving from it). Usage: package_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1
src=$2
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
work=$(mktemp -d /tmp/gw-package-XXXXXX)
chmod 755 "$work"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT

if ! (cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1); then
  cat "$work/cpack.log"; echo "FAIL cpack"; exit 1
fi
deb=$(ls "$work"/pkg/gwctl_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "FAIL no package in $work/pkg"; ls "$work/pkg"; exit 1; }
echo "package: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"

info=$(dpkg-deb -I "$deb")
depends=$(grep '^ Depends:' <<<"$info")
for wanted in postfix adduser libgit2 libyaml-cpp libpq libmilter libgmime; do
  grep -q "$wanted" <<<"$depends" || fail "Depends lacks $wanted: $depends"
done
grep -q '^ Recommends:.*rspamd.*clamav-daemon' <<<"$info" || fail "Recommends rspamd, clamav-daemon"

root=$work/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/gatewayd usr/bin/gw-milter usr/bin/gwctl \
         usr/lib/systemd/system/gatewayd.service usr/lib/systemd/system/gw-milter.service \
         usr/lib/systemd/system/gateway-postfix.service usr/lib/systemd/system/gateway-dovecot.service \
         usr/lib/systemd/system/gwctl-run.service usr/share/gwctl/gatewayd.yaml \
         usr/share/gwctl/schemas/gatewayd.schema.json usr/share/gwctl/schemas/customer.schema.json \
         usr/share/doc/gwctl/README.md; do
  [ -e "$root/$f" ] || fail "the package lacks /$f"
done
"$root/usr/bin/gwctl" validate "$src/examples" >/dev/null || fail "the packaged gwctl validates examples/"
"$root/usr/bin/gatewayd" --help | grep -q -- "--config" || fail "gatewayd --help names --config"

dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "$script is not in the package, executable"
  sh -n "$work/control/$script" || fail "$script does not parse"
done

# The units, with the packaged programs' paths, as systemd reads them.
mkdir "$work/units"
for unit in "$root"/usr/lib/systemd/system/*.service; do
  sed "s|/usr/bin/|$root/usr/bin/|g" "$unit" >"$work/units/$(basename "$unit")"
done
if command -v systemd-analyze >/dev/null; then
  if ! verify=$(cd "$work/units" && systemd-analyze verify ./*.service 2>&1); then
    fail "systemd-analyze verify: $verify"
  elif [ -n "$verify" ]; then
    fail "systemd-analyze verify warns: $verify"
  fi
  # Exposure (0 best, 10 worst); the ceilings are what the units reach today.
  for limit in gatewayd:2.0 gw-milter:2.0 gwctl-run:2.0 gateway-postfix:5.0 gateway-dovecot:5.5; do
    unit=${limit%%:*} ceiling=${limit#*:}
    score=$(systemd-analyze security --offline=true "$work/units/$unit.service" 2>/dev/null |
              sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "exposure $unit: ${score:-none} (ceiling $ceiling)"
    awk -v s="${score:-99}" -v c="$ceiling" 'BEGIN { exit !(s <= c) }' ||
      fail "$unit.service exposure ${score:-none} above $ceiling"
  done
else
  echo "SKIPPED: systemd-analyze is not installed (units not verified)"
fi

# A mail admin's first step: the example configuration (pointed into a scratch directory
# and at free ports) through setup, then gatewayd serving from it.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
conf=$work/etc/gatewayd.yaml
mkdir -p "$work/etc"
sed -e "s|^dataDirectory: .*|dataDirectory: $work/data|" \
    -e "s|^instanceDirectory: .*|instanceDirectory: $work/mail|" \
    -e "s|tokens: /etc/gatewayd/|tokens: $work/etc/|" \
    -e "s|tokenFile: /etc/gatewayd/|tokenFile: $work/etc/|" \
    -e "s|listen: 127.0.0.1:8025|listen: 127.0.0.1:$(free_port)|" \
    -e "s|inbound: 0.0.0.0:25 |inbound: 127.0.0.1:$(free_port) |" \
    -e "s|relay: 0.0.0.0:587 |relay: 127.0.0.1:$(free_port) |" \
    "$root/usr/share/gwctl/gatewayd.yaml" >"$conf"
printf 'mail:\n  internal: {socketmap: 127.0.0.1:%s, policy: 127.0.0.1:%s, verify: 127.0.0.1:%s}\n' \
  "$(free_port)" "$(free_port)" "$(free_port)" >"$work/internal.yaml"
python3 - "$conf" "$work/internal.yaml" <<'PY'
import sys
path, extra = sys.argv[1], open(sys.argv[2]).read().split("\n", 2)[1]
text = open(path).read().replace("  messageSizeLimit: 52428800\n", "  messageSizeLimit: 52428800\n" + extra + "\n")
open(path, "w").write(text)
PY
if ! out=$("$root/usr/bin/gatewayd" setup --config "$conf" 2>&1); then
  fail "gatewayd setup on the example configuration: $out"
else
  grep -q "new      $work/mail/postfix/etc/main.cf" <<<"$out" || fail "setup did not write main.cf: $out"
  [ -s "$work/etc/filter-token" ] || fail "setup made no filter token"
  "$root/usr/bin/gatewayd" --config "$conf" 2>"$work/gatewayd.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/gatewayd.log" && break; sleep 0.1; done
  grep -q "listening on" "$work/gatewayd.log" || fail "gatewayd did not serve from $conf: $(cat "$work/gatewayd.log")"
fi

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "package: all checks passed"
