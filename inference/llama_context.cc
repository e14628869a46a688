// The llama forward pass on CPU. Per batch of tokens: embed; per layer: RMSNorm, q/k/v
// projections (one parallel loop for the three), RoPE, store k/v, causal attention over the
// cache, output projection + residual, RMSNorm, gate/up (one loop), SwiGLU, down + residual;
// final norm and the vocabulary projection. Gemma 3 adds: embeddings scaled, q/k head norms
// before RoPE, a norm on each branch's output before its residual, GeGLU, and sliding-window
// layers that attend only their last `sliding_window` positions with their own RoPE base. Matrix products go through kernels/matmul.h on the
// weights as stored; each input is prepared (quantized to 8 bits where the weights want it)
// once and shared by every matrix that reads it.
#include "inference/llama_context.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>

#include "common/logging.h"
#include "inference/internal/attention_index_file.h"
#include "inference/internal/cuda_forward.h"
#include "inference/internal/retention_attention.h"
#include "inference/internal/rope_angles.h"
#include "inference/internal/sparse_attention.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace engram::inference {
namespace {

// Keys per attention piece when one decode step splits its cache between threads (a few KV
// heads alone would leave threads idle).
constexpr int64_t kDecodeKeysPerPiece = 128;

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0.0;  // as GGML: the squares summed in double
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

}  // namespace

// Buffers for one batch of up to n_ubatch tokens, allocated once.
struct LlamaContext::Scratch {
  std::vector<float> x, norm, q, k, v, attn, gate, up, rope_cos, rope_sin;
  std::vector<float> rope_cos_local, rope_sin_local;  // sliding-window layers' angles (gemma3)
  // Prepared activations per representation (q8_0, q8_1, f32, q8_K), valid for `prepared_input`.
  std::vector<uint8_t> acts[4];
  const float* prepared_for[4] = {nullptr, nullptr, nullptr, nullptr};
  std::vector<float> decode_pieces;  // [kv_head][piece][max | sum | out] for split decode
  std::vector<internal::AttentionPlan> plans;  // per KV head, sparse decode
  // Per row of the batch: its sequence and position (one sequence in Eval; several in
  // DecodeBatch).
  std::vector<SequenceId> row_seq;
  std::vector<int64_t> row_pos;
};

// The CPU's side of an offloaded decode step: the key indexes and retrieved keys of the host
// cache, and the step's rows stored into it.
class LlamaContext::OffloadAdapter final : public internal::OffloadHost {
 public:
  explicit OffloadAdapter(LlamaContext& ctx) : ctx_(ctx) {}
  std::pair<int64_t, int64_t> BeginLayer(int layer, int64_t length) override {
    internal::SparseAttention* state = ctx_.sparse();
    state->BeginLayer(layer, length);
    return state->ExactRanges(layer);
  }
  void AttendRetrieved(int layer, const float* q, float* pieces) override {
    ctx_.AttendRetrieved(layer, q, pieces);
  }
  void StoreRow(int layer, const float* k, const float* v) override {
    const Scratch& s = *ctx_.scratch_;
    ctx_.cache_->Store(s.row_seq[0], layer, s.row_pos[0], k, v);
  }

 private:
  LlamaContext& ctx_;
};

LlamaContext::LlamaContext(std::shared_ptr<const LlamaModel> model, const ContextOptions& options)
    : model_(std::move(model)),
      options_(options),
      team_(static_cast<size_t>(std::max(0, options.n_threads))),
      scratch_(std::make_unique<Scratch>()) {}

LlamaContext::~LlamaContext() = default;

Result<std::unique_ptr<LlamaContext>> LlamaContext::Create(std::shared_ptr<const LlamaModel> model,
                                                           const ContextOptions& options_in) {
  ContextOptions options = options_in;
  const LlamaConfig& c = model->config();
  if (options.n_ctx == 0) options.n_ctx = c.n_ctx_train;
  if (options.n_ctx < 0) {
    return Status::InvalidArgument("context: n_ctx " + std::to_string(options.n_ctx) +
                                   " must be positive");
  }
  if (options.n_ubatch <= 0) options.n_ubatch = 512;
  if (options.n_threads < 0) {
    return Status::InvalidArgument("context: threads " + std::to_string(options.n_threads) +
                                   " must be >= 0 (0 = one per hardware thread)");
  }
  if (Status s = ValidateAttentionOptions(options.attention); !s.ok()) return s;
  if (options.kv_offload && options.device == Device::kCpu) {
    return Status::InvalidArgument("context: --kv-offload keeps the cache in host memory for a "
                                   "GPU; it needs --device cuda or auto");
  }
  if (options.kv_pool_positions == 0) options.kv_pool_positions = 2 * options.n_ctx;
  if (options.kv_pool_positions < options.n_ctx) {
    return Status::InvalidArgument("context: kv pool of " +
                                   std::to_string(options.kv_pool_positions) +
                                   " positions is smaller than n_ctx " +
                                   std::to_string(options.n_ctx));
  }
  Result<std::unique_ptr<PagedKvCache>> cache = PagedKvCache::Create(
      {c.n_layer, c.n_kv_head, c.head_dim},
      {.block_size = options.kv_block_size,
       .max_positions = options.kv_pool_positions,
       .type = options.kv_type});
  if (!cache.ok()) return cache.status();
  Result<SequenceId> seq = (*cache)->NewSequence();
  if (!seq.ok()) return seq.status();
  std::unique_ptr<LlamaContext> ctx(new LlamaContext(std::move(model), options));
  ctx->cache_ = std::move(*cache);
  ctx->sequence_ = *seq;
  for (int l = 0; l < c.n_layer; ++l) {
    if (ctx->model_->layers()[l].sliding) ctx->local_layers_.push_back(l);
  }
  if (Status s = ctx->ChooseDevice(); !s.ok()) return s;
  Scratch& s = *ctx->scratch_;
  const size_t ub = static_cast<size_t>(options.n_ubatch);
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim;
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  s.x.resize(ub * c.n_embd);
  s.norm.resize(ub * std::max<size_t>(c.n_embd, q_dim));
  s.q.resize(ub * q_dim);
  s.k.resize(ub * kv_dim);
  s.v.resize(ub * kv_dim);
  s.attn.resize(ub * q_dim);
  s.gate.resize(ub * c.n_ff);
  s.up.resize(ub * c.n_ff);
  s.rope_cos.resize(ub * c.rope_dim / 2);
  s.rope_sin.resize(ub * c.rope_dim / 2);
  if (c.sliding_window > 0) {
    s.rope_cos_local.resize(ub * c.rope_dim / 2);
    s.rope_sin_local.resize(ub * c.rope_dim / 2);
  }
  return ctx;
}

