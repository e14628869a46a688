// TEMPORARY (h-sessions): a serial stand-in for the lead's continuous-batching scheduler, so
// sessions run end to end before the real one lands on main. Every request runs on the caller's
// thread under one mutex with one LlamaContext. The lead drops this file at merge.
#include "agent/scheduler.h"

#include <algorithm>
#include <mutex>

namespace engram::agent {

struct Scheduler::State {
  const inference::Engine* engine = nullptr;
  std::unique_ptr<inference::LlamaContext> ctx;
  std::mutex mu;
  bool shut = false;
  SchedulerStats stats;
};

Scheduler::Scheduler(std::unique_ptr<State> state) : s_(std::move(state)) {}
Scheduler::~Scheduler() { Shutdown(false); }

Result<std::unique_ptr<Scheduler>> Scheduler::Start(const inference::Engine& engine,
                                                    const SchedulerOptions&) {
  auto state = std::make_unique<State>();
  state->engine = &engine;
  ENGRAM_TRY_ASSIGN(state->ctx, engine.NewContext());
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(state)));
}

Result<Completion> Scheduler::Complete(GenerationRequest request, OnText on_text) {
  if (request.prompt.empty()) return Status::InvalidArgument("scheduler: empty prompt");
  std::lock_guard<std::mutex> lock(s_->mu);
  if (s_->shut) return Status::Unavailable("scheduler: shut down");
  s_->ctx->Rewind(0);
  Completion done;
  ENGRAM_TRY_ASSIGN(done.stats,
                    s_->engine->Generate(*s_->ctx, request.prompt, request.generation,
                                         [&](std::string_view text) {
                                           done.text.append(text);
                                           return on_text ? on_text(text) : true;
                                         }));
  s_->stats.steps += static_cast<uint64_t>(done.stats.generated_tokens);
  s_->stats.prompt_tokens += static_cast<uint64_t>(done.stats.prompt_tokens);
  s_->stats.generated_tokens += static_cast<uint64_t>(done.stats.generated_tokens);
  return done;
}

Result<std::shared_ptr<Ticket>> Scheduler::Submit(GenerationRequest request, OnText on_text,
                                                  OnDone on_done) {
  auto ticket = std::make_shared<Ticket>();
  Result<Completion> done = Complete(std::move(request), [&](std::string_view text) {
    return !ticket->cancelled() && (!on_text || on_text(text));
  });
  if (on_done) on_done(std::move(done));
  return ticket;
}

void Scheduler::Shutdown(bool) {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->shut = true;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->stats;
}

const inference::Engine& Scheduler::engine() const { return *s_->engine; }

}  // namespace engram::agent
