#!/usr/bin/env bash
# The incuhub demo network, on one machine, ending by itself:
#   a hub with CURVE on every socket and the bureau's key pinned; the sites
#   registered by bureau-signed registry changes; three agents (the Shinan district office, a Laoshan incubator and
#   an offshore base in Singapore) each fed plausible events for a few
#   seconds through `incuhub publish`; `incuhub tail` printing the live
#   city-wide feed; then the agents drain, everything stops cleanly and
#   `incuhub audit` verifies every signature and chain and prints the
#   summary with the plan's indicators.
# Installs missing packages and builds first. DEMO_SECONDS sets the length.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/deps.sh"
bash "$root/tools/build.sh" >/dev/null
bin="$root/build"
incuhub="$bin/cli/incuhub"
seconds=${DEMO_SECONDS:-6}
run=$(mktemp -d /tmp/incuhub-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Waits (with a deadline) until FILE has a line starting with PREFIX.
wait_line() {
  local file=$1 prefix=$2 i
  for i in $(seq 200); do
    grep -q "^$prefix" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "demo: timed out waiting for '$prefix' in $file" >&2
  cat "${file%.out}.err" >&2 2>/dev/null || true
  exit 1
}

sites=(shinan-district laoshan-inc-01 sg-offshore-01)
kinds=(district incubator offshore)
districts=(shinan laoshan laoshan)
cfgs=(agent-district agent-incubator agent-offshore)
echo "== keys and the bureau's registry journal in $run"
mkdir -p "$run/keys"
keys="$run/keys"
# The bureau's key is pinned in the hub's configuration; every site is a
# registry change the bureau signs. The hub's key encrypts and
# authenticates its sockets (CURVE) and signs its checkpoints.
"$incuhub" keygen qd-bureau --dir "$keys" >/dev/null
"$incuhub" keygen hub --dir "$keys" >/dev/null
sites+=(city-auditor); kinds+=(auditor); districts+=(city)
for i in 0 1 2 3; do
  "$incuhub" keygen "${sites[$i]}" --dir "$keys" >/dev/null
  "$incuhub" site add --key "$keys/qd-bureau.key" \
    --registry "$run/bureau.journal" --site "${sites[$i]}" \
    --kind "${kinds[$i]}" --district "${districts[$i]}" \
    --site-key "$keys/${sites[$i]}.pub"
done
# Client options: the hub's public key, and our own site's key.
as_district=(--hub-key "$keys/hub.pub" --key "$keys/shinan-district.key")
as_auditor=(--hub-key "$keys/hub.pub" --key "$keys/city-auditor.key")

echo "== hub"
"$bin/hub/incuhubd" -c "$root/config/hub.cfg" --data "$run/data" \
  --bureau-key "$keys/qd-bureau.pub" --registry "$run/bureau.journal" \
  --ingest "ipc://$run/ingest.sock" \
  --pub "ipc://$run/pub.sock" --replay "ipc://$run/replay.sock" \
  --key "$keys/hub.key" --checkpoint-events 20 \
  >"$run/hub.out" 2>"$run/hub.err" &
pids+=($!); hub_pid=$!
wait_line "$run/hub.out" "incuhubd: ready"
cat "$run/hub.out"

echo "== agents"
for i in 0 1 2; do
  "$bin/agents/incuhub-agent" -c "$root/config/${cfgs[$i]}.cfg" \
    --key "$keys/${sites[$i]}.key" --hub "ipc://$run/ingest.sock" \
    --hub-key "$keys/hub.pub" \
    --outbox "$run/outbox-$i" --listen "ipc://$run/agent-$i.sock" \
    >"$run/agent-$i.out" 2>"$run/agent-$i.err" &
  pids+=($!)
  wait_line "$run/agent-$i.out" "incuhub-agent: ready"
  cat "$run/agent-$i.out"
done

echo "== live city-wide feed (incuhub tail, gapless: replay from 1, then live)"
"$incuhub" tail --hub "ipc://$run/pub.sock" --replay "ipc://$run/replay.sock" \
  "${as_district[@]}" --from 1 --timeout 3000 >"$run/feed.jsonl" &
tail_pid=$!
pids+=($tail_pid)
# Print the feed as it arrives.
tail -n +1 -f "$run/feed.jsonl" --pid="$tail_pid" &
pids+=($!)

industries=(smart-home healthcare electric-vehicles new-materials marine-tech)
rounds=(angel seed pre-a series-a)
countries=(singapore germany israel finland korea)
# Prints one plausible JSON event line for site kind $1, number $2.
event_for() {
  local kind=$1 n=$2 r=$RANDOM
  local ent="ent-$(( (r % 90) + 10 ))-$n"
  case $kind in
  district)
    case $(( r % 3 )) in
    0) echo "{\"type\":\"training.held\",\"data\":{\"title\":\"investor training $n\",\"audience\":\"investors\",\"participants\":$(( r % 40 + 10 ))}}" ;;
    1) echo "{\"type\":\"qianfan.event_held\",\"data\":{\"name\":\"Qianfan camp $n\",\"kind\":\"training-camp\"}}" ;;
    2) echo "{\"type\":\"mentor.joined\",\"data\":{\"mentor\":\"mentor-$n\",\"field\":\"law\"}}" ;;
    esac ;;
  incubator)
    case $(( r % 4 )) in
    0) echo "{\"type\":\"enterprise.admitted\",\"data\":{\"enterprise\":\"$ent\",\"industry\":\"${industries[$(( r % 5 ))]}\"}}" ;;
    1) echo "{\"type\":\"enterprise.high_tech_certified\",\"data\":{\"enterprise\":\"$ent\"}}" ;;
    2) echo "{\"type\":\"financing.round_closed\",\"data\":{\"enterprise\":\"$ent\",\"round\":\"${rounds[$(( r % 4 ))]}\",\"amount_cny\":$(( (r % 50 + 1) * 100000 ))}}" ;;
    3) echo "{\"type\":\"enterprise.tech_sme_registered\",\"data\":{\"enterprise\":\"$ent\"}}" ;;
    esac ;;
  offshore)
    case $(( r % 2 )) in
    0) echo "{\"type\":\"offshore.project_introduced\",\"data\":{\"project\":\"proj-$n\",\"country\":\"${countries[$(( r % 5 ))]}\"}}" ;;
    1) echo "{\"type\":\"enterprise.overseas_market\",\"data\":{\"enterprise\":\"$ent\",\"market\":\"${countries[$(( r % 5 ))]}\"}}" ;;
    esac ;;
  esac
}

