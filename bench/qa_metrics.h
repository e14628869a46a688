// Answer-quality metrics of `engram eval qa`: SQuAD v1.1 exact match and token F1, and the
// L-Eval QuALITY multiple-choice parser.
//
// The SQuAD metric is the official evaluate-v1.1.py's, character for character:
//   normalize_answer(s) = white_space_fix(remove_articles(remove_punc(lower(s))))
//   lower             Python's str.lower (simple Unicode lower-case mapping)
//   remove_punc       drops the 32 ASCII characters of string.punctuation (only those: a
//                     typographic quote or dash stays)
//   remove_articles   re.sub(r'\b(a|an|the)\b', ' ', ·) with Python's Unicode \b (word
//                     characters: letters, numbers, '_')
//   white_space_fix   ' '.join(s.split()) (Unicode white space)
//   EM = normalised strings equal; F1 = harmonic mean of token precision and recall over the
//   bag of normalised tokens (0 when nothing is shared); both the maximum over the references.
// Answers generated with citations ("... in 1879 [2].") are scored after StripCitations, so a
// marker never counts as a token ("[2]" would otherwise normalise to "2").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram::bench {

// SQuAD v1.1's normalize_answer (above). Invalid UTF-8 bytes are kept as they are.
std::string NormalizeSquadAnswer(std::string_view text);

// 1.0 when the normalised strings are equal, else 0.0.
double SquadExactMatch(std::string_view prediction, std::string_view reference);
// Token F1 of the normalised strings (0 when either has no token, as the official script).
double SquadF1(std::string_view prediction, std::string_view reference);
// The maximum of the metric over `references`; 0 when there are none.
double MaxSquadExactMatch(std::string_view prediction, const std::vector<std::string>& references);
double MaxSquadF1(std::string_view prediction, const std::vector<std::string>& references);
// 1.0 when some reference's normalised text occurs in the normalised prediction as whole
// tokens (a lenient figure for verbose answers; not part of the official metric).
double MaxSquadContains(std::string_view prediction, const std::vector<std::string>& references);

// Removes citation markers "[1]", "[2, 3]", "[4][5]" (digits, commas and spaces inside
// brackets) and the space before each, so "in 1879 [2]." becomes "in 1879.".
std::string StripCitations(std::string_view text);

// An L-Eval QuALITY instruction: the question, then "(A) …" to "(D) …". An option starts with
// its letter in parentheses at the start of a line (QuALITY's layout; "(C)" inside an option's
// text is then text), or, when fewer than two options start lines, after any white space; it
// runs to the next marker. Letters are A, B, C, … in order, at least two.
struct MultipleChoice {
  std::string question;
  std::vector<std::string> options;  // option texts without their "(A) " marker, trimmed
};
// kInvalidArgument saying what is missing when the text holds no such options.
Result<MultipleChoice> ParseMultipleChoice(std::string_view instruction);

// The index of the option a gold output names: "(B) Their subconscious …" -> 1 (the letter in
// parentheses at its start, after white space). kInvalidArgument otherwise, or when the letter
// is past `option_count`.
Result<int> ParseChoiceLetter(std::string_view output, size_t option_count);

}  // namespace engram::bench
