#!/usr/bin/env bash
# Rendezvous in a NAT lab with real browsers: builds network namespaces with home routers of
# every NAT kind (lab.sh), runs `rendezvous serve` on the lab's public segment, puts a headless
# Chromium inside each home, and proves which path (direct or relay, and over which transport)
# each combination of networks takes. The observed paths go into docs/nat-matrix.md.
#
#   tests/netlab/run.sh              # every test file; rewrites the browser rows of docs/nat-matrix.md
#   tests/netlab/run.sh paths loss   # only paths.test.mjs and loss.test.mjs; prints their rows
#
# Needs root (namespaces, iptables). RENDEZVOUS_BIN: the server binary (default
# target/debug/rendezvous, relative to the repo root). CHROMIUM: the browser (default
# /usr/bin/chromium). On failure, logs and screenshots go to tests/netlab/artifacts/.
# Every namespace, process and rule the run creates is removed on exit, also on failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${RENDEZVOUS_BIN:-target/debug/rendezvous}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
# The whole run, browsers included, stays within this many seconds.
budget="${NETLAB_BUDGET:-270}"

die() {
  echo "netlab: $*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces and iptables); run it as root"
for tool in ip iptables openssl node npm timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y iproute2 iptables openssl nodejs npm coreutils)"
done
[[ -x "$bin" ]] || die "server binary $bin not found; build it with: cargo build -p rendezvous"
[[ -x "$chromium_bin" ]] || die "$chromium_bin not found; install it with: apt-get install -y chromium"

# playwright-core for our tests, and for the e2e helpers we import.
for dir in "$here" "$root/tests/e2e"; do
  if [[ ! -d "$dir/node_modules/playwright-core" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

if [[ $# -gt 0 ]]; then
  files=()
  for name in "$@"; do files+=("${name%.test.mjs}.test.mjs"); done
else
  # paths first: its rows open the matrix.
  files=(paths.test.mjs)
  for f in "$here"/*.test.mjs; do
    [[ "${f##*/}" == paths.test.mjs ]] || files+=("${f##*/}")
  done
fi

# shellcheck source=tests/netlab/lab.sh
source "$here/lab.sh"
work="$(mktemp -d /tmp/rdv-netlab.XXXXXX)"
status=1
test_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [[ -n "$test_pid" ]]; then
    kill -TERM "$test_pid" 2>/dev/null || true
    wait "$test_pid" 2>/dev/null || true
  fi
  lab_teardown
  local left
  left="$(lab_leftovers)"
  if [[ -n "$left" ]]; then
    echo "netlab: namespaces left behind: $left" >&2
    status=1
  fi
  if ((status != 0)); then
    mkdir -p "$here/artifacts"
    cp "$work"/*.log "$here/artifacts/" 2>/dev/null || true
    echo "netlab: logs in $here/artifacts/" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "netlab: interrupted" >&2; exit 130' INT TERM

start=$SECONDS
tag="rdvnl$$"
lab_init "$tag"
# Homes: NAME[+NAME...]:KIND, one host per name (several names share one LAN). Two homes of each
# kind a call can cross, so that every pair of kinds can be called.
homes=(cone-a+cone-a2:cone cone-b:cone sym-a:symmetric sym-b:symmetric corp-a:corporate corp-b:corporate)
spec=()
n=0
for entry in "${homes[@]}"; do
  n=$((n + 1))
  kind="${entry#*:}"
  IFS=+ read -r -a names <<<"${entry%%:*}"
  lab_home "$n" "$kind" "${#names[@]}"
  for i in "${!names[@]}"; do
    host="${tag}h$n"
    ((i == 0)) || host="${tag}h${n}x$i"
    spec+=("${names[i]}:$kind:$host:${tag}r$n")
  done
done
echo "=== lab $tag: ${#LAB_NAMESPACES[@]} namespaces in $((SECONDS - start)) s"

srv="${tag}srv"
secret="$(openssl rand -hex 16)"
# TURN over TLS on 443 for the corporate network, with a self-signed certificate for the
# server's address; the browsers are told to trust exactly that key (see lib/netlab.mjs).
lab_spawn "$srv" "$work/server.log" "$bin" serve \
  --bind "$LAB_SERVER_IP" --alt-ip "$LAB_SERVER_ALT_IP" --http "$LAB_SERVER_IP:8080" \
  --allow-peer 203.0.113.0/24 --static-auth-secret "$secret" --realm rendezvous-netlab \
  --tls-port 443 --self-signed --public-host "$LAB_SERVER_IP" --https "$LAB_SERVER_IP:8443" \
  --log-format json --log-addresses
server_pid=$LAB_LAST_PID

ready=0
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  kill -0 "$server_pid" 2>/dev/null || die "rendezvous serve exited: $(tail -5 "$work/server.log")"
  if ip netns exec "$srv" node -e "fetch(process.argv[1], {signal: AbortSignal.timeout(2000)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "http://$LAB_SERVER_IP:8080/healthz" &&
    ip netns exec "$srv" timeout 5 openssl s_client -connect "$LAB_SERVER_IP:443" </dev/null 2>/dev/null |
    openssl x509 -out "$work/server-cert.pem" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
((ready)) || die "rendezvous serve did not answer on :8080 and :443: $(tail -5 "$work/server.log")"
spki="$(openssl x509 -in "$work/server-cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)"
echo "=== rendezvous serve (pid $server_pid) ready in $((SECONDS - start)) s; turns: key sha256/$spki"

export NETLAB_SERVER_IP="$LAB_SERVER_IP"
export NETLAB_HOMES
NETLAB_HOMES="$(IFS=,; echo "${spec[*]}")"
export NETLAB_WORK="$work"
export NETLAB_RESULTS="$work/results.jsonl"
export NETLAB_SPKI="$spki"
export NETLAB_SERVER_LOG="$work/server.log"
export CHROMIUM="$chromium_bin"
: >"$NETLAB_RESULTS"

cd "$here"
failed=()
for file in "${files[@]}"; do
  left=$((budget - (SECONDS - start)))
  if ((left <= 0)); then
    echo "netlab: out of time before $file" >&2
    failed+=("$file")
    continue
  fi
  echo "=== $file"
  # In the background, so that a signal to this script is handled at once (see cleanup).
  timeout --kill-after=10 "$left" node --test --test-reporter=spec "$file" &
  test_pid=$!
  if ! wait "$test_pid"; then
    failed+=("$file")
  fi
  test_pid=""
done

# A full run rewrites the browser rows of docs/nat-matrix.md; a partial one only prints its rows.
if [[ -s "$NETLAB_RESULTS" ]]; then
  doc="$root/docs/nat-matrix.md"
  [[ $# -eq 0 ]] || doc=-
  node matrix.mjs "$NETLAB_RESULTS" "$doc" "$("$chromium_bin" --version 2>/dev/null | awk '{print $1, $2}')"
fi
echo "=== netlab: ${#files[@]} file(s) in $((SECONDS - start)) s; ${#failed[@]} failed${failed:+: ${failed[*]}}"
if [[ ${#failed[@]} -eq 0 ]]; then status=0; fi
