#!/usr/bin/env bash
# Issue 24's comparison: AkkaMail (b) and the plain .NET yardstick (y) alternately, each run in a process of its own,
# same harness, same broker, same Mailgun fake settings; prints each run's figures, then the medians.
#   bench/yardstick.sh [pairs] [extra bench arguments...]     e.g. bench/yardstick.sh 5 --emails 10000 --warmup 3000
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-5}; shift || true
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(--emails 10000 --warmup 3000)
dotnet build -c Release bench/AkkaMail.Bench -nologo -clp:ErrorsOnly >/dev/null
B="dotnet bench/AkkaMail.Bench/bin/Release/net10.0/AkkaMail.Bench.dll --transport rabbitmq --raw-messages 0 --concurrency 32"
out=$(mktemp)
for i in $(seq 1 "$pairs"); do
  $B "${args[@]}" | grep -E '^\(b\)|CPU per email|p99|working set' | sed "s/^/akkamail  #$i /" | tee -a "$out"
  $B --yardstick "${args[@]}" | grep -E '^\(y\)|CPU per email|p99|working set' | sed "s/^/yardstick #$i /" | tee -a "$out"
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for who in akkamail yardstick; do
  rate=$(grep "^$who" "$out" | grep -oE '\): [0-9]+ emails/s' | grep -oE '[0-9]+' | median)
  cpu=$(grep "^$who" "$out" | grep -oE 'CPU per email: [0-9.]+' | grep -oE '[0-9.]+$' | median)
  p99=$(grep "^$who" "$out" | grep -oE 'p99 [0-9.]+' | grep -oE '[0-9.]+$' | median)
  ws=$(grep "^$who" "$out" | grep -oE 'working set [0-9]+' | grep -oE '[0-9]+$' | median)
  echo "median of $pairs: $who $rate emails/s, CPU $cpu ms per email, POST p99 $p99 ms, peak working set $ws MB"
done
rm -f "$out"
