#include "compress/kv_retention.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "inference/key_selection.h"

namespace engram::compress {
namespace {

using inference::KvRetention;

// 1-D pooling of `in` over positions, same length, windows clipped at the ends (max pool) or
// divided by the full width (average pool, as torch's avg_pool1d with zero padding).
std::vector<float> Pool(std::span<const float> in, int kernel, RetentionPool pool) {
  const auto n = static_cast<int64_t>(in.size());
  const int64_t r = kernel / 2;
  std::vector<float> out(in.size());
  for (int64_t j = 0; j < n; ++j) {
    float acc = pool == RetentionPool::kMax ? in[j] : 0.0f;
    for (int64_t i = std::max<int64_t>(0, j - r); i <= std::min(n - 1, j + r); ++i) {
      acc = pool == RetentionPool::kMax ? std::max(acc, in[i]) : acc + in[i];
    }
    out[j] = pool == RetentionPool::kMax ? acc : acc / static_cast<float>(kernel);
  }
  return out;
}

// What both policies share: the exact ranges, per-(layer, KV head) slots and their eviction
// counts. A slot is touched only by calls for its own (layer, KV head).
template <typename Slot>
class SlottedRetention : public KvRetention {
 public:
  explicit SlottedRetention(const KvRetentionOptions& o) : options_(o) {}

  std::pair<int64_t, int64_t> ExactRanges(int64_t length) const override {
    const int64_t sink_end = std::min<int64_t>(options_.sinks, length);
    return {sink_end, std::max(sink_end, length - options_.window)};
  }
  int64_t evicted(int layer, int kv_head) const override {
    const Slot* s = Find(layer, kv_head);
    return s == nullptr ? 0 : s->evicted;
  }

 protected:
  // Start (serial) makes the slot of its (layer, KV head); Keep and Observe, which run
  // concurrently, only look slots up (map::at is safe beside other lookups).
  Slot& Make(int layer, int kv_head) { return slots_[{layer, kv_head}]; }
  Slot& At(int layer, int kv_head) { return slots_.at({layer, kv_head}); }
  const Slot* Find(int layer, int kv_head) const {
    auto it = slots_.find({layer, kv_head});
    return it == slots_.end() ? nullptr : &it->second;
  }
  std::string Common() const {
    char buf[96];
    std::snprintf(buf, sizeof buf, " budget %g, sinks %d, window %d", options_.budget,
                  options_.sinks, options_.window);
    return std::string(RetentionKindName(options_.kind)) + buf;
  }

