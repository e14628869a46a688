#include "app/engine_flags.h"

#include "app/cli.h"

namespace engram::app {

Result<inference::EngineOptions> EngineFlags::Resolve() const {
  inference::EngineOptions out = options;
  Result<TensorType> kv = inference::ParseKvType(kv_type);
  if (!kv.ok()) return kv.status().WithContext("--kv-type");
  out.context.kv_type = *kv;
  Result<inference::Device> where = inference::ParseDevice(device);
  if (!where.ok()) return where.status().WithContext("--device");
  out.context.device = *where;
  Result<inference::AttentionOptions> policy =
      inference::ParseAttentionPolicy(attention, options.context.attention);
  if (!policy.ok()) return policy.status().WithContext("--attention");
  out.context.attention = *policy;
  if (seed >= 0) out.generation.sampler.seed = static_cast<uint64_t>(seed);
  return out;
}

void AddModelFlags(CLI::App* cmd, EngineFlags* flags) {
  inference::EngineOptions& o = flags->options;
  cmd->add_option("-m,--model", o.model,
                  "A .gguf model, or a model name such as gemma3 (default: the default generator)");
  cmd->add_option("--ctx", o.context.n_ctx, "Context length (0: the model's training context)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 22));
  AddThreadsOption(cmd, &o.context.n_threads);
  cmd->add_option("--kv-type", flags->kv_type, "KV cache entries: f16 or f32")
      ->capture_default_str();
  AddDeviceFlags(cmd, &flags->device, &o.context.gpu);
  cmd->add_option("--chat-template", o.chat_template,
                  "chatml, llama2, llama3, mistral or gemma instead of the model's");
}

void AddDeviceFlags(CLI::App* cmd, std::string* device, int* gpu) {
  cmd->add_option("--device", *device,
                  "Where the model runs: cpu, cuda, or auto (the GPU when one can, else the CPU)")
      ->capture_default_str();
  cmd->add_option("--gpu", *gpu, "Which GPU (CUDA device index) for --device cuda|auto")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
}

void AddAttentionFlags(CLI::App* cmd, EngineFlags* flags) {
  inference::AttentionOptions& a = flags->options.context.attention;
  cmd->add_option("--attention", flags->attention,
                  "Decode attention: full, window, quest, retrieval[:exact|ivf|aware]")
      ->capture_default_str();
  cmd->add_option("--budget", a.budget,
                  "Sparse attention: share of the context attended besides sinks and window")
      ->capture_default_str()
      ->check(FiniteIn(0, 1, /*lo_open=*/true));
  cmd->add_option("--sinks", a.sinks, "Sparse attention: first positions always attended")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_option("--window", a.window, "Sparse attention: recent positions always attended")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_flag("--kv-offload", flags->options.context.kv_offload,
                "With --device cuda and --attention retrieval: keep the cache and its key indexes "
                "in host memory, the sinks and window on the GPU (contexts beyond GPU memory)");
}

void AddSamplerFlags(CLI::App* cmd, EngineFlags* flags) {
  inference::SamplerOptions& s = flags->options.generation.sampler;
  cmd->add_option("--temp,--temperature", s.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str()
      ->check(FiniteIn(0, 1e6));
  cmd->add_option("--top-k", s.top_k, "Keep the K most likely tokens (0 = off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--top-p", s.top_p, "Nucleus sampling mass (1 = off)")
      ->capture_default_str()
      ->check(FiniteIn(0, 1));
  cmd->add_option("--min-p", s.min_p,
                  "Drop tokens below this fraction of the top probability (0 = off)")
      ->capture_default_str()
      ->check(FiniteIn(0, 1));
  cmd->add_option("--repeat-penalty", s.repeat_penalty,
                  "Penalty for recently seen tokens (1 = off)")
      ->capture_default_str()
      ->check(FiniteIn(0, 1e6, /*lo_open=*/true));
  cmd->add_option("--frequency-penalty", s.frequency_penalty,
                  "Subtract count × F from seen tokens' logits")
      ->capture_default_str()
      ->check(FiniteIn(-1e6, 1e6));
  cmd->add_option("--presence-penalty", s.presence_penalty, "Subtract P from seen tokens' logits")
      ->capture_default_str()
      ->check(FiniteIn(-1e6, 1e6));
  cmd->add_option("--repeat-last-n", s.penalty_last_n,
                  "Recent tokens the penalties consider (0 = off, -1 = all)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 30));
  cmd->add_option("--seed", flags->seed, "Random seed (default: random)");
}

}  // namespace engram::app