echo "== publishing for ${seconds}s"
end=$(( $(date +%s) + seconds ))
publishers=()
for i in 0 1 2; do
  (
    n=0
    while [ "$(date +%s)" -lt "$end" ]; do
      n=$((n + 1))
      event_for "${kinds[$i]}" "$n"
      sleep 0.2
    done | "$incuhub" publish --agent "ipc://$run/agent-$i.sock" >"$run/publish-$i.out"
  ) &
  publishers+=($!)
done
for p in "${publishers[@]}"; do wait "$p"; done

echo "== draining agents"
for i in 0 1 2; do
  for t in $(seq 200); do
    "$incuhub" status --agent "ipc://$run/agent-$i.sock" | grep -Eq '"backlog": *0[,} ]' && break
    sleep 0.05
  done
  "$incuhub" status --agent "ipc://$run/agent-$i.sock"
done
echo "== hub status"
"$incuhub" status --hub "ipc://$run/ingest.sock" "${as_district[@]}"
wait "$tail_pid" || true

echo "== an auditor's proof that event 7 is in the signed log, checked offline"
"$incuhub" prove --hub "ipc://$run/replay.sock" "${as_auditor[@]}" --seq 7 \
  >"$run/proof-7.json"
"$incuhub" verify-proof --hub-key "$keys/hub.pub" "$run/proof-7.json"

echo "== stopping"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

echo "== audit (signatures, chains, Merkle tree, signed checkpoints)"
"$incuhub" audit --data "$run/data" --bureau-key "$keys/qd-bureau.pub" \
  --hub-key "$keys/hub.pub"
echo "== demo done: $(wc -l <"$run/feed.jsonl") events seen live; files in $run"
