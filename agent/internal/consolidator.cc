#include "agent/internal/consolidator.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace engram::agent::internal {
namespace {

constexpr size_t kMaxEpisodeCharsInPrompt = 400;
constexpr size_t kMaxTranscriptChars = 6000;

// `text` without leading and trailing white space, its line breaks as spaces (one line each).
std::string Trimmed(std::string_view text) {
  const size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const size_t e = text.find_last_not_of(" \t\r\n");
  std::string out(text.substr(b, e - b + 1));
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

std::string Transcript(std::span<const memory::Episode> episodes) {
  std::string text;
  for (const memory::Episode& e : episodes) {
    std::string line = e.role + ": " + e.text.substr(0, kMaxEpisodeCharsInPrompt) + "\n";
    if (text.size() + line.size() > kMaxTranscriptChars) break;
    text += line;
  }
  return text;
}

}  // namespace

std::string ExtractiveSummary(std::span<const memory::Episode> episodes) {
  std::string summary;
  for (const memory::Episode& e : episodes) {
    if (e.role == "summary") {  // an earlier summary is kept whole
      summary += e.text;
      if (!summary.empty() && summary.back() != '\n') summary += '\n';
    } else if (e.role == "user") {  // the user's own words, where the facts are
      const std::string line = Trimmed(e.text.substr(0, kMaxEpisodeCharsInPrompt));
      if (!line.empty()) summary += "- " + line + "\n";
    }
  }
  return summary.empty() ? "- (earlier conversation)" : summary;
}

memory::Summarizer ModelSummarizer(Scheduler* scheduler, const inference::Engine* engine,
                                   int max_tokens) {
  return [=](std::span<const memory::Episode> episodes) -> Result<std::string> {
    if (scheduler == nullptr || engine == nullptr) return ExtractiveSummary(episodes);
    const std::vector<inference::ChatMessage> messages = {
        {"system",
         "Summarise the conversation below as short facts about the user and what was said, one "
         "per line starting with '- '. Keep names, places and numbers."},
        {"user", Transcript(episodes)}};
    GenerationRequest request;
    request.prompt = engine->EncodeChat(messages);
    request.generation.max_tokens = max_tokens;
    request.generation.sampler.temperature = 0;
    Result<Completion> done = scheduler->Complete(std::move(request));
    if (!done.ok() || done->text.find_first_not_of(" \t\r\n") == std::string::npos) {
      spdlog::warn("consolidation: the model gave no summary ({}); using an extractive one",
                   done.ok() ? "empty" : std::string(done.status().message()));
      return ExtractiveSummary(episodes);
    }
    return done->text;
  };
}

Consolidator::Consolidator(memory::EpisodicStore* store, Scheduler* scheduler,
                           const inference::Engine* engine)
    : store_(store), scheduler_(scheduler), engine_(engine) {}

Consolidator::~Consolidator() { Drain(); }

void Consolidator::Schedule(const std::string& ns, const std::string& session, size_t keep_recent) {
  std::thread finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_.insert(ns + '\0' + session).second) return;
    queue_.push_back({ns, session, keep_recent});
    if (running_) return;
    running_ = true;
    finished = std::move(worker_);  // a worker that has already left Run()
    worker_ = std::thread(&Consolidator::Run, this);
  }
  if (finished.joinable()) finished.join();
}

void Consolidator::Drain() {
  std::thread worker;
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return !running_; });
    worker = std::move(worker_);
  }
  if (worker.joinable()) worker.join();
}

void Consolidator::Run() {
  while (true) {
    Job job;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) {
        running_ = false;
        idle_.notify_all();
        return;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    RunJob(job);
    std::lock_guard<std::mutex> lock(mu_);
    pending_.erase(job.ns + '\0' + job.session);
  }
}

void Consolidator::RunJob(const Job& job) {
  memory::ConsolidateOptions options;
  options.keep_recent = job.keep_recent;
  Result<uint64_t> summary =
      store_->Consolidate(job.ns, job.session, ModelSummarizer(scheduler_, engine_), options);
  if (!summary.ok()) {
    spdlog::warn("consolidation of session '{}' failed: {}", job.session,
                 summary.status().message());
  } else if (*summary != 0) {
    spdlog::debug("consolidated session '{}' into episode {}", job.session, *summary);
  }
}

}  // namespace engram::agent::internal
