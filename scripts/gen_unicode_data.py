#!/usr/bin/env python3
"""Generates inference/internal/unicode_data.cc, the Unicode tables behind engram's tokenizers.

    python3 -m venv /tmp/ucd && /tmp/ucd/bin/pip install unicodedata2==15.1.0
    /tmp/ucd/bin/python scripts/gen_unicode_data.py > inference/internal/unicode_data.cc

Why Unicode 15.1: the tokenizers must split text exactly as llama.cpp does, and llama.cpp's
src/unicode-data.cpp was generated from UCD 15.1 (U+2FFC..U+2FFF and CJK Extension I are
assigned there, nothing from 16.0 is). Python's own unicodedata follows the interpreter (3.11:
14.0, 3.13: 15.1, 3.14: 16.0), so the script reads the `unicodedata2` backport pinned to 15.1
and refuses any other version unless --any-version is given.

What is written (all sorted, all deterministic):
  - General_Category as runs of equal category over U+0000..U+10FFFF.
  - White_Space: the PropList property, which unicodedata does not expose. It is the set
    llama.cpp uses for \\s (and Rust's char::is_whitespace, used by HF tokenizers). It differs
    from Python's str.isspace(), which also counts U+001C..U+001F; the script checks that this
    is the only difference.
  - Simple case mappings (UnicodeData.txt fields 12/13), derived from str.lower()/str.upper()/
    str.title() of the interpreter restricted to code points assigned in the pinned UCD. The one
    code point whose full lowercase has two code points, U+0130, maps to U+0069 as in
    UnicodeData.txt; full uppercases of several code points fall back to the titlecase (U+1F80 ->
    U+1F88), which is the simple uppercase there.
  - Full canonical decompositions (NFD of each code point; Hangul syllables are left out, they
    are decomposed algorithmically) and canonical combining classes.
"""

import argparse
import sys

MAX_CODE_POINT = 0x10FFFF
PINNED_VERSION = "15.1.0"

# Order of engram::inference::internal::GeneralCategory (unicode_data.h).
CATEGORIES = [
    "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
    "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co",
]

