// The scheduler thread: admit → prefill in chunks → one batched decode step for every active
// sequence → sample each → repeat. See scheduler.h.
#include "agent/scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "common/logging.h"
#include "inference/generate.h"

namespace engram::agent {
namespace {

using Clock = std::chrono::steady_clock;
double MillisecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One request from Submit to on_done.
struct Job {
  GenerationRequest request;
  Scheduler::OnText on_text;
  Scheduler::OnDone on_done;
  std::shared_ptr<Ticket> ticket;
  Clock::time_point submitted = Clock::now();
  Clock::time_point admitted, decode_start;
  int64_t budget_blocks = 0;       // cache blocks reserved for it at admission
  inference::SequenceId seq = -1;  // its cache sequence once admitted
  size_t prefilled = 0;            // prompt tokens evaluated so far
  std::unique_ptr<inference::TokenStream> stream;
  std::optional<int32_t> next;     // the token to evaluate in the next step
  Completion completion;
  bool saw_text = false;

  // The text callback TokenStream calls: records, times the first text, forwards.
  bool Emit(std::string_view text) {
    if (!saw_text) {
      saw_text = true;
      completion.first_token_ms = MillisecondsBetween(submitted, Clock::now());
    }
    completion.text.append(text);
    return on_text ? on_text(text) : true;
  }
};

}  // namespace

struct Scheduler::State {
  const inference::Engine* engine = nullptr;
  SchedulerOptions options;
  std::unique_ptr<inference::LlamaContext> ctx;
  inference::SequenceId idle_seq = 0;  // current while no prefill runs (Free needs another)
  int64_t reserved_blocks = 0;         // sum of admitted jobs' budgets

  mutable std::mutex mu;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Job>> queue;  // guarded by mu
  bool stopping = false, drain = false;    // guarded by mu
  std::vector<std::unique_ptr<Job>> prefilling, active;  // scheduler thread only
  SchedulerStats stats;                    // guarded by mu (counters copied each step)
  std::thread thread;

  void Run();
  bool WaitForWork();  // false: time to exit
  void Admit();
  void PrefillStep();
  void DecodeStep();
  void DropCancelled(std::vector<std::unique_ptr<Job>>& jobs);
  void Finish(std::unique_ptr<Job> job, Result<Completion> result);
  void FinishAll(std::vector<std::unique_ptr<Job>>& jobs, const Status& status);
  void PublishStats();
  // Called after the prompt's last logits or a decode step's row: samples, emits, and either
  // keeps the job (its next token set) or finishes it.
  bool Advance(Job& job, std::span<const float> logits);
};

Scheduler::Scheduler(std::unique_ptr<State> state) : s_(std::move(state)) {}

Scheduler::~Scheduler() { Shutdown(/*drain=*/false); }

Result<std::unique_ptr<Scheduler>> Scheduler::Start(const inference::Engine& engine,
                                                    const SchedulerOptions& options_in) {
  SchedulerOptions options = options_in;
  if (options.max_sequences <= 0 || options.max_sequences > 512) {
    return Status::InvalidArgument("scheduler: max_sequences " +
                                   std::to_string(options.max_sequences) +
                                   " is out of range; use 1..512");
  }
  if (options.prefill_chunk <= 0) options.prefill_chunk = 256;
  inference::ContextOptions ctx_options = engine.options().context;
  ctx_options.n_ctx = engine.context_length();
  ctx_options.attention = {};  // batched decode attends every key
  ctx_options.n_ubatch = std::max({ctx_options.n_ubatch, options.max_sequences,
                                   options.prefill_chunk});
  if (options.kv_pool_positions == 0) {
    options.kv_pool_positions =
        std::max<int64_t>(int64_t{options.max_sequences} * 2048, ctx_options.n_ctx);
  }
  if (options.kv_pool_positions < ctx_options.n_ctx) {
    return Status::InvalidArgument("scheduler: a KV pool of " +
                                   std::to_string(options.kv_pool_positions) +
                                   " positions cannot hold one full context of " +
                                   std::to_string(ctx_options.n_ctx));
  }
  ctx_options.kv_pool_positions = options.kv_pool_positions;
  Result<std::unique_ptr<inference::LlamaContext>> ctx = engine.NewContext(ctx_options);
  if (!ctx.ok()) return ctx.status().WithContext("scheduler");
  auto state = std::make_unique<State>();
  state->engine = &engine;
  state->options = options;
  state->ctx = std::move(*ctx);
  state->idle_seq = state->ctx->sequence();
  state->stats.kv_blocks_total = state->ctx->kv_cache().total_blocks();
  State* raw = state.get();
  state->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(state)));
}