Status LlamaContext::Eval(std::span<const int32_t> tokens, LogitsMode mode) {
  const LlamaConfig& c = model_->config();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return Status::InvalidArgument("eval: token " + std::to_string(tokens[i]) + " at index " +
                                     std::to_string(i) + " is outside the vocabulary [0, " +
                                     std::to_string(c.n_vocab) + ")");
    }
  }
  const int64_t start = position();
  if (start + static_cast<int64_t>(tokens.size()) > n_ctx()) {
    return Status::OutOfRange("eval: " + std::to_string(tokens.size()) + " tokens at position " +
                              std::to_string(start) + " do not fit in the context of " +
                              std::to_string(n_ctx()) + " tokens");
  }
  if (tokens.empty()) {
    logits_.clear();
    return Status::OK();
  }
  logits_.resize(static_cast<size_t>(mode == LogitsMode::kAll ? tokens.size() : 1) * c.n_vocab);
  if (Status s = CheckGpuFeatures(); !s.ok()) return s;
  if (Status s = Reserve(sequence_, start + static_cast<int64_t>(tokens.size())); !s.ok()) {
    return s;
  }
  const auto step_start = Clock::now();
  const double compare_before = comparison_ != nullptr ? comparison_->seconds : 0.0;
  const size_t ub = static_cast<size_t>(options_.n_ubatch);
  for (size_t done = 0; done < tokens.size(); done += ub) {
    const size_t n = std::min(ub, tokens.size() - done);
    if (tokens.size() > 1) DiscardOutOfWindowRows(start, start + static_cast<int64_t>(done));
    const bool last = done + n == tokens.size();
    float* out = nullptr;
    if (mode == LogitsMode::kAll) out = logits_.data() + done * c.n_vocab;
    if (mode == LogitsMode::kLast && last) out = logits_.data();
    if (Status s = EvalBatch(tokens.subspan(done, n), start + static_cast<int64_t>(done), out,
                             mode == LogitsMode::kAll);
        !s.ok()) {
      return s;
    }
    cache_->Commit(sequence_, start + static_cast<int64_t>(done + n));
  }
  if (tokens.size() == 1) {
    const double measuring = comparison_ != nullptr ? comparison_->seconds - compare_before : 0.0;
    stats_.steps += 1;
    stats_.seconds += SecondsSince(step_start) - measuring;
  }
  return Status::OK();
}

bool LlamaContext::CanRewind(int64_t position) const {
  const int64_t window = model_->config().sliding_window;
  return position <= 0 || local_layers_.empty() ||
         cache_->RowsIntact(sequence_, position - window, position);
}

void LlamaContext::DiscardOutOfWindowRows(int64_t eval_start, int64_t next_position) {
  // On the GPU the host rows are never written (the device keeps every row), unless offloaded.
  if (local_layers_.empty() || (cuda_ != nullptr && !offloaded())) return;
  // Only rows this Eval wrote: rows of earlier Evals stay, so rewinding to where any earlier
  // Eval ended (a document prefix, a question) stays possible.
  cache_->DiscardRows(sequence_, local_layers_, eval_start,
                      next_position - model_->config().sliding_window);
}

void LlamaContext::Rewind(int64_t position) {
  if (position >= this->position()) return;
  if (!CanRewind(position)) {
    spdlog::warn("context: cannot rewind to position {}: the sliding-window layers let go of "
                 "the rows it needs (they were all written by one long Eval); starting over "
                 "from 0", position);
    position = 0;
  }
  cache_->Truncate(sequence_, position);
  auto it = sparse_.find(sequence_);
  if (it != sparse_.end() && !it->second->ValidFor(position)) {
    sparse_.erase(it);  // its key indexes hold keys past the new end
  }
  retention_.erase(sequence_);  // evictions chosen for the longer sequence; restart
  queries().Truncate(position, static_cast<size_t>(model_->config().n_head) *
                                   model_->config().head_dim);
}

Result<SequenceId> LlamaContext::Fork() {
  Result<SequenceId> fork = cache_->Fork(sequence_, position());
  if (!fork.ok()) return fork.status();
  queries_[*fork] = std::make_unique<internal::PrefillQueries>(queries());
  // The fork holds the same keys, so the current sequence's indexes serve it as they are.
  auto it = sparse_.find(sequence_);
  if (it != sparse_.end() && it->second != nullptr) sparse_[*fork] = it->second->Clone();
  auto kept = retention_.find(sequence_);
  if (kept != retention_.end()) retention_[*fork] = kept->second->Clone();
  return fork;
}

internal::PrefillQueries& LlamaContext::queries() {
  std::unique_ptr<internal::PrefillQueries>& q = queries_[sequence_];
  if (!q) {
    q = std::make_unique<internal::PrefillQueries>();
    q->rows.resize(static_cast<size_t>(model_->config().n_layer));
  }
  return *q;
}

Status LlamaContext::Switch(SequenceId seq) {
  if (!cache_->Has(seq)) {
    return Status::InvalidArgument("context: sequence " + std::to_string(seq) + " does not exist");
  }
  sequence_ = seq;
  return Status::OK();
}

Status LlamaContext::Free(SequenceId seq) {
  if (!cache_->Has(seq) || seq == sequence_) {
    return Status::InvalidArgument("context: sequence " + std::to_string(seq) +
                                   (seq == sequence_ ? " is current; switch away first"
                                                     : " does not exist"));
  }
  cache_->Free(seq);
  sparse_.erase(seq);
  retention_.erase(seq);
  queries_.erase(seq);
  return Status::OK();
}

Status LlamaContext::SetAttention(const AttentionOptions& attention) {
  if (Status s = ValidateAttentionOptions(attention); !s.ok()) return s;
  if (cuda_ != nullptr) {
    if (Status s = cuda_->SetAttention(attention); !s.ok()) return s;
  }
  AttentionOptions same_but_budget = attention;
  same_but_budget.budget = options_.attention.budget;
  const AttentionOptions& old = options_.attention;
  const bool keep = same_but_budget.kind == old.kind && same_but_budget.index == old.index &&
                    same_but_budget.sinks == old.sinks && same_but_budget.window == old.window &&
                    same_but_budget.candidate_factor == old.candidate_factor &&
                    same_but_budget.index_batch == old.index_batch &&
                    same_but_budget.query_samples == old.query_samples;
  options_.attention = attention;
  if (keep) {  // only the budget changed: the key indexes stay valid
    for (auto& [seq, state] : sparse_) state->SetSelection(attention);
    return Status::OK();
  }
  sparse_.clear();  // every sequence's indexes were built for the previous policy
  return Status::OK();
}

void LlamaContext::SetRetention(std::unique_ptr<KvRetention> policy) {
  retention_policy_ = std::move(policy);
  retention_.clear();  // every sequence's evictions were the previous policy's
}

const KvRetention* LlamaContext::retention_state() const {
  auto it = retention_.find(sequence_);
  return it == retention_.end() ? nullptr : it->second.get();
}

