// Background consolidation of long sessions: one worker thread at a time replaces a session's
// older episodes by a summary (EpisodicStore::Consolidate), so recall stays small and sharp
// while recent turns stay verbatim. By default the summary is extractive: the user's own words,
// one line per turn (the default 135M model's summaries invented facts and dropped names and
// numbers: tests/serve/test_consolidation.py). With a scheduler the model writes it (greedy,
// short), falling back to the extractive one when generation fails.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>

#include "agent/scheduler.h"
#include "common/thread_annotations.h"
#include "inference/engine.h"
#include "memory/episodic_store.h"

namespace engram::agent::internal {

// Each user turn (up to kMaxEpisodeCharsInPrompt characters; earlier summaries kept whole), one
// "- " line each.
std::string ExtractiveSummary(std::span<const memory::Episode> episodes);

// A Summarizer that asks the model (greedy, at most `max_tokens`) to write the facts of the
// episodes, falling back to ExtractiveSummary. `scheduler` and `engine` must outlive it.
memory::Summarizer ModelSummarizer(Scheduler* scheduler, const inference::Engine* engine,
                                   int max_tokens = 128);

class Consolidator {
 public:
  // Not owned; must outlive the consolidator. `scheduler` null: extractive summaries.
  Consolidator(memory::EpisodicStore* store, Scheduler* scheduler, const inference::Engine* engine);
  ~Consolidator();  // Drain()

  // Queues the consolidation of (ns, session) unless it is queued already; returns at once.
  void Schedule(const std::string& ns, const std::string& session, size_t keep_recent);
  // Returns when nothing is queued or running.
  void Drain();

 private:
  struct Job {
    std::string ns, session;
    size_t keep_recent = 8;
  };
  void Run();
  void RunJob(const Job& job);

  memory::EpisodicStore* store_;
  Scheduler* scheduler_;
  const inference::Engine* engine_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::deque<Job> queue_ GUARDED_BY(mu_);
  std::set<std::string> pending_ GUARDED_BY(mu_);  // ns + '\0' + session
  bool running_ GUARDED_BY(mu_) = false;
  std::thread worker_ GUARDED_BY(mu_);
};

}  // namespace engram::agent::internal
