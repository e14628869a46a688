// engram ask [-c COLLECTION | FILE…] QUESTION [--mode rag|long|auto] [-k K] [--budget-tokens N]
//            [--max-tokens N] [--compress] [--extractive] [--kv-cache-limit SIZE] [--json]
//            [-m MODEL] [--ctx N] [--threads N] [--attention POLICY] [--budget B] …
// Answers a question from documents with citations (agent/qa.h). FILE… are ingested once into a
// collection under the data dir (agent/ask_documents.h); long mode keeps the documents' KV cache
// under <data dir>/kv. The answer streams to a terminal; --json prints one object.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "agent/ask_documents.h"
#include "agent/document_kv_cache.h"
#include "agent/qa.h"
#include "agent/qa_json.h"
#include "app/cli.h"
#include "app/collection_path.h"
#include "app/engine_flags.h"
#include "common/json_write.h"
#include "common/paths.h"
#include "inference/bert_embedder.h"

namespace engram::app {
namespace {

struct AskFlags {
  EngineFlags engine;
  std::vector<std::string> args;  // FILE… QUESTION
  std::string collection;
  std::string mode = "auto";
  agent::AskOptions ask;
  uint64_t kv_cache_limit = uint64_t{4} << 30;
  bool compress = false;
  bool json = false;
};

// " | compressed 12 sources (2110 tokens) to 9 (890) in 3 ms", or "" when nothing was.
std::string Compression(const agent::Answer& a) {
  const agent::AskCompression& c = a.compression;
  if (!c.applied) return "";
  char line[160];
  std::snprintf(line, sizeof line, " | compressed %d sources (%lld tokens) to %d (%lld) in %.0f ms",
                c.sources_in, static_cast<long long>(c.tokens_in), c.sources_out,
                static_cast<long long>(c.tokens_out), a.timing.compress_ms);
  return line;
}

void PrintAnswer(const agent::Answer& a, bool streamed) {
  if (!streamed) std::printf("%s\n", a.text.c_str());
  else std::printf("\n");
  if (!a.citations.empty()) {
    std::printf("\n%s\n", a.citations.front().supporting ? "Supporting passages:" : "Sources:");
  }
  for (const agent::Citation& c : a.citations) {
    const std::string label = c.supporting ? "-" : "[" + std::to_string(c.source) + "]";
    std::printf("%s %s:%zu-%zu \"%s\"\n", label.c_str(), Printable(c.document).c_str(), c.begin,
                c.end, c.snippet.c_str());
  }
  for (int n : a.dropped_citations) {
    std::fprintf(stderr, "ask: dropped citation [%d]: no source %d was in the prompt\n", n, n);
  }
  if (!a.note.empty()) std::fprintf(stderr, "ask: %s\n", a.note.c_str());
  const agent::AskTiming& t = a.timing;
  std::fprintf(stderr,
               "mode %s%s | retrieve %.0f ms%s | %s %.0f ms | first token %.0f ms | decode %.1f "
               "tokens/s | %lld tokens read\n",
               std::string(agent::AskModeName(a.mode)).c_str(), a.extractive ? " (extractive)" : "",
               t.retrieve_ms, Compression(a).c_str(), t.cache_hit ? "cache load" : "prefill",
               t.cache_hit ? t.cache_load_ms : t.prefill_ms, t.ttft_ms, t.decode_tokens_per_s,
               static_cast<long long>(t.prompt_tokens));
}

// The generator, or none when the default one is not installed (answers are then extractive).
Result<std::unique_ptr<inference::Engine>> LoadEngine(const AskFlags& flags, bool* missing) {
  ENGRAM_TRY_ASSIGN(inference::EngineOptions options, flags.engine.Resolve());
  Result<std::unique_ptr<inference::Engine>> engine = inference::Engine::Load(options);
  if (!engine.ok() && engine.status().code() == StatusCode::kNotFound && options.model.empty()) {
    *missing = true;
    return std::unique_ptr<inference::Engine>();
  }
  return engine;
}

Status Run(const GlobalFlags& global, const AskFlags& flags) {
  if (flags.args.empty()) return Status::InvalidArgument("ask: no question; give it as the last argument");
  const std::string question = flags.args.back();
  const std::vector<std::string> files(flags.args.begin(), flags.args.end() - 1);
  if (files.empty() == flags.collection.empty()) {
    return Status::InvalidArgument(files.empty()
                                       ? "ask: no documents; give FILE… before the question, or -c COLLECTION"
                                       : "ask: give FILE… or -c COLLECTION, not both");
  }
  agent::AskOptions ask = flags.ask;
  ask.compress = flags.compress;
  ENGRAM_TRY_ASSIGN(ask.mode, agent::ParseAskMode(flags.mode));
  if (Status st = agent::ValidateAskOptions(ask); !st.ok()) return st;
  if (question.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument("ask: the question is empty; give it as the last argument");
  }
  if (Status st = retrieval::ValidateSearch(question, {}); !st.ok()) return st.WithContext("ask");
  const std::filesystem::path data_dir = ResolveDataDir(global.data_dir);
  std::string collection_dir;
  if (!flags.collection.empty()) {
    ENGRAM_TRY_ASSIGN(collection_dir, CheckedCollectionPath(global, flags.collection,
                                                            retrieval::OpenMode::kReadOnly));
  }
  bool no_generator = false;
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::Engine> engine, LoadEngine(flags, &no_generator));
  if (engine != nullptr) {  // refused before anything is ingested
    const int64_t tokens = static_cast<int64_t>(engine->tokenizer().Encode(question).size());
    if (tokens + ask.max_answer_tokens >= engine->context_length()) {
      return Status::InvalidArgument(
          "ask: the question is " + std::to_string(tokens) + " tokens; with the answer limit of " +
          std::to_string(ask.max_answer_tokens) + " tokens it does not fit the context of " +
          std::to_string(engine->context_length()) + "; shorten it or use a larger --ctx");
    }
  }
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::BertEmbedder> embedder,
                    inference::BertEmbedder::OpenOrDefault(
                        "", {.n_threads = flags.engine.options.context.n_threads}));
  agent::DocumentSet set;
  if (files.empty()) {
    retrieval::CollectionOptions options;
    options.mode = retrieval::OpenMode::kReadOnly;
    ENGRAM_TRY_ASSIGN(set.collection,
                      retrieval::Collection::Open(collection_dir, embedder.get(), options));
  } else {
    ENGRAM_TRY_ASSIGN(set, agent::OpenDocumentSet(data_dir, files, embedder.get()));
  }
  ENGRAM_TRY_ASSIGN(std::unique_ptr<agent::DocumentKvCache> kv,
                    agent::DocumentKvCache::Open(KvCacheDir(data_dir), flags.kv_cache_limit));
  agent::QaPipeline qa(engine.get(), set.collection.get(), kv.get());
  for (const auto& [source, name] : set.display) qa.SetDisplayName(source, name);