KvRetention* LlamaContext::retention() {
  if (retention_policy_ == nullptr) return nullptr;
  std::unique_ptr<KvRetention>& state = retention_[sequence_];
  if (!state) {
    state = retention_policy_->Clone();
    StartRetention(*state);
  }
  return state.get();
}

void LlamaContext::StartRetention(KvRetention& state) {
  const LlamaConfig& c = model_->config();
  const int64_t length = position();  // the committed positions (the step's token not yet)
  const internal::PrefillQueries& kept = queries();
  const KvRetention::Observation observation = state.observation();
  const int group = c.n_head / c.n_kv_head;
  const float scale = c.attention_scale;
  // The attention of every (layer, KV head) in parallel, then Start serially (its contract).
  const size_t heads = static_cast<size_t>(c.n_layer) * c.n_kv_head;
  std::vector<std::vector<float>> attention(heads);
  team_.ParallelFor(0, heads, 1, [&](size_t lo, size_t hi) {
    for (size_t task = lo; task < hi; ++task) {
      const int layer = static_cast<int>(task / c.n_kv_head);
      const int h = static_cast<int>(task % c.n_kv_head);
      const internal::HeadGeometry head{c.n_kv_head, h, group, c.head_dim, scale};
      internal::PrefillAttention(kept, observation, layer, head, cache_->Keys(sequence_, layer, h),
                                 length, &attention[task]);
    }
  });
  for (size_t task = 0; task < heads; ++task) {
    state.Start(static_cast<int>(task / c.n_kv_head), static_cast<int>(task % c.n_kv_head),
                attention[task]);
  }
}

void LlamaContext::ObserveRetention(KvRetention& state, int layer, int64_t length) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const float scale = c.attention_scale;
  Scratch& s = *scratch_;
  team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head), 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<int32_t> positions;
    thread_local std::vector<float> weights;
    for (size_t h = lo; h < hi; ++h) {
      const int kv_head = static_cast<int>(h);
      const internal::HeadGeometry head{c.n_kv_head, kv_head, group, c.head_dim, scale};
      internal::StepAttention(s.q.data() + h * group * c.head_dim, head,
                              cache_->Keys(sequence_, layer, kv_head), s.plans[h], length,
                              &positions, &weights);
      state.Observe(layer, kv_head, positions, weights);
    }
  });
}

internal::SparseAttention* LlamaContext::sparse() {
  if (options_.attention.kind == AttentionKind::kFull) return nullptr;
  std::unique_ptr<internal::SparseAttention>& state = sparse_[sequence_];
  if (!state) {
    const LlamaConfig& c = model_->config();
    state = std::make_unique<internal::SparseAttention>(
        options_.attention, cache_->shape(), c.n_head / c.n_kv_head, cache_->block_size());
  }
  return state.get();
}

void LlamaContext::PrepareAttention() {
  internal::SparseAttention* state = sparse();
  if (state == nullptr || options_.attention.kind != AttentionKind::kRetrieval) return;
  const LlamaConfig& c = model_->config();
  // The next decode step's length; the query is not needed to build or extend an index.
  const int64_t length = position() + 1;
  const internal::PrefillQueries& kept = queries();
  for (int l = 0; l < c.n_layer; ++l) {
    if (model_->layers()[l].sliding) continue;  // never attended sparsely
    state->BeginLayer(l, length);
    team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head), 1, [&](size_t lo, size_t hi) {
      for (size_t h = lo; h < hi; ++h) {
        state->UpdateIndex(l, static_cast<int>(h), *cache_, sequence_, kept);
      }
    });
  }
}

DecodeStats LlamaContext::decode_stats() const {
  DecodeStats out = stats_;
  const LlamaConfig& c = model_->config();
  const size_t head_position_bytes =
      cache_->bytes_per_position() / (static_cast<size_t>(c.n_layer) * c.n_kv_head);
  out.kv_bytes = cache_->bytes_per_position() * static_cast<size_t>(position());
  // Rows the sliding-window layers let go of are not held any more.
  out.kv_bytes -= head_position_bytes * c.n_kv_head * local_layers_.size() *
                  static_cast<size_t>(cache_->DiscardedPositions(sequence_));
  out.kv_bytes_kept = out.kv_bytes;
  if (const KvRetention* kept = retention_state(); kept != nullptr) {
    for (int l = 0; l < c.n_layer; ++l) {
      for (int h = 0; h < c.n_kv_head; ++h) {
        out.kv_bytes_kept -= head_position_bytes * static_cast<size_t>(kept->evicted(l, h));
      }
    }
  }
  if (offloaded()) {
    const internal::OffloadStats o = cuda_->offload_stats();
    out.offload_cpu_seconds = o.cpu_seconds;
    out.offload_wait_seconds = o.wait_seconds;
  }
  auto it = sparse_.find(sequence_);
  if (it != sparse_.end()) {
    out.index_build_seconds = it->second->index_build_seconds();
    out.index_bytes = it->second->index_bytes();
  }
  return out;
}

std::string LlamaContext::ModelFingerprint() const {
  const LlamaConfig& c = model_->config();
  return c.architecture + "/" + std::string(TensorTypeName(model_->token_embedding().type)) +
         "/layers " + std::to_string(c.n_layer) + "/kv heads " +
         std::to_string(c.n_kv_head) + "/head dim " + std::to_string(c.head_dim) + "/vocab " +
         std::to_string(c.n_vocab) + "/file bytes " + std::to_string(model_->file_bytes());
}

Status LlamaContext::SaveCache(const std::string& path) {
  if (cuda_ != nullptr) {
    if (Status s = cuda_->Download(*cache_, sequence_); !s.ok()) return s;
  }
  Sha256::Digest digest{};
  if (Status s = cache_->Save(sequence_, path, ModelFingerprint(), &digest); !s.ok()) return s;
  const std::string sidecar = internal::IndexSidecarPath(path);
  if (options_.attention.kind != AttentionKind::kRetrieval) {
    std::error_code ec;
    std::filesystem::remove(sidecar, ec);  // of an earlier save; no longer describes the cache
    return Status::OK();
  }
  PrepareAttention();
  const internal::IndexBinding binding{ModelFingerprint(), digest, position()};
  return internal::WriteIndexSidecar(sidecar, binding, *sparse());
}

