#include "inference/internal/cuda_weights.h"

#include <map>
#include <mutex>
#include <utility>

namespace engram::inference::internal {
namespace {

namespace cuda = kernels::cuda;

constexpr size_t kAlign = 256;  // every piece starts on a 256-byte boundary

size_t Aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Lays out the pieces in one buffer: a first pass counts (base == null), a second copies.
class Packer {
 public:
  explicit Packer(uint8_t* base) : base_(base) {}

  Status Matrix(const WeightMatrix& w, cuda::DeviceMatrix* out) {
    const size_t bytes = w.row_bytes * static_cast<size_t>(w.rows);
    *out = {w.type, base_ + offset_, w.rows, w.cols, w.row_bytes};
    return Piece(w.data, bytes);
  }
  Status Vector(const std::vector<float>& v, const float** out) {
    *out = v.empty() ? nullptr : reinterpret_cast<const float*>(base_ + offset_);
    return Piece(v.data(), sizeof(float) * v.size());
  }
  size_t size() const { return offset_; }

 private:
  Status Piece(const void* src, size_t bytes) {
    if (bytes == 0) return Status::OK();
    if (base_ != nullptr) {
      if (Status s = cuda::CopyToDevice(base_ + offset_, src, bytes); !s.ok()) return s;
    }
    offset_ += Aligned(bytes);
    return Status::OK();
  }

  uint8_t* base_;
  size_t offset_ = 0;
};

Status PackLayer(const LlamaLayerWeights& w, Packer& p, DeviceLayerWeights* out) {
  out->sliding = w.sliding;
  for (auto [src, dst] : {std::pair{&w.wq, &out->wq}, {&w.wk, &out->wk}, {&w.wv, &out->wv},
                          {&w.wo, &out->wo}, {&w.w_gate, &out->w_gate}, {&w.w_up, &out->w_up},
                          {&w.w_down, &out->w_down}}) {
    if (Status s = p.Matrix(*src, dst); !s.ok()) return s;
  }
  for (auto [src, dst] :
       {std::pair{&w.attn_norm, &out->attn_norm}, {&w.ffn_norm, &out->ffn_norm},
        {&w.bq, &out->bq}, {&w.bk, &out->bk}, {&w.bv, &out->bv}, {&w.q_norm, &out->q_norm},
        {&w.k_norm, &out->k_norm}, {&w.post_attn_norm, &out->post_attn_norm},
        {&w.post_ffn_norm, &out->post_ffn_norm}}) {
    if (Status s = p.Vector(*src, dst); !s.ok()) return s;
  }
  return Status::OK();
}

// Everything in one pass of `p` (counting or copying).
Status PackModel(const LlamaModel& model, Packer& p, DeviceWeights* out) {
  if (Status s = p.Matrix(model.token_embedding(), &out->token_embedding); !s.ok()) return s;
  if (model.output().data == model.token_embedding().data) {
    out->output = out->token_embedding;  // tied: one copy
  } else if (Status s = p.Matrix(model.output(), &out->output); !s.ok()) {
    return s;
  }
  if (Status s = p.Vector(model.output_norm(), &out->output_norm); !s.ok()) return s;
  out->layers.resize(model.layers().size());
  for (size_t l = 0; l < model.layers().size(); ++l) {
    if (Status s = PackLayer(model.layers()[l], p, &out->layers[l]); !s.ok()) return s;
  }
  return Status::OK();
}

Result<std::shared_ptr<DeviceWeights>> Upload(const std::shared_ptr<const LlamaModel>& model,
                                              int gpu) {
  auto weights = std::make_shared<DeviceWeights>();
  weights->model = model;
  weights->gpu = gpu;
  Packer count(nullptr);
  if (Status s = PackModel(*model, count, weights.get()); !s.ok()) return s;
  Result<cuda::DeviceBuffer> memory = cuda::DeviceBuffer::Allocate(count.size());
  if (!memory.ok()) return memory.status().WithContext("uploading the model's weights");
  weights->memory = std::move(*memory);
  weights->bytes = count.size();
  Packer copy(weights->memory.as<uint8_t>());
  if (Status s = PackModel(*model, copy, weights.get()); !s.ok()) return s;
  return weights;
}

}  // namespace

std::string UnsupportedWeight(const LlamaModel& model) {
  auto check = [](const WeightMatrix& w) -> std::string {
    if (cuda::MatMulSupported(w.type) && w.cols % 32 == 0) return "";
    return w.name + " (" + std::string(TensorTypeName(w.type)) + ")";
  };
  for (const WeightMatrix* w : {&model.token_embedding(), &model.output()}) {
    if (std::string bad = check(*w); !bad.empty()) return bad;
  }
  for (const LlamaLayerWeights& l : model.layers()) {
    for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (std::string bad = check(*w); !bad.empty()) return bad;
    }
  }
  return "";
}

Result<std::shared_ptr<const DeviceWeights>> SharedDeviceWeights(
    const std::shared_ptr<const LlamaModel>& model, int gpu) {
  static std::mutex mutex;
  static std::map<std::pair<const LlamaModel*, int>, std::weak_ptr<const DeviceWeights>> uploaded;
  std::lock_guard<std::mutex> lock(mutex);
  std::weak_ptr<const DeviceWeights>& slot = uploaded[{model.get(), gpu}];
  if (std::shared_ptr<const DeviceWeights> held = slot.lock()) return held;
  Result<std::shared_ptr<DeviceWeights>> fresh = Upload(model, gpu);
  if (!fresh.ok()) return fresh.status();
  slot = *fresh;
  return std::shared_ptr<const DeviceWeights>(std::move(*fresh));
}

}  // namespace engram::inference::internal
