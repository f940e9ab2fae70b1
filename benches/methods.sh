#!/usr/bin/env bash
# Speed and CPU of each copy method on one filesystem, as the binary measures it.
# Usage: benches/methods.sh DIR [SIZE_MB] [ROUNDS]
# DIR should be on the filesystem to measure (a tmpfs isolates the methods' own cost).
# Each round runs every method once, in an order rotated per round; prints medians.
set -euo pipefail
dir=${1:?usage: benches/methods.sh DIR [SIZE_MB] [ROUNDS]}
size_mb=${2:-1024}
rounds=${3:-7}
zcopy=${ZCOPY:-$(dirname "$0")/../target/release/zcopy}
[ -x "$zcopy" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }

src=$dir/zcopy-bench-src dst=$dir/zcopy-bench-dst
head -c "${size_mb}M" /dev/urandom > "$src"
trap 'rm -f "$src" "$dst"' EXIT
methods=(copy-file-range sendfile chunked cp)
declare -A speed cpu
for ((round = 0; round < rounds; round++)); do
  for ((k = 0; k < ${#methods[@]}; k++)); do
    method=${methods[$(( (round + k) % ${#methods[@]} ))]}
    if [ "$method" = cp ]; then
      read -r wall user sys < <({ /usr/bin/time -f "%e %U %S" cp "$src" "$dst"; } 2>&1)
      mbps=$(echo "$size_mb / $wall" | bc -l)
    else
      read -r wall user sys < <({ /usr/bin/time -f "%e %U %S" "$zcopy" --no-env-file --json \
        --method "$method" "$src" "$dst" > "$dir/zcopy-bench.json"; } 2>&1)
      mbps=$(jq .stats.speed_mbps "$dir/zcopy-bench.json")
      rm -f "$dir/zcopy-bench.json"
    fi
    speed[$method]+=" ${mbps%.*}"
    cpu[$method]+=" $(echo "($user + $sys) * 1000" | bc -l | cut -d. -f1)"
    rm -f "$dst"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
printf '%-16s %10s %12s   %s\n' method "MB/s" "CPU ms" "all MB/s"
for method in "${methods[@]}"; do
  # shellcheck disable=SC2086
  printf '%-16s %10s %12s   %s\n' "$method" "$(median ${speed[$method]})" "$(median ${cpu[$method]})" "${speed[$method]}"
done
