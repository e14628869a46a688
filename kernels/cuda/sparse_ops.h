// Sparse decode attention on the GPU: attention in pieces over key ranges and over gathered key
// positions, merged by log-sum-exp (a piece may come from the CPU: co-execution), Quest's page
// bounds and page selection, and exact top-k key selection over a candidate list.
//
//   per layer of a decode step under the retrieval policy:
//   AttendRangePieces(kv, sinks, ..., pieces, P, 0, s)         // [0, sink_end)
//   AttendRangePieces(kv, window, ..., pieces, P, s, s)        // [recent_begin, length)
//   SelectPages(bounds, rows, ..., candidates)                  // Quest's best pages
//   SelectTopKeys(kv, rows, candidates, ..., selected)          // exact top-k among them
//   AttendGatheredPieces(kv, rows, selected, ..., pieces, P, 2s, s)
//   MergePieces(pieces, rows, n_head, head_dim, P, out, q_dim)
//
// Conventions as kernels/cuda/ops.h (asynchronous on `stream`, device pointers, errors through
// cuda::LastError). CPU references: kernels/attention.h (AttendPartial, AttendGathered,
// MergeAttention, GroupKeyScores) and inference/paged_kv_cache.h (key bounds).
//
// Only in builds with CUDA; defined in kernels/cuda/sparse_attention.cu.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/ops.h"

namespace engram::kernels::cuda {

// Pieces. For query row r, query head j (= kv_head · group + g) and piece p, the head_dim + 2
// floats at pieces + ((r · n_head + j) · n_pieces + p) · (head_dim + 2) hold
// [max score, Σ exp(score − max), output normalised (head_dim floats)]: a
// kernels::AttentionPiece. An empty piece is (−inf, 0, zeros).
size_t PieceFloats(int64_t rows, int n_head, int head_dim, int n_pieces);

// Row r's keys [key_begin[r], key_end[r]) split into `splits` equal ranges, written as pieces
// first_piece .. first_piece + splits − 1 (AttendDecode is this plus MergePieces).
void AttendRangePieces(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                       float* pieces, int n_pieces, int first_piece, int splits, Stream stream);

// Attention over gathered positions: for row r and KV head h the positions
// positions[(r · n_kv_head + h) · max_count + i] for i < counts[r · n_kv_head + h] (any order,
// no repeats, each < key_end[r]; paged through the row's table), split into `splits` ranges of
// that list, written as pieces first_piece .. first_piece + splits − 1. rows.key_begin is unused.
void AttendGatheredPieces(const PagedLayer& kv, const AttentionRows& rows,
                          const int32_t* positions, const int32_t* counts, int max_count,
                          int group, float scale, float* pieces, int n_pieces, int first_piece,
                          int splits, Stream stream);

// out[r · out_stride + j · head_dim + d] = the log-sum-exp merge of the n_pieces pieces of
// (row r, query head j); empty pieces are skipped, all empty gives zeros.
void MergePieces(const float* pieces, int64_t rows, int n_head, int head_dim, int n_pieces,
                 float* out, int64_t out_stride, Stream stream);

// Quest's page (cache block) key bounds for one layer: for physical block b and KV head h,
// bounds + (b · n_kv_head + h) · 2 · head_dim holds min[head_dim] then max[head_dim] of the
// keys of the block's first rows_in_block[i] positions.
size_t PageBoundsFloats(int64_t blocks, int n_kv_head, int head_dim);
// Recomputes, from the cache, the bounds of the `count` physical blocks blocks[i], each over
// its first rows_in_block[i] rows (0: +inf / −inf). Called for the blocks a step wrote.
void RefreshPageBounds(const PagedLayer& kv, const int32_t* blocks, const int32_t* rows_in_block,
                       int64_t count, float* bounds, Stream stream);

// Quest: for row r and KV head h scores the logical pages [page_begin[r], page_end[r]) of the
// row's table by the largest q·k any key inside the page's bounds allows, maxed over the
// group's queries (Σ_d max(q_d · min_d, q_d · max_d)); writes the positions of the `pages` best
// pages (those < key_end[r]) to positions[(r · n_kv_head + h) · max_count ...] and their number
// to counts[r · n_kv_head + h]. Fewer pages than `pages`: all of them. max_count must be at
// least pages << kv.block_shift.
void SelectPages(const PagedLayer& kv, const float* bounds, const AttentionRows& rows,
                 const int32_t* page_begin, const int32_t* page_end, int group, int pages,
                 int32_t* positions, int32_t* counts, int max_count, Stream stream);

// Exact top-k: scores the candidates[(r · n_kv_head + h) · max_candidates + i], i <
// candidate_counts[...], by max over the group's queries of q·k (unscaled, query as given: as
// kernels::GroupKeyScores) and writes the k best (all, if fewer) to
// selected[(r · n_kv_head + h) · max_selected ...] with their number in selected_counts.
// k <= max_selected; k and the candidate count may be large (a 1M-token context at a 5% budget
// selects 52k keys among 157k candidates), so select by a threshold on the scores (radix select
// over their bits), not by sorting in shared memory.
void SelectTopKeys(const PagedLayer& kv, const AttentionRows& rows, const int32_t* candidates,
                   const int32_t* candidate_counts, int max_candidates, int group, int k,
                   int32_t* selected, int32_t* selected_counts, int max_selected, Stream stream);

}  // namespace engram::kernels::cuda