Status LlamaContext::LoadCache(const std::string& path) {
  Sha256::Digest digest{};
  Result<SequenceId> loaded = cache_->Load(path, ModelFingerprint(), &digest);
  if (!loaded.ok()) return loaded.status();
  if (cache_->length(*loaded) > n_ctx()) {
    const int64_t length = cache_->length(*loaded);
    cache_->Free(*loaded);
    return Status::InvalidArgument("context: cache file " + path + " holds " +
                                   std::to_string(length) + " positions, more than n_ctx " +
                                   std::to_string(n_ctx()));
  }
  cache_->Free(sequence_);
  sparse_.erase(sequence_);
  retention_.erase(sequence_);
  queries_.erase(sequence_);
  sequence_ = *loaded;
  if (cuda_ != nullptr) {
    if (Status s = cuda_->Upload(*cache_, sequence_); !s.ok()) return s;
  }
  // A cache saved after a long prefill holds no sliding-window rows before its last window.
  DiscardOutOfWindowRows(0, position());
  index_restored_ = false;
  index_load_seconds_ = 0.0;
  if (options_.attention.kind == AttentionKind::kRetrieval) {
    const auto start = Clock::now();
    const LlamaConfig& c = model_->config();
    auto state = std::make_unique<internal::SparseAttention>(
        options_.attention, cache_->shape(), c.n_head / c.n_kv_head, cache_->block_size());
    const internal::IndexBinding binding{ModelFingerprint(), digest, position()};
    const Status s = internal::ReadIndexSidecar(internal::IndexSidecarPath(path), binding,
                                                state.get());
    if (s.ok()) {
      sparse_[sequence_] = std::move(state);
      index_restored_ = true;
    } else if (s.code() != StatusCode::kNotFound) {
      spdlog::warn("context: not using the key indexes saved with '{}' ({}); building them again",
                   path, s.ToString());
    }
    index_load_seconds_ = SecondsSince(start);
  }
  return Status::OK();
}

const uint8_t* LlamaContext::Prepare(TensorType weight_type, const float* input, int64_t n,
                                     int64_t k) {
  const TensorType act = kernels::ActivationTypeFor(weight_type);
  const int slot = act == TensorType::kQ8_0   ? 0
                   : act == TensorType::kQ8_1 ? 1
                   : act == TensorType::kQ8_K ? 3
                                              : 2;
  Scratch& s = *scratch_;
  if (s.prepared_for[slot] == input) return s.acts[slot].data();
  const size_t row_bytes = kernels::ActivationRowBytes(weight_type, k);
  s.acts[slot].resize(row_bytes * static_cast<size_t>(n));
  uint8_t* dst = s.acts[slot].data();
  team_.ParallelFor(0, static_cast<size_t>(n), 8, [&](size_t t0, size_t t1) {
    kernels::PrepareActivations(weight_type, input + t0 * k, static_cast<int64_t>(t1 - t0), k, k,
                                dst + t0 * row_bytes);
  });
  s.prepared_for[slot] = input;
  return dst;
}

void LlamaContext::Linear(std::initializer_list<Product> products, const float* input,
                          int64_t n) {
  Scratch& s = *scratch_;
  for (const float*& p : s.prepared_for) p = nullptr;  // a new input
  const int64_t k = products.begin()->w->cols;
  const uint8_t* acts[3];
  int64_t total_rows = 0;
  size_t i = 0;
  for (const Product& p : products) {
    acts[i++] = Prepare(p.w->type, input, n, k);
    total_rows += p.w->rows;
  }
  // One loop over the rows of all the matrices, so threads never wait between them.
  team_.ParallelFor(0, static_cast<size_t>(total_rows), 16, [&](size_t lo, size_t hi) {
    int64_t offset = 0;
    size_t j = 0;
    for (const Product& p : products) {
      const int64_t r0 = std::max<int64_t>(static_cast<int64_t>(lo), offset) - offset;
      const int64_t r1 = std::min<int64_t>(static_cast<int64_t>(hi), offset + p.w->rows) - offset;
      if (r0 < r1) {
        kernels::MatMulRows(p.w->type, p.w->data, p.w->row_bytes, k, acts[j], n, r0, r1, p.out,
                            static_cast<size_t>(p.w->rows));
      }
      offset += p.w->rows;
      ++j;
    }
  });
}

void LlamaContext::Attention(int layer, int64_t pos0, int64_t n) {
  const double seconds_before = stats_.attention_seconds;
  const double keys_before = stats_.keys_attended;
  AttendLayer(layer, pos0, n);
  if (!model_->layers()[layer].sliding) {  // a layer the decode policies govern
    stats_.policy_attention_seconds += stats_.attention_seconds - seconds_before;
    stats_.policy_keys_attended += stats_.keys_attended - keys_before;
  }
}

void LlamaContext::AttendLayer(int layer, int64_t pos0, int64_t n) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * dim;
  const float scale = c.attention_scale;
  Scratch& s = *scratch_;
  const int64_t n_keys_last = pos0 + n;

  const auto start = Clock::now();
  // Sliding-window layers are bounded already: the sparse and retention policies leave them be.
  const bool local = model_->layers()[layer].sliding;
  const bool sparse_decode =
      n == 1 && !local && (retention_policy_ != nullptr || sparse() != nullptr);
  if (sparse_decode || (n == 1 && n_keys_last > kDecodeKeysPerPiece)) {
    const double measuring = comparison_ != nullptr ? comparison_->seconds : 0.0;
    if (sparse_decode) {
      SparseDecodeAttention(layer, n_keys_last);
    } else {
      const int64_t begin = FirstKey(layer, n_keys_last);
      FullDecodeAttention(layer, begin, n_keys_last);
      stats_.keys_attended += static_cast<double>(n_keys_last - begin) * c.n_kv_head;
    }
    stats_.attention_seconds +=
        SecondsSince(start) - (comparison_ != nullptr ? comparison_->seconds - measuring : 0.0);
    return;
  }

  // Causal: token t sees positions [0, pos0 + t] (the last `window` of them on a sliding-window
  // layer). One task per (block of tokens, KV head): the block's queries share every key and
  // value load.
  const int64_t window = local ? c.sliding_window : 0;
  const int block = kernels::AttendCausalBlockTokens(group);
  const int64_t blocks = (n + block - 1) / block;
  team_.ParallelFor(0, static_cast<size_t>(blocks * c.n_kv_head), 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> scratch;
    scratch.resize(kernels::AttendCausalScratchFloats(block, group, dim, n_keys_last));
    for (size_t task = lo; task < hi; ++task) {
      const int64_t t0 = static_cast<int64_t>(task) / c.n_kv_head * block;
      const int h = static_cast<int>(task % c.n_kv_head);
      const int tokens = static_cast<int>(std::min<int64_t>(block, n - t0));
      const size_t offset = t0 * q_dim + h * group * dim;
      kernels::AttendCausalWindow(s.q.data() + offset, q_dim, tokens, group, dim, scale,
                                  cache_->Keys(sequence_, layer, h),
                                  cache_->Values(sequence_, layer, h), pos0 + t0, window,
                                  scratch.data(), s.attn.data() + offset, q_dim);
    }
  });
  if (n == 1) {  // a decode step on a short cache
    stats_.attention_seconds += SecondsSince(start);
    stats_.keys_attended += static_cast<double>(n_keys_last) * c.n_kv_head;
  }
}