# PropList.txt, White_Space=yes.
WHITE_SPACE = (list(range(0x0009, 0x000D + 1)) + [0x0020, 0x0085, 0x00A0, 0x1680] +
               list(range(0x2000, 0x200A + 1)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def load_ucd(any_version):
    try:
        import unicodedata2 as ucd
    except ImportError:
        import unicodedata as ucd
    if ucd.unidata_version != PINNED_VERSION and not any_version:
        sys.exit(f"gen_unicode_data.py: need UCD {PINNED_VERSION} (pip install "
                 f"unicodedata2=={PINNED_VERSION}), have {ucd.unidata_version}")
    return ucd


def check_case_source(ucd):
    import unicodedata
    # str.lower() knows only the interpreter's UCD; an older one would miss new case pairs.
    have = tuple(int(x) for x in unicodedata.unidata_version.split("."))
    if have < (14, 0, 0):
        sys.exit(f"gen_unicode_data.py: the interpreter's UCD {unicodedata.unidata_version} "
                 "is too old for case mappings")


def hex6(cp):
    return "0x%06X" % cp


def emit_rows(out, items, per_line):
    for i in range(0, len(items), per_line):
        out.append(" ".join(items[i:i + per_line]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--any-version", action="store_true",
                        help=f"accept a UCD other than {PINNED_VERSION}")
    args = parser.parse_args()
    ucd = load_ucd(args.any_version)
    check_case_source(ucd)

    category = [ucd.category(chr(cp)) for cp in range(MAX_CODE_POINT + 1)]
    assigned = [c != "Cn" for c in category]

    runs = []
    for cp, cat in enumerate(category):
        if not runs or runs[-1][1] != cat:
            runs.append((cp, cat))

    spaces = [cp for cp in range(MAX_CODE_POINT + 1) if chr(cp).isspace()]
    assert sorted(set(spaces) - set(WHITE_SPACE)) == list(range(0x1C, 0x20)), "White_Space drift"
    assert not set(WHITE_SPACE) - set(spaces), "White_Space drift"

    lower, upper = [], []
    for cp in range(MAX_CODE_POINT + 1):
        if not assigned[cp] or 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        low = ch.lower()
        if len(low) == 1:
            if ord(low) != cp and assigned[ord(low)]:
                lower.append((cp, ord(low)))
        else:
            assert cp == 0x0130, "unexpected multi-code-point lowercase %s" % hex6(cp)
            lower.append((cp, ord(low[0])))
        up = ch.upper()
        if len(up) != 1:
            up = ch.title()
        if len(up) == 1 and ord(up) != cp and assigned[ord(up)]:
            upper.append((cp, ord(up)))

    decomps, decomp_data = [], []
    for cp in range(MAX_CODE_POINT + 1):
        if HANGUL_FIRST <= cp <= HANGUL_LAST or 0xD800 <= cp <= 0xDFFF:
            continue
        nfd = ucd.normalize("NFD", chr(cp))
        if nfd != chr(cp):
            decomps.append((cp, len(decomp_data), len(nfd)))
            decomp_data.extend(ord(c) for c in nfd)
    assert len(decomp_data) < 0x10000

    ccc_runs = []  # (first, last, class) for class != 0
    for cp in range(MAX_CODE_POINT + 1):
        ccc = ucd.combining(chr(cp))
        if ccc == 0:
            continue
        if ccc_runs and ccc_runs[-1][1] == cp - 1 and ccc_runs[-1][2] == ccc:
            ccc_runs[-1] = (ccc_runs[-1][0], cp, ccc)
        else:
            ccc_runs.append((cp, cp, ccc))

    out = []
    out.append(f"""\
// GENERATED by scripts/gen_unicode_data.py from the Unicode Character Database {ucd.unidata_version}.
// Do not edit; rerun the script (its docstring says how and why this UCD version).
// clang-format off

#include "inference/internal/unicode_data.h"

#include <cstdint>
#include <span>

namespace engram::inference::internal::unicode_data {{
namespace {{

using enum GeneralCategory;

// General_Category runs: each starts at `first` and lasts until the next run's `first`.
constexpr CategoryRun kCategoryRunTable[] = {{""")
    emit_rows(out, ["{%s,k%s}," % (hex6(cp), cat) for cp, cat in runs], 6)
    out.append("};\n")

    out.append("// PropList.txt White_Space.")
    out.append("constexpr uint32_t kWhiteSpaceTable[] = {")
    emit_rows(out, [hex6(cp) + "," for cp in WHITE_SPACE], 8)
    out.append("};\n")

    for name, table in (("kSimpleLowercaseTable", lower), ("kSimpleUppercaseTable", upper)):
        out.append(f"constexpr CodePointPair {name}[] = {{")
        emit_rows(out, ["{%s,%s}," % (hex6(a), hex6(b)) for a, b in table], 5)
        out.append("};\n")

    out.append("// Full canonical decompositions (Hangul syllables excluded): code point, offset into")
    out.append("// kDecompositionDataTable, length.")
    out.append("constexpr Decomposition kDecompositionTable[] = {")
    emit_rows(out, ["{%s,%d,%d}," % (hex6(cp), off, n) for cp, off, n in decomps], 5)
    out.append("};\n")
    out.append("constexpr uint32_t kDecompositionDataTable[] = {")
    emit_rows(out, [hex6(cp) + "," for cp in decomp_data], 10)
    out.append("};\n")

    out.append("// Canonical_Combining_Class runs with a non-zero class: first, last, class.")
    out.append("constexpr CombiningClassRun kCombiningClassTable[] = {")
    emit_rows(out, ["{%s,%s,%d}," % (hex6(a), hex6(b), c) for a, b, c in ccc_runs], 5)
    out.append("};\n")

    out.append(f"""\
}}  // namespace

const char kUnicodeVersion[] = "{ucd.unidata_version}";

std::span<const CategoryRun> CategoryRuns() {{ return kCategoryRunTable; }}
std::span<const uint32_t> WhiteSpace() {{ return kWhiteSpaceTable; }}
std::span<const CodePointPair> SimpleLowercase() {{ return kSimpleLowercaseTable; }}
std::span<const CodePointPair> SimpleUppercase() {{ return kSimpleUppercaseTable; }}
std::span<const Decomposition> Decompositions() {{ return kDecompositionTable; }}
std::span<const uint32_t> DecompositionData() {{ return kDecompositionDataTable; }}
std::span<const CombiningClassRun> CombiningClasses() {{ return kCombiningClassTable; }}

}}  // namespace engram::inference::internal::unicode_data""")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