Result<std::shared_ptr<Ticket>> Scheduler::Submit(GenerationRequest request, OnText on_text,
                                                  OnDone on_done) {
  if (Status s = inference::ValidateGenerateOptions(request.generation); !s.ok()) return s;
  if (request.prompt.empty()) {
    return Status::InvalidArgument("scheduler: the prompt is empty; give at least one token");
  }
  const int64_t n_ctx = s_->ctx->n_ctx();
  if (static_cast<int64_t>(request.prompt.size()) >= n_ctx) {
    return Status::OutOfRange("the prompt is " + std::to_string(request.prompt.size()) +
                              " tokens; the context holds " + std::to_string(n_ctx) +
                              " with room for at least one generated token");
  }
  const int32_t vocab = s_->engine->model()->config().n_vocab;
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= vocab) {
      return Status::InvalidArgument("scheduler: prompt token " + std::to_string(t) +
                                     " is outside the vocabulary");
    }
  }
  auto job = std::make_unique<Job>();
  job->request = std::move(request);
  job->on_text = std::move(on_text);
  job->on_done = std::move(on_done);
  job->ticket = std::make_shared<Ticket>();
  std::shared_ptr<Ticket> ticket = job->ticket;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->stopping) return Status::Unavailable("the server is shutting down");
    if (s_->queue.size() >= s_->options.max_queue) {
      return Status::ResourceExhausted("the request queue is full (" +
                                       std::to_string(s_->options.max_queue) +
                                       " waiting); retry later");
    }
    s_->queue.push_back(std::move(job));
    s_->stats.queued = s_->queue.size();
  }
  s_->wake.notify_one();
  return ticket;
}

Result<Completion> Scheduler::Complete(GenerationRequest request, OnText on_text) {
  auto done = std::make_shared<std::promise<Result<Completion>>>();
  std::future<Result<Completion>> result = done->get_future();
  Result<std::shared_ptr<Ticket>> ticket =
      Submit(std::move(request), std::move(on_text),
             [done](Result<Completion> r) { done->set_value(std::move(r)); });
  if (!ticket.ok()) return ticket.status();
  return result.get();
}

void Scheduler::Shutdown(bool drain) {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (!s_->thread.joinable()) return;
    s_->stopping = true;
    s_->drain = drain;
  }
  s_->wake.notify_all();
  s_->thread.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->stats;
}

const inference::Engine& Scheduler::engine() const { return *s_->engine; }

void Scheduler::State::Run() {
  while (WaitForWork()) {
    Admit();
    DropCancelled(prefilling);
    DropCancelled(active);
    PrefillStep();
    DecodeStep();
    PublishStats();
  }
}

bool Scheduler::State::WaitForWork() {
  std::unique_lock<std::mutex> lock(mu);
  wake.wait(lock, [&] {
    return stopping || !queue.empty() || !prefilling.empty() || !active.empty();
  });
  if (stopping && !drain) {
    std::deque<std::unique_ptr<Job>> waiting = std::move(queue);
    queue.clear();
    stats.queued = 0;
    lock.unlock();
    const Status s = Status::Unavailable("the server is shutting down");
    for (auto& job : waiting) job->on_done(s);
    FinishAll(prefilling, s);
    FinishAll(active, s);
    return false;
  }
  return !(stopping && queue.empty() && prefilling.empty() && active.empty());
}

void Scheduler::State::Admit() {
  const int block = ctx->kv_cache().block_size();
  const int64_t total = ctx->kv_cache().total_blocks();
  std::lock_guard<std::mutex> lock(mu);
  while (!queue.empty() &&
         prefilling.size() + active.size() < static_cast<size_t>(options.max_sequences)) {
    Job& job = *queue.front();
    // Reserve the blocks the request can ever need, so a decode step never runs out.
    const int64_t positions =
        std::min<int64_t>(static_cast<int64_t>(job.request.prompt.size()) +
                              job.request.generation.max_tokens,
                          ctx->n_ctx());
    const int64_t need = (positions + block - 1) / block;
    if (reserved_blocks + need > total) break;  // waits for a sequence to end
    Result<inference::SequenceId> seq = ctx->NewSequence();
    if (!seq.ok()) break;
    std::unique_ptr<Job> admitted = std::move(queue.front());
    queue.pop_front();
    admitted->seq = *seq;
    admitted->budget_blocks = need;
    admitted->admitted = Clock::now();
    admitted->completion.queue_ms = MillisecondsBetween(admitted->submitted, admitted->admitted);
    admitted->stream = std::make_unique<inference::TokenStream>(
        engine->tokenizer(), admitted->request.generation, admitted->request.prompt);
    reserved_blocks += need;
    prefilling.push_back(std::move(admitted));
    ++stats.active;
  }
  stats.queued = queue.size();
}