  KvRetentionOptions options_;
  std::map<std::pair<int, int>, Slot> slots_;
};

struct SnapSlot {
  std::vector<float> pooled;  // pooled prefill attention, until the first Keep compresses
  bool compressed = false;
  std::vector<int32_t> kept;  // the prompt's middle keys kept, ascending
  int64_t compressed_end = 0;  // keys from here on were never candidates: all kept
  int64_t evicted = 0;
};

class SnapKv final : public SlottedRetention<SnapSlot> {
 public:
  using SlottedRetention::SlottedRetention;
  std::string Describe() const override {
    char buf[96];
    std::snprintf(buf, sizeof buf, ", observation %d, %s pool %d", options_.observation,
                  options_.pool == RetentionPool::kMax ? "max" : "avg", options_.pool_kernel);
    return Common() + buf;
  }
  Observation observation() const override { return {.last = options_.observation}; }
  bool observes_decode() const override { return false; }
  void Start(int layer, int kv_head, std::span<const float> attention) override {
    Make(layer, kv_head).pooled = Pool(attention, options_.pool_kernel, options_.pool);
  }
  void Keep(int layer, int kv_head, int64_t length, std::vector<int32_t>* middle) override {
    SnapSlot& s = At(layer, kv_head);
    const auto [begin, end] = ExactRanges(length);
    if (!s.compressed) {
      s.compressed = true;
      s.compressed_end = end;
      std::vector<float> scores;
      for (int64_t p = begin; p < end; ++p) {
        s.kept.push_back(static_cast<int32_t>(p));
        scores.push_back(p < static_cast<int64_t>(s.pooled.size()) ? s.pooled[p] : 0.0f);
      }
      inference::KeepBest(&s.kept, scores, inference::MiddleBudget(options_.budget, length));
      s.evicted = (end - begin) - static_cast<int64_t>(s.kept.size());
      s.pooled = {};
    }
    *middle = s.kept;
    for (int64_t p = std::max(begin, s.compressed_end); p < end; ++p) {
      middle->push_back(static_cast<int32_t>(p));
    }
  }
  void Observe(int, int, std::span<const int32_t>, std::span<const float>) override {}
  std::unique_ptr<KvRetention> Clone() const override { return std::make_unique<SnapKv>(*this); }
};

struct HeavySlot {
  std::vector<float> score;   // accumulated attention per position
  std::vector<int32_t> kept;  // middle keys kept, ascending
  int64_t middle_end = -1;    // keys below it have joined the middle (-1: none yet)
  int64_t evicted = 0;
};

class HeavyHitters final : public SlottedRetention<HeavySlot> {
 public:
  using SlottedRetention::SlottedRetention;
  std::string Describe() const override { return Common(); }
  Observation observation() const override { return {.sampled = true}; }
  bool observes_decode() const override { return true; }
  void Start(int layer, int kv_head, std::span<const float> attention) override {
    Make(layer, kv_head).score.assign(attention.begin(), attention.end());
  }
  void Keep(int layer, int kv_head, int64_t length, std::vector<int32_t>* middle) override {
    HeavySlot& s = At(layer, kv_head);
    const auto [begin, end] = ExactRanges(length);
    if (s.score.size() < static_cast<size_t>(length)) s.score.resize(static_cast<size_t>(length));
    // Keys that left the window join the middle, then the least attended go.
    for (int64_t p = std::max(begin, s.middle_end); p < end; ++p) {
      s.kept.push_back(static_cast<int32_t>(p));
    }
    s.middle_end = std::max(s.middle_end, end);
    const int64_t want = inference::MiddleBudget(options_.budget, length);
    if (static_cast<int64_t>(s.kept.size()) > want) {
      thread_local std::vector<float> scores;
      scores.clear();
      for (int32_t p : s.kept) scores.push_back(s.score[p]);
      const auto before = static_cast<int64_t>(s.kept.size());
      inference::KeepBest(&s.kept, scores, want);
      s.evicted += before - static_cast<int64_t>(s.kept.size());
    }
    *middle = s.kept;
  }
  void Observe(int layer, int kv_head, std::span<const int32_t> positions,
               std::span<const float> attention) override {
    HeavySlot& s = At(layer, kv_head);
    for (size_t i = 0; i < positions.size(); ++i) {
      const auto p = static_cast<size_t>(positions[i]);
      if (p >= s.score.size()) s.score.resize(p + 1);
      s.score[p] += attention[i];
    }
  }
  std::unique_ptr<KvRetention> Clone() const override {
    return std::make_unique<HeavyHitters>(*this);
  }
};

}  // namespace

std::string_view RetentionKindName(RetentionKind kind) {
  return kind == RetentionKind::kSnapKv ? "snapkv" : "h2o";
}

Result<RetentionKind> ParseRetentionKind(std::string_view name) {
  for (RetentionKind k : {RetentionKind::kSnapKv, RetentionKind::kH2O}) {
    if (name == RetentionKindName(k)) return k;
  }
  return Status::InvalidArgument("KV retention policy '" + std::string(name) +
                                 "' is unknown; use snapkv or h2o");
}

Status ValidateKvRetentionOptions(const KvRetentionOptions& o) {
  auto bad = [](std::string_view field, const std::string& value, std::string_view range) {
    return Status::InvalidArgument("KV retention: " + std::string(field) + " " + value +
                                   " is out of range; use " + std::string(range));
  };
  if (Status s = inference::ValidateKeyBudget("KV retention", o.budget, o.sinks, o.window);
      !s.ok()) {
    return s;
  }
  if (o.observation < 1 || o.observation > 64) {
    return bad("observation", std::to_string(o.observation), "1..64 prefill positions");
  }
  if (o.pool_kernel < 1 || o.pool_kernel > 63 || o.pool_kernel % 2 == 0) {
    return bad("pool kernel", std::to_string(o.pool_kernel), "an odd width in 1..63");
  }
  return Status::OK();
}

Result<std::unique_ptr<KvRetention>> MakeKvRetention(const KvRetentionOptions& o) {
  if (Status s = ValidateKvRetentionOptions(o); !s.ok()) return s;
  if (o.kind == RetentionKind::kSnapKv) return std::unique_ptr<KvRetention>(new SnapKv(o));
  return std::unique_ptr<KvRetention>(new HeavyHitters(o));
}

}  // namespace engram::compress