int64_t LlamaContext::FirstKey(int layer, int64_t length) const {
  const int64_t window = model_->config().sliding_window;
  if (!model_->layers()[layer].sliding || window <= 0) return 0;
  return std::max<int64_t>(0, length - window);
}

void LlamaContext::FullDecodeAttention(int layer, int64_t begin_key, int64_t length) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  const float scale = c.attention_scale;
  Scratch& s = *scratch_;
  const size_t piece_floats = static_cast<size_t>(group) * (2 + dim);
  // One query, a long cache: split the keys so every thread has work, then merge.
  const int64_t pieces = (length - begin_key + kDecodeKeysPerPiece - 1) / kDecodeKeysPerPiece;
  s.decode_pieces.resize(static_cast<size_t>(c.n_kv_head * pieces) * piece_floats);
  team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head * pieces), 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(group) * (kDecodeKeysPerPiece + dim));
    for (size_t task = lo; task < hi; ++task) {
      const int h = static_cast<int>(task / pieces);
      const int64_t p = static_cast<int64_t>(task % pieces);
      float* buf = s.decode_pieces.data() + task * piece_floats;
      const int64_t begin = begin_key + p * kDecodeKeysPerPiece;
      const int64_t end = std::min(length, begin + kDecodeKeysPerPiece);
      kernels::AttendPartial(s.q.data() + h * group * dim, group, dim, scale,
                             cache_->Keys(sequence_, layer, h), cache_->Values(sequence_, layer, h),
                             begin, end, scores.data(), {buf, buf + group, buf + 2 * group});
    }
  });
  for (int h = 0; h < c.n_kv_head; ++h) {
    float* first = s.decode_pieces.data() + static_cast<size_t>(h * pieces) * piece_floats;
    kernels::AttentionPiece into{first, first + group, first + 2 * group};
    for (int64_t p = 1; p < pieces; ++p) {
      float* buf = first + p * piece_floats;
      kernels::MergeAttention(into, {buf, buf + group, buf + 2 * group}, group, dim);
    }
    std::memcpy(s.attn.data() + h * group * dim, into.out, sizeof(float) * group * dim);
  }
}

void LlamaContext::SparseDecodeAttention(int layer, int64_t length) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  const float scale = c.attention_scale;
  Scratch& s = *scratch_;
  // Under a retention policy the kept keys are attended, else the attention policy's choice.
  KvRetention* retention = this->retention();
  internal::SparseAttention* state = retention == nullptr ? sparse() : nullptr;
  if (state != nullptr) state->BeginLayer(layer, length);
  // (not a structured binding: clang 14, used by the fuzz build, cannot capture those)
  const std::pair<int64_t, int64_t> exact =
      state != nullptr ? state->ExactRanges(layer) : retention->ExactRanges(length);
  const int64_t sink_end = exact.first, recent_begin = exact.second;
  const internal::PrefillQueries& kept = queries();
  s.plans.resize(static_cast<size_t>(c.n_kv_head));
  // Per KV head three pieces: the sinks, the recent window, and the chosen positions. Two tasks
  // per head (exact ranges; selection and gathered keys), so one head's selection overlaps
  // another's exact part.
  const size_t piece_floats = static_cast<size_t>(group) * (2 + dim);
  s.decode_pieces.resize(static_cast<size_t>(c.n_kv_head) * 3 * piece_floats);
  auto piece = [&](int h, int which) {
    float* buf = s.decode_pieces.data() + (static_cast<size_t>(h) * 3 + which) * piece_floats;
    return kernels::AttentionPiece{buf, buf + group, buf + 2 * group};
  };
  // Fewer KV heads than threads (Gemma 3: one): a head's selection would leave threads idle,
  // so each head selects first with the whole team, then the tasks only attend.
  const bool select_ahead = state != nullptr && c.n_kv_head < n_threads();
  if (select_ahead) {
    for (int h = 0; h < c.n_kv_head; ++h) {
      state->Select(layer, h, s.q.data() + h * group * dim, *cache_, sequence_, kept, &s.plans[h],
                    &team_);
    }
  }
  team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head) * 2, 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> scratch;
    for (size_t task = lo; task < hi; ++task) {
      const int h = static_cast<int>(task / 2);
      const float* q = s.q.data() + h * group * dim;
      const kernels::KvRows keys = cache_->Keys(sequence_, layer, h);
      const kernels::KvRows values = cache_->Values(sequence_, layer, h);
      if (task % 2 == 1) {
        internal::AttentionPlan& plan = s.plans[h];
        if (select_ahead) {
          // chosen above
        } else if (state != nullptr) {
          state->Select(layer, h, q, *cache_, sequence_, kept, &plan);
        } else {
          plan.sink_end = sink_end;
          plan.recent_begin = recent_begin;
          retention->Keep(layer, h, length, &plan.selected);
        }
        const auto count = static_cast<int64_t>(plan.selected.size());
        scratch.resize(static_cast<size_t>(group) * (count + dim));
        kernels::AttendGathered(q, group, dim, scale, keys, values, plan.selected.data(), count,
                                scratch.data(), piece(h, 2));
        continue;
      }
      scratch.resize(static_cast<size_t>(group) *
                     (std::max(sink_end, length - recent_begin) + dim));
      kernels::AttendPartial(q, group, dim, scale, keys, values, 0, sink_end, scratch.data(),
                             piece(h, 0));
      kernels::AttendPartial(q, group, dim, scale, keys, values, recent_begin, length,
                             scratch.data(), piece(h, 1));
    }
  });
  for (int h = 0; h < c.n_kv_head; ++h) {
    kernels::AttentionPiece into = piece(h, 0);
    kernels::MergeAttention(into, piece(h, 1), group, dim);
    kernels::MergeAttention(into, piece(h, 2), group, dim);
    std::memcpy(s.attn.data() + h * group * dim, into.out, sizeof(float) * group * dim);
    stats_.keys_attended +=
        static_cast<double>(sink_end + (length - recent_begin) + s.plans[h].selected.size());
  }
  if (retention != nullptr && retention->observes_decode()) {
    ObserveRetention(*retention, layer, length);
  }
  if (comparison_ != nullptr) Compare(layer, length);
}

