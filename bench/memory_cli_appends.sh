#!/usr/bin/env bash
# N real `engram memory add` calls, one process each (what a shell script or a cron job does),
# into a fresh --data-dir; then prints the database's file count, its size and the add latency
# (median of the first and of the last 100 calls), so growth over many calls shows.
#
#   bench/memory_cli_appends.sh 2000            # ENGRAM=path/to/engram to use another binary
set -euo pipefail
n=${1:?usage: $0 N}
root=$(cd "$(dirname "$0")/.." && pwd)
engram=${ENGRAM:-$root/build/bin/engram}
[[ -x $engram ]] || { echo "$0: no engram binary at '$engram' (build it or set ENGRAM)" >&2; exit 2; }
data=$(mktemp -d "${TMPDIR:-/tmp}/engram-cli-appends.XXXXXX")
trap 'rm -rf "$data"' EXIT

latencies=$data/latencies_ms
for ((i = 1; i <= n; i++)); do
  start=$(date +%s%N)
  "$engram" --data-dir "$data/d" memory add --ns bench --session "day-$((i / 50))" \
    "turn $i: we talked about item $((i * 7919 % 1000)) and what to do with it next week" \
    > /dev/null
  echo $((($(date +%s%N) - start) / 1000000)) >> "$latencies"
  if ((i % 200 == 0)); then echo "$i adds, $(ls "$data/d/memory/db" | wc -l) files" >&2; fi
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
db=$data/d/memory/db
echo "adds:                  $n"
echo "db files:              $(ls "$db" | wc -l) ($(ls "$db" | grep -c '\.sst$') .sst)"
echo "db size:               $(du -sk "$db" | cut -f1) KiB (store with indexes: $(du -sk "$data/d/memory" | cut -f1) KiB)"
echo "add ms, first 100:     $(head -n 100 "$latencies" | median) (median)"
echo "add ms, last 100:      $(tail -n 100 "$latencies" | median) (median)"