void Scheduler::State::DropCancelled(std::vector<std::unique_ptr<Job>>& jobs) {
  const Clock::time_point now = Clock::now();
  for (auto& job : jobs) {
    if (job->ticket->cancelled()) {
      job->stream->Finish([](std::string_view) { return true; },
                          inference::StopReason::kCancelled);
      job->completion.stats = job->stream->stats();
      Completion completion = std::move(job->completion);
      Finish(std::move(job), std::move(completion));
    } else if (now > job->request.deadline) {
      Finish(std::move(job), Status::Unavailable("the request timed out"));
    }
  }
  std::erase(jobs, nullptr);
}

void Scheduler::State::PrefillStep() {
  if (prefilling.empty()) return;
  // The oldest admitted request gets one chunk per step, so running streams keep moving.
  std::unique_ptr<Job>& job = prefilling.front();
  const std::vector<int32_t>& prompt = job->request.prompt;
  const size_t n = std::min(prompt.size() - job->prefilled,
                            static_cast<size_t>(options.prefill_chunk));
  const Clock::time_point start = Clock::now();
  Status s = ctx->Switch(job->seq);
  if (s.ok()) s = ctx->Eval(std::span(prompt).subspan(job->prefilled, n));
  job->completion.stats.prefill_ms += MillisecondsBetween(start, Clock::now());
  if (!s.ok()) {
    (void)ctx->Switch(idle_seq);
    Finish(std::move(job), s);
    prefilling.erase(prefilling.begin());
    return;
  }
  job->prefilled += n;
  if (job->prefilled < prompt.size()) {
    (void)ctx->Switch(idle_seq);
    return;
  }
  const double prefill_ms = job->completion.stats.prefill_ms;
  job->decode_start = Clock::now();
  const bool keep = Advance(*job, ctx->logits());
  (void)ctx->Switch(idle_seq);
  std::unique_ptr<Job> done = std::move(job);
  prefilling.erase(prefilling.begin());
  done->stream->stats().prefill_ms = prefill_ms;
  if (keep) {
    active.push_back(std::move(done));
  } else {
    done->completion.stats = done->stream->stats();
    Completion completion = std::move(done->completion);
    Finish(std::move(done), std::move(completion));
  }
}

bool Scheduler::State::Advance(Job& job, std::span<const float> logits) {
  job.next = job.stream->Next(logits, ctx->length(job.seq), ctx->n_ctx(),
                              [&job](std::string_view text) { return job.Emit(text); });
  if (job.next) return true;
  job.stream->Finish([&job](std::string_view text) { return job.Emit(text); });
  job.stream->stats().decode_ms = MillisecondsBetween(job.decode_start, Clock::now());
  return false;
}

void Scheduler::State::DecodeStep() {
  if (active.empty()) return;
  std::vector<inference::BatchEntry> batch;
  batch.reserve(active.size());
  for (const auto& job : active) batch.push_back({job->seq, *job->next});
  if (Status s = ctx->DecodeBatch(batch); !s.ok()) {
    spdlog::error("scheduler: a decode step failed: {}", s.ToString());
    FinishAll(active, s.WithContext("decode step"));
    return;
  }
  const size_t vocab = static_cast<size_t>(engine->model()->config().n_vocab);
  const std::span<const float> logits = ctx->logits();
  for (size_t i = 0; i < active.size(); ++i) {
    Job& job = *active[i];
    if (Advance(job, logits.subspan(i * vocab, vocab))) continue;
    job.completion.stats = job.stream->stats();
    Completion completion = std::move(job.completion);
    Finish(std::move(active[i]), std::move(completion));
  }
  std::erase(active, nullptr);
  std::lock_guard<std::mutex> lock(mu);
  stats.steps += 1;
}

void Scheduler::State::Finish(std::unique_ptr<Job> job, Result<Completion> result) {
  const bool admitted = job->seq >= 0;
  if (admitted) {
    (void)ctx->Free(job->seq);
    reserved_blocks -= job->budget_blocks;
  }
  {  // before on_done, so a caller that reads stats() after its request sees it gone
    std::lock_guard<std::mutex> lock(mu);
    if (admitted && stats.active > 0) --stats.active;
    stats.kv_blocks_used = ctx->kv_cache().total_blocks() - ctx->kv_cache().free_blocks();
    if (result.ok()) {
      stats.prompt_tokens += static_cast<uint64_t>(result->stats.prompt_tokens);
      stats.generated_tokens += static_cast<uint64_t>(result->stats.generated_tokens);
    }
  }
  job->on_done(std::move(result));
}

void Scheduler::State::FinishAll(std::vector<std::unique_ptr<Job>>& jobs, const Status& status) {
  for (auto& job : jobs) Finish(std::move(job), status);
  jobs.clear();
}

void Scheduler::State::PublishStats() {
  const int64_t used = ctx->kv_cache().total_blocks() - ctx->kv_cache().free_blocks();
  std::lock_guard<std::mutex> lock(mu);
  stats.active = active.size() + prefilling.size();
  stats.kv_blocks_used = used;
}

}  // namespace engram::agent