void LlamaContext::AttendRetrieved(int layer, const float* q, float* pieces) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  internal::SparseAttention* state = sparse();
  const internal::PrefillQueries& kept = queries();
  Scratch& s = *scratch_;
  s.plans.resize(static_cast<size_t>(c.n_kv_head));
  team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head), 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> scratch, piece;
    for (size_t h = lo; h < hi; ++h) {
      const float* head_q = q + h * group * dim;
      internal::AttentionPlan& plan = s.plans[h];
      state->Select(layer, static_cast<int>(h), head_q, *cache_, sequence_, kept, &plan);
      const auto count = static_cast<int64_t>(plan.selected.size());
      scratch.resize(static_cast<size_t>(group) * (count + dim));
      piece.resize(static_cast<size_t>(group) * (2 + dim));
      const kernels::AttentionPiece p{piece.data(), piece.data() + group, piece.data() + 2 * group};
      kernels::AttendGathered(head_q, group, dim, c.attention_scale,
                              cache_->Keys(sequence_, layer, static_cast<int>(h)),
                              cache_->Values(sequence_, layer, static_cast<int>(h)),
                              plan.selected.data(), count, scratch.data(), p);
      for (int g = 0; g < group; ++g) {  // the GPU's layout: per query head [max, sum, out]
        float* dst = pieces + (h * group + g) * (dim + 2);
        dst[0] = p.max[g];
        dst[1] = p.sum[g];
        std::memcpy(dst + 2, p.out + g * dim, sizeof(float) * dim);
      }
    }
  });
}

void LlamaContext::Compare(int layer, int64_t length) {
  const auto start = Clock::now();
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  const float scale = c.attention_scale;
  Scratch& s = *scratch_;
  std::vector<double> mass(static_cast<size_t>(c.n_head)), err(static_cast<size_t>(c.n_head));
  team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head), 1, [&](size_t lo, size_t hi) {
    std::vector<float> scores(static_cast<size_t>(length));
    std::vector<float> scratch(static_cast<size_t>(group) * (length + dim));
    std::vector<float> full(static_cast<size_t>(group) * (2 + dim));
    std::vector<uint8_t> attended(static_cast<size_t>(length), 0);
    for (size_t h = lo; h < hi; ++h) {
      const internal::AttentionPlan& plan = s.plans[h];
      const kernels::KvRows keys = cache_->Keys(sequence_, layer, static_cast<int>(h));
      const kernels::KvRows values = cache_->Values(sequence_, layer, static_cast<int>(h));
      std::fill(attended.begin(), attended.end(), 0);
      std::fill(attended.begin(), attended.begin() + plan.sink_end, 1);
      std::fill(attended.begin() + plan.recent_begin, attended.end(), 1);
      for (int32_t p : plan.selected) attended[p] = 1;
      const float* q = s.q.data() + h * group * dim;
      kernels::AttendPartial(q, group, dim, scale, keys, values, 0, length, scratch.data(),
                             {full.data(), full.data() + group, full.data() + 2 * group});
      for (int g = 0; g < group; ++g) {
        kernels::GroupKeyScores(q + g * dim, 1, dim, keys, nullptr, 0, length, scores.data());
        float max = -INFINITY;
        for (float& x : scores) max = std::max(max, x *= scale);
        double total = 0.0, kept = 0.0;
        for (int64_t j = 0; j < length; ++j) {
          const double e = std::exp(static_cast<double>(scores[j] - max));
          total += e;
          if (attended[j]) kept += e;
        }
        const float* sparse_out = s.attn.data() + (h * group + g) * dim;
        const float* full_out = full.data() + 2 * group + g * dim;
        double diff = 0.0, norm = 0.0;
        for (int d = 0; d < dim; ++d) {
          diff += (sparse_out[d] - full_out[d]) * static_cast<double>(sparse_out[d] - full_out[d]);
          norm += static_cast<double>(full_out[d]) * full_out[d];
        }
        mass[h * group + g] = kept / total;
        err[h * group + g] = norm > 0.0 ? std::sqrt(diff / norm) : 0.0;
      }
    }
  });
  comparison_->layer_mass_recall_sum.resize(static_cast<size_t>(c.n_layer), 0.0);
  for (int i = 0; i < c.n_head; ++i) {
    comparison_->layer_mass_recall_sum[layer] += mass[i];
    comparison_->mass_recall_sum += mass[i];
    comparison_->output_rel_err_sum += err[i];
  }
  comparison_->count += c.n_head;
  comparison_->seconds += SecondsSince(start);
}

void LlamaContext::KeepPrefillQueries(int layer, int64_t pos0, int64_t n) {
  const AttentionOptions& a = options_.attention;
  const bool aware = a.kind == AttentionKind::kRetrieval &&
                     a.index == retrieval::KeyIndexKind::kAttentionAware && a.query_samples > 0;
  if (!aware && retention_policy_ == nullptr) return;
  const LlamaConfig& c = model_->config();
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim;
  internal::PrefillQueries& kept = queries();
  kept.stride = std::max<int64_t>(1, n_ctx() / std::max(1, a.query_samples));
  if (kept.recent_positions.empty()) {
    kept.recent_positions.assign(internal::PrefillQueries::kRecent, -1);
    kept.recent_rows.assign(static_cast<size_t>(c.n_layer),
                            std::vector<float>(internal::PrefillQueries::kRecent * q_dim));
  }
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = pos0 + t;
    const size_t slot = static_cast<size_t>(pos % internal::PrefillQueries::kRecent);
    if (layer == 0) kept.recent_positions[slot] = pos;
    std::memcpy(kept.recent_rows[layer].data() + slot * q_dim,
                scratch_->q.data() + t * q_dim, q_dim * sizeof(float));
    if (pos % kept.stride != 0) continue;
    if (layer == 0) kept.positions.push_back(pos);
    const float* row = scratch_->q.data() + t * q_dim;
    kept.rows[layer].insert(kept.rows[layer].end(), row, row + q_dim);
  }
}

void LlamaContext::EmbedAndPlaceRows(std::span<const int32_t> tokens) {
  const LlamaConfig& c = model_->config();
  Scratch& s = *scratch_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t E = c.n_embd;
  const WeightMatrix& embd = model_->token_embedding();
  for (int64_t t = 0; t < n; ++t) {
    float* row = s.x.data() + t * E;
    kernels::DequantizeRow(embd.type, embd.data + static_cast<size_t>(tokens[t]) * embd.row_bytes,
                           row, E);
    if (c.embedding_scale != 1.0f) {
      for (int64_t i = 0; i < E; ++i) row[i] *= c.embedding_scale;
    }
  }
  const std::span<const int64_t> positions(s.row_pos.data(), static_cast<size_t>(n));
  internal::FillRopeAngles(positions, c.rope_dim, c.rope_freq_base, c.rope_freq_scale,
                 model_->rope_freq_factors(), s.rope_cos.data(), s.rope_sin.data());
  if (c.sliding_window > 0) {  // local layers: their own base, never scaled
    internal::FillRopeAngles(positions, c.rope_dim, c.rope_freq_base_local, 1.0f, {},
                   s.rope_cos_local.data(), s.rope_sin_local.data());
  }
}

