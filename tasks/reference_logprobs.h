// The reference model's next-token distributions, compressed so that they can be stored with the reference's
// samples and the reference model freed before a candidate loads (like llama-perplexity --kl-divergence-base).
//
// One row (one scored position) is stored as:
//   header  u32 vocab | i32 argmax | i32 correct | f32 floor | f32 step | f64 logprob of `correct` (exact)
//   codes   vocab x u16: code_v = round((max(lp_v, floor) - floor) / step)
// where lp_v = logits_v - LogSumExp(logits) in double (engine/token_scores.h), floor = max(min_v lp_v,
// -(ln vocab + 28)) and step = (max_v lp_v - floor) / 65535, both rounded to f32 (step upwards). Little-endian.
// The argmax, the correct token and its log-prob are exact: same_top, delta_p and nll_ref computed from a stored
// row equal those computed from the logits. Only the KL divergence uses the 16-bit codes.
//
// Error of the KL divergence. Decoding gives lp'_v = floor + code_v * step (in double), |lp'_v - lp_v| <= d = step/2
// for every lp_v >= floor, and renormalizes: lp''_v = lp'_v - ln sum_u exp(lp'_u), so |lp''_v - lp_v| <= 2d. For any
// candidate distribution q, with p'' = exp(lp''),
//   |KL(p'' || q) - KL(p || q)| <= (e^{2d} - 1) * sum_v p_v |lp_v - lq_v| + (e^{2d} - 1)^2
// (write p'' = p e^eta with |eta| <= 2d: the difference is sum p (e^eta - 1)(lp - lq) + KL(p'' || p), and
// KL(p'' || p) <= chi^2(p'' || p) <= (e^{2d} - 1)^2). KlCompressionBound evaluates it from the stored row (p_v <=
// p''_v e^{2d}). Entries below the floor (clamped) hold at most vocab * e^{-(ln vocab + 28)} = e^-28 = 7e-13 of the
// reference's mass; they are outside the bound, and contribute at most that mass times |lp - lq| to the KL.
// For a row whose log-probs span 40 nats, d = 3.1e-4: the KL is exact to 0.06% of the mean |lp - lq| plus 4e-7.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/language_model.h"
#include "engine/status.h"

namespace fp4lab {

// The stored form of one row of reference logits [vocab]. REQUIRES: vocab >= 1, 0 <= correct < vocab, finite
// logits.
std::string CompressReferenceRow(std::span<const float> logits, TokenId correct);

struct ReferenceRow {
  std::vector<double> logprobs;  // lp''_v: decoded and renormalized (sums to 1 in probability)
  TokenId argmax = 0;            // exact (lowest id on ties)
  TokenId correct = 0;
  double correct_logprob = 0.0;  // exact ln p(correct)
  double max_logprob_error = 0.0;  // 2d: |lp''_v - lp_v| <= this for every entry above the floor
};

// Decodes one stored row. InvalidArgument (naming `what`) when the bytes are not a row of `vocab` entries.
Result<ReferenceRow> DecompressReferenceRow(std::string_view bytes, int vocab, const std::string& what);

// The bound above for KL(reference || candidate) computed from `row`, where `candidate_logprobs` is the candidate's
// log-softmax of the same position.
double KlCompressionBound(const ReferenceRow& row, std::span<const double> candidate_logprobs);

}  // namespace fp4lab