  const bool stream = !flags.json && ::isatty(STDOUT_FILENO) != 0;
  ENGRAM_TRY_ASSIGN(agent::Answer answer,
                    qa.Ask(question, ask, [stream](std::string_view piece) {
                      if (stream) {
                        std::fwrite(piece.data(), 1, piece.size(), stdout);
                        std::fflush(stdout);
                      }
                      return true;
                    }));
  if (no_generator && answer.note.empty()) answer.note = "no generator model";
  if (flags.json) {
    std::printf("%s\n", JsonText(agent::AnswerJson(answer), 2).c_str());
  } else {
    PrintAnswer(answer, stream && !answer.extractive);
  }
  return Status::OK();
}

}  // namespace

void RegisterAskCommand(CLI::App& app, const GlobalFlags& global, CommandTable& commands) {
  auto flags = std::make_shared<AskFlags>();
  flags->engine.attention = "retrieval";  // long mode's default decode policy
  flags->engine.options.generation.sampler.temperature = 0;  // answers are read, not sampled
  flags->engine.options.generation.sampler.repeat_penalty = 1.1f;  // the small model loops
  CLI::App* cmd = app.add_subcommand(
      "ask", "Answer a question from documents, with citations (FILE… QUESTION or -c NAME QUESTION)");
  cmd->add_option("args", flags->args, "FILE… (txt, md, html, pdf) then the question")->required();
  cmd->add_option("-c,--collection", flags->collection, "Ask an ingested collection instead of files");
  cmd->add_option("--mode", flags->mode,
                  "rag (retrieved sources), long (the whole documents, cached KV) or auto (long "
                  "when they fit the context)")
      ->capture_default_str();
  cmd->add_option("-k", flags->ask.k, "Chunks retrieved")->capture_default_str()->check(
      CLI::Range(1, retrieval::kMaxSearchK));
  cmd->add_option("--budget-tokens", flags->ask.budget_tokens,
                  "Prompt tokens for sources (0: what the context leaves)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 22));
  cmd->add_option("--max-tokens", flags->ask.max_answer_tokens, "Answer tokens at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--compress,!--no-compress", flags->compress,
                "rag: compress more chunks question-aware into the source budget instead of "
                "leaving out those that do not fit (off by default)");
  cmd->add_flag("--extractive", flags->ask.extractive,
                "Answer with the best supporting sentences instead of generating");
  cmd->add_option("--kv-cache-limit", flags->kv_cache_limit,
                  "Size of the cached document KV files kept (e.g. 4GB; LRU eviction)")
      ->transform(CLI::AsSizeValue(false))
      ->default_str("4GB");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  AddModelFlags(cmd, &flags->engine);
  AddAttentionFlags(cmd, &flags->engine);
  AddSamplerFlags(cmd, &flags->engine);
  commands.Add(cmd, [flags, &global]() { return Run(global, *flags); });
}

}  // namespace engram::app