void LlamaContext::Rope(float* v, int64_t stride, int heads, int64_t n, bool local) {
  const LlamaConfig& c = model_->config();
  const Scratch& s = *scratch_;
  const int half = c.rope_dim / 2;
  const float* cos_table = local ? s.rope_cos_local.data() : s.rope_cos.data();
  const float* sin_table = local ? s.rope_sin_local.data() : s.rope_sin.data();
  team_.ParallelFor(0, static_cast<size_t>(n), 16, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const float* cs = cos_table + t * half;
      const float* sn = sin_table + t * half;
      for (int h = 0; h < heads; ++h) {
        float* x = v + t * stride + static_cast<int64_t>(h) * c.head_dim;
        for (int i = 0; i < half; ++i) {
          const int a = c.rope_style == RopeStyle::kNeox ? i : 2 * i;
          const int b = c.rope_style == RopeStyle::kNeox ? i + half : 2 * i + 1;
          const float x0 = x[a], x1 = x[b];
          x[a] = x0 * cs[i] - x1 * sn[i];
          x[b] = x0 * sn[i] + x1 * cs[i];
        }
      }
    }
  });
}

void LlamaContext::NormRows(const std::vector<float>& weight, int64_t first, int64_t count) {
  const LlamaConfig& c = model_->config();
  Scratch& s = *scratch_;
  const int64_t E = c.n_embd;
  team_.ParallelFor(0, static_cast<size_t>(count), 16, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      RmsNorm(s.x.data() + (first + t) * E, weight.data(), E, c.rms_eps, s.norm.data() + t * E);
    }
  });
}

void LlamaContext::NormInPlace(const std::vector<float>& weight, float* rows, int64_t count,
                               int64_t width) {
  const float eps = model_->config().rms_eps;
  team_.ParallelFor(0, static_cast<size_t>(count), 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      RmsNorm(rows + r * width, weight.data(), width, eps, rows + r * width);
    }
  });
}

void LlamaContext::EvalLayer(int l, int64_t n, bool batch) {
  const LlamaConfig& c = model_->config();
  Scratch& s = *scratch_;
  const int64_t E = c.n_embd;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_head) * c.head_dim;
  auto add_bias = [&](std::vector<float>& out, const std::vector<float>& bias, int64_t dim) {
    if (bias.empty()) return;
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < dim; ++i) out[t * dim + i] += bias[i];
    }
  };
  // A branch's output (in s.norm) joins the residual stream, normed first where the model says.
  auto add_residual = [&](const std::vector<float>& post_norm) {
    if (!post_norm.empty()) NormInPlace(post_norm, s.norm.data(), n, E);
    for (int64_t i = 0; i < n * E; ++i) s.x[i] += s.norm[i];
  };
  const LlamaLayerWeights& w = model_->layers()[l];
  NormRows(w.attn_norm, 0, n);
  Linear({{&w.wq, s.q.data()}, {&w.wk, s.k.data()}, {&w.wv, s.v.data()}}, s.norm.data(), n);
  add_bias(s.q, w.bq, q_dim);
  add_bias(s.k, w.bk, kv_dim);
  add_bias(s.v, w.bv, kv_dim);
  if (!w.q_norm.empty()) NormInPlace(w.q_norm, s.q.data(), n * c.n_head, c.head_dim);
  if (!w.k_norm.empty()) NormInPlace(w.k_norm, s.k.data(), n * c.n_kv_head, c.head_dim);
  Rope(s.q.data(), q_dim, c.n_head, n, w.sliding);
  Rope(s.k.data(), kv_dim, c.n_kv_head, n, w.sliding);
  for (int64_t t = 0; t < n; ++t) {
    cache_->Store(s.row_seq[t], l, s.row_pos[t], s.k.data() + t * kv_dim,
                  s.v.data() + t * kv_dim);
  }
  if (batch) {
    BatchDecodeAttention(l, n);
  } else {
    if (n > 1) KeepPrefillQueries(l, s.row_pos[0], n);
    Attention(l, s.row_pos[0], n);
  }
  Linear({{&w.wo, s.norm.data()}}, s.attn.data(), n);
  add_residual(w.post_attn_norm);
  NormRows(w.ffn_norm, 0, n);
  Linear({{&w.w_gate, s.gate.data()}, {&w.w_up, s.up.data()}}, s.norm.data(), n);
  const bool gelu = c.ffn_activation == FfnActivation::kGeluTanh;
  team_.ParallelFor(0, static_cast<size_t>(n), 4, [&](size_t t0, size_t t1) {
    float* gate = s.gate.data() + t0 * c.n_ff;
    const float* up = s.up.data() + t0 * c.n_ff;
    const int64_t count = static_cast<int64_t>(t1 - t0) * c.n_ff;
    if (gelu) {
      kernels::GeluTanhGlu(gate, up, gate, count);
    } else {
      kernels::SwiGlu(gate, up, gate, count);
    }
  });
  Linear({{&w.w_down, s.norm.data()}}, s.gate.data(), n);
  add_residual(w.post_ffn_norm);
}

Status LlamaContext::EvalBatch(std::span<const int32_t> tokens, int64_t pos0, float* logits,
                               bool all_logits) {
  Scratch& s = *scratch_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  s.row_seq.assign(static_cast<size_t>(n), sequence_);
  s.row_pos.resize(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) s.row_pos[t] = pos0 + t;
  return EvalRows(tokens, logits, all_logits ? 0 : n - 1, /*batch=*/false);
}

Status LlamaContext::EvalRows(std::span<const int32_t> tokens, float* logits,
                              int64_t first_logit, bool batch) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  // Offloaded, only single decode steps run on the GPU; the rest writes the host cache here.
  const bool on_gpu = cuda_ != nullptr && (!offloaded() || (n == 1 && !batch));
  if (on_gpu) {
    const Scratch& s = *scratch_;
    internal::ForwardRows rows{tokens, {s.row_seq.data(), tokens.size()},
                               {s.row_pos.data(), tokens.size()}, batch};
    if (offloaded()) {
      rows.offload = offload_.get();
      if (offload_stale_) {
        if (Status st = cuda_->Upload(*cache_, sequence_); !st.ok()) return st;
        offload_stale_ = false;
      }
    }
    return cuda_->Eval(*cache_, rows, logits, first_logit);
  }
  offload_stale_ = offloaded();
  EmbedAndPlaceRows(tokens);
  for (int l = 0; l < model_->config().n_layer; ++l) EvalLayer(l, n, batch);
  if (logits == nullptr) return Status::OK();
  const int64_t count = n - first_logit;
  NormRows(model_->output_norm(), first_logit, count);
  Linear({{&model_->output(), logits}}, scratch_->norm.data(), count);
  return Status::OK();
}

Status LlamaContext::Reserve(SequenceId seq, int64_t positions) {
  if (cuda_ == nullptr) return cache_->Reserve(seq, positions);
  std::vector<PagedKvCache::BlockCopy> copies;
  if (Status s = cache_->Reserve(seq, positions, &copies); !s.ok()) return s;
  return cuda_->CopyBlocks(copies);
}

Status LlamaContext::ChooseDevice() {
  if (options_.device == Device::kCpu) return Status::OK();
  Result<std::unique_ptr<internal::CudaForward>> gpu =
      internal::CreateCudaForward(model_, options_, *cache_);
  if (gpu.ok()) {
    cuda_ = std::move(*gpu);
    options_.device = Device::kCuda;
    if (options_.kv_offload) offload_ = std::make_unique<OffloadAdapter>(*this);
    return Status::OK();
  }
  if (options_.device == Device::kCuda) {
    return Status(gpu.status().code(), "--device cuda: " + std::string(gpu.status().message()) +
                                           "; --device cpu or auto runs on the CPU");
  }
  // auto: the CPU, said once per process (a server makes many contexts).
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) {
    spdlog::warn("device auto: running on the CPU because {}", gpu.status().message());
  }
  options_.device = Device::kCpu;
  return Status::OK();
}

Status LlamaContext::CheckGpuFeatures() const {
  if (cuda_ == nullptr) return Status::OK();
  if (retention_policy_ != nullptr || comparison_ != nullptr) {
    return Status::Unavailable(std::string("context: ") +
                               (retention_policy_ != nullptr ? "KV retention policies"
                                                             : "attention comparison") +
                               " run on the CPU only; this context runs on " + device_name() +
                               " (use --device cpu)");
  }
  return Status::OK();
}

std::string LlamaContext::device_name() const {
  return cuda_ != nullptr ? cuda_->device_name() : std::string();
}

double LlamaContext::device_peak_bandwidth() const {
  return cuda_ != nullptr ? cuda_->peak_bandwidth() : 0.0;
}

Status LlamaContext::DecodeBatch(std::span<const BatchEntry> entries) {
  const LlamaConfig& c = model_->config();
  if (entries.size() > static_cast<size_t>(options_.n_ubatch)) {
    return Status::InvalidArgument("decode batch: " + std::to_string(entries.size()) +
                                   " sequences is more than n_ubatch " +
                                   std::to_string(options_.n_ubatch));
  }
  std::vector<SequenceId> seen;
  for (const BatchEntry& e : entries) {
    if (!cache_->Has(e.seq) || std::find(seen.begin(), seen.end(), e.seq) != seen.end()) {
      return Status::InvalidArgument("decode batch: sequence " + std::to_string(e.seq) +
                                     (cache_->Has(e.seq) ? " appears twice" : " does not exist"));
    }
    seen.push_back(e.seq);
    if (e.token < 0 || e.token >= c.n_vocab) {
      return Status::InvalidArgument("decode batch: token " + std::to_string(e.token) +
                                     " of sequence " + std::to_string(e.seq) +
                                     " is outside the vocabulary");
    }
    if (cache_->length(e.seq) >= n_ctx()) {
      return Status::OutOfRange("decode batch: sequence " + std::to_string(e.seq) +
                                " is full (" + std::to_string(n_ctx()) + " positions)");
    }
  }
  if (Status s = CheckGpuFeatures(); !s.ok()) return s;
  for (const BatchEntry& e : entries) {
    if (Status s = Reserve(e.seq, cache_->length(e.seq) + 1); !s.ok()) return s;
  }
  if (entries.empty()) {
    logits_.clear();
    return Status::OK();
  }
  const auto step_start = Clock::now();
  Scratch& s = *scratch_;
  const size_t n = entries.size();
  std::vector<int32_t> tokens(n);
  s.row_seq.resize(n);
  s.row_pos.resize(n);
  for (size_t i = 0; i < n; ++i) {
    tokens[i] = entries[i].token;
    s.row_seq[i] = entries[i].seq;
    s.row_pos[i] = cache_->length(entries[i].seq);
  }
  logits_.resize(n * static_cast<size_t>(c.n_vocab));
  if (Status st = EvalRows(tokens, logits_.data(), 0, /*batch=*/true); !st.ok()) return st;
  for (size_t i = 0; i < n; ++i) cache_->Commit(s.row_seq[i], s.row_pos[i] + 1);
  stats_.steps += 1;
  stats_.seconds += SecondsSince(step_start);
  return Status::OK();
}

void LlamaContext::BatchDecodeAttention(int layer, int64_t n) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * dim;
  const float scale = c.attention_scale;
  Scratch& s = *scratch_;
  const auto start = Clock::now();
  // One task per (row, KV head): each row is one query of its own sequence over that
  // sequence's cache (its own position included, stored above). The arithmetic is Eval's for
  // one token (a causal block below kDecodeKeysPerPiece keys, else pieces of that many keys
  // merged in order), so a sequence decodes to the same logits batched or alone.
  team_.ParallelFor(0, static_cast<size_t>(n * c.n_kv_head), 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> scratch, pieces;
    for (size_t task = lo; task < hi; ++task) {
      const int64_t t = static_cast<int64_t>(task) / c.n_kv_head;
      const int h = static_cast<int>(task % c.n_kv_head);
      const kernels::KvRows keys = cache_->Keys(s.row_seq[t], layer, h);
      const kernels::KvRows values = cache_->Values(s.row_seq[t], layer, h);
      const int64_t length = s.row_pos[t] + 1;
      const size_t offset = t * q_dim + h * group * dim;
      if (length <= kDecodeKeysPerPiece && FirstKey(layer, length) == 0) {
        scratch.resize(kernels::AttendCausalScratchFloats(1, group, dim, length));
        kernels::AttendCausal(s.q.data() + offset, q_dim, 1, group, dim, scale, keys, values,
                              length - 1, scratch.data(), s.attn.data() + offset, q_dim);
        continue;
      }
      const size_t piece_floats = static_cast<size_t>(group) * (2 + dim);
      pieces.resize(2 * piece_floats);
      scratch.resize(static_cast<size_t>(group) * (kDecodeKeysPerPiece + dim));
      float* into = pieces.data();
      float* next = pieces.data() + piece_floats;
      const int64_t first = FirstKey(layer, length);
      for (int64_t begin = first; begin < length; begin += kDecodeKeysPerPiece) {
        float* buf = begin == first ? into : next;
        kernels::AttendPartial(s.q.data() + offset, group, dim, scale, keys, values, begin,
                               std::min(length, begin + kDecodeKeysPerPiece), scratch.data(),
                               {buf, buf + group, buf + 2 * group});
        if (begin > first) {
          kernels::MergeAttention({into, into + group, into + 2 * group},
                                  {next, next + group, next + 2 * group}, group, dim);
        }
      }
      std::memcpy(s.attn.data() + offset, into + 2 * group, sizeof(float) * group * dim);
    }
  });
  stats_.attention_seconds += SecondsSince(start);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t length = s.row_pos[t] + 1;
    stats_.keys_attended += static_cast<double>(length - FirstKey(layer, length)) * c.n_kv_head;
  }
}

}  // namespace engram::inference
