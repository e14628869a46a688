// AgentRuntime with the real default generator and embedder, a real memory store and the
// scheduler: a fact told in the first turn is recalled many turns later, after a restart
// (runtime and store destroyed and reopened). Assertions are on recall, not on what the 135M
// model says. Kept fast: short replies (max_tokens 16), a 4096-position context.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "agent/agent_runtime.h"
#include "inference/bert_embedder.h"
#include "retrieval/collection.h"

namespace engram::agent {
namespace {

namespace fs = std::filesystem;

class AgentRuntimeIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    inference::EngineOptions options;
    options.context.n_ctx = 4096;
    options.context.n_threads = 2;
    Result<std::unique_ptr<inference::Engine>> engine = inference::Engine::Load(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message()
                             << " (install the models with scripts/fetch_models.sh)";
    engine_ = std::move(*engine).release();
    auto embedder = inference::BertEmbedder::OpenOrDefault("", {.n_threads = 2});
    ASSERT_TRUE(embedder.ok()) << embedder.status().message();
    embedder_ = std::move(*embedder).release();
    auto scheduler = Scheduler::Start(*engine_, {.max_sequences = 4});
    ASSERT_TRUE(scheduler.ok()) << scheduler.status().message();
    scheduler_ = std::move(*scheduler).release();
  }
  static void TearDownTestSuite() {
    delete scheduler_;
    delete embedder_;
    delete engine_;
  }

  void SetUp() override {
    ASSERT_NE(scheduler_, nullptr);
    dir_ = fs::temp_directory_path() /
           ("engram_agent_it_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    Close();
    fs::remove_all(dir_);
  }

  void Open(size_t consolidate_after = 40) {
    memory::StoreOptions options;
    options.embedder = embedder_;
    auto store = memory::EpisodicStore::Open((dir_ / "memory").string(), options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    runtime_ =
        std::make_unique<AgentRuntime>(AgentRuntimeOptions{.data_dir = dir_.string(),
                                                           .engine = engine_,
                                                           .scheduler = scheduler_,
                                                           .memory = store_.get(),
                                                           .embedder = embedder_,
                                                           .consolidate_after = consolidate_after});
  }
  void Close() {
    runtime_.reset();
    store_.reset();
  }

  TurnResult Say(const std::string& id, const std::string& text, std::string* streamed = nullptr) {
    TurnRequest request;
    request.user_text = text;
    request.seed = 7;
    Result<TurnResult> r = runtime_->Turn(tenant_, id, request, [&](std::string_view piece) {
      if (streamed != nullptr) streamed->append(piece);
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : TurnResult{};
  }

  static inference::Engine* engine_;
  static inference::BertEmbedder* embedder_;
  static Scheduler* scheduler_;
  fs::path dir_;
  Tenant tenant_{"acme"};
  std::unique_ptr<memory::EpisodicStore> store_;
  std::unique_ptr<AgentRuntime> runtime_;
};

inference::Engine* AgentRuntimeIntegrationTest::engine_ = nullptr;
inference::BertEmbedder* AgentRuntimeIntegrationTest::embedder_ = nullptr;
Scheduler* AgentRuntimeIntegrationTest::scheduler_ = nullptr;

SessionSettings Short() {
  SessionSettings s;
  s.max_tokens = 16;
  s.temperature = 0;
  s.history_turns = 2;  // the fact leaves the verbatim history after one more turn
  return s;
}

TEST_F(AgentRuntimeIntegrationTest, RecallsAFactAfterRestart) {
  Result<SessionInfo> session = runtime_->CreateSession(tenant_, Short());
  ASSERT_TRUE(session.ok()) << session.status().message();
  const std::string id = session->id;
  std::string streamed;
  TurnResult first = Say(id, "My sister Ana lives in Porto.", &streamed);
  EXPECT_EQ(streamed, first.text) << "the reply streamed as generated";
  EXPECT_GT(first.prompt_tokens, 0);
  EXPECT_GT(first.completion_tokens, 0);
  EXPECT_LE(first.completion_tokens, 16);
  for (const char* filler : {"What is two plus two?", "Name a color.", "Say hello in French."}) {
    Say(id, filler);
  }
  Result<std::vector<memory::Episode>> history = runtime_->History(tenant_, id);
  ASSERT_TRUE(history.ok()) << history.status().message();
  ASSERT_EQ(history->size(), 8u);
  EXPECT_EQ((*history)[0].role, "user");
  EXPECT_EQ((*history)[0].text, "My sister Ana lives in Porto.");
  EXPECT_EQ((*history)[1].role, "assistant");
  const uint64_t fact = (*history)[0].id;

  Close();  // a restart: nothing but what is on disk survives
  Open();
  Result<SessionInfo> again = runtime_->GetSession(tenant_, id);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->messages, 8u);
  EXPECT_EQ(again->settings.max_tokens, 16);
  TurnResult later = Say(id, "Where does my sister Ana live?");
  EXPECT_NE(std::find(later.recalled.begin(), later.recalled.end(), fact), later.recalled.end())
      << "the fact's episode " << fact << " was not recalled";
  EXPECT_EQ(runtime_->History(tenant_, id)->size(), 10u);
  EXPECT_EQ(runtime_->GetSession(tenant_, id)->messages, 10u);
}

TEST_F(AgentRuntimeIntegrationTest, SessionsAreTenantScopedAndDeletable) {
  SessionInfo s = *runtime_->CreateSession(tenant_, Short());
  Say(s.id, "Remember that my cat is called Miso.");
  const Tenant other{"other"};
  EXPECT_EQ(runtime_->GetSession(other, s.id).status().code(), StatusCode::kNotFound);
  TurnRequest request;
  request.user_text = "What is my cat called?";
  EXPECT_EQ(runtime_->Turn(other, s.id, request, {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(runtime_->DeleteSession(other, s.id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(runtime_->ListSessions(other)->empty());
  ASSERT_EQ(runtime_->ListSessions(tenant_)->size(), 1u);

  ASSERT_TRUE(runtime_->DeleteSession(tenant_, s.id).ok());
  EXPECT_EQ(runtime_->GetSession(tenant_, s.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Namespaces().empty()) << "the session's episodes are gone";
}

TEST_F(AgentRuntimeIntegrationTest, RefusesBadTurnsWithoutStoringAnything) {
  SessionInfo s = *runtime_->CreateSession(tenant_, Short());
  TurnRequest empty;
  empty.user_text = "  ";
  EXPECT_EQ(runtime_->Turn(tenant_, s.id, empty, {}).status().code(), StatusCode::kInvalidArgument);
  TurnRequest huge;
  huge.user_text = std::string(40000, 'a') + " " + std::string(40000, 'b');
  for (int i = 0; i < 200; ++i) huge.user_text += " word" + std::to_string(i);
  Result<TurnResult> r = runtime_->Turn(tenant_, s.id, huge, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("shorten the message"), std::string::npos)
      << r.status().message();
  TurnRequest cancelled;
  cancelled.user_text = "Tell me a story.";
  r = runtime_->Turn(tenant_, s.id, cancelled, [](std::string_view) { return false; });
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(runtime_->History(tenant_, s.id)->empty());
  EXPECT_EQ(runtime_->GetSession(tenant_, s.id)->messages, 0u);
}

TEST_F(AgentRuntimeIntegrationTest, ToolsEndWithinTheRoundLimit) {
  SessionInfo s = *runtime_->CreateSession(tenant_, Short());
  TurnRequest request;
  request.user_text = "What is the weather in Porto? Use the tool.";
  request.tools = nlohmann::json::parse(R"([{"type": "function", "function": {
      "name": "get_weather", "description": "The weather in a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]}}}])");
  Result<TurnResult> r = runtime_->Turn(tenant_, s.id, request, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->finish_reason == "stop" || r->finish_reason == "length" ||
              r->finish_reason == "tool_calls")
      << r->finish_reason;
  EXPECT_EQ(r->finish_reason == "tool_calls", !r->client_tool_calls.empty());
  EXPECT_LE(r->completion_tokens, 16 * 5) << "at most the first answer and a few rounds";
  EXPECT_EQ(runtime_->History(tenant_, s.id)->size(), 2u);
  request.tools = nlohmann::json::parse(R"([{"type": "nope"}])");
  EXPECT_EQ(runtime_->Turn(tenant_, s.id, request, {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(AgentRuntimeIntegrationTest, SearchesTheTenantsAttachedCollectionsAndSkipsMissingOnes) {
  {
    retrieval::CollectionOptions options;
    options.mode = retrieval::OpenMode::kCreate;
    auto c = retrieval::Collection::Open(
        (fs::path(TenantCollectionsDir(dir_.string(), tenant_)) / "notes").string(), embedder_,
        options);
    ASSERT_TRUE(c.ok()) << c.status().message();
    retrieval::DocumentInput doc;
    doc.text = "The Porto office opens at nine in the morning and closes at six in the evening.";
    doc.title = "office hours";
    doc.source = "office.txt";
    ASSERT_TRUE((*c)->Ingest(doc).ok());
  }
  SessionSettings with = Short();
  with.recall_k = 0;
  with.collections = {"missing", "notes"};
  SessionSettings without = with;
  without.collections.clear();
  const std::string question = "When does the Porto office open?";
  const TurnResult a = Say(runtime_->CreateSession(tenant_, with)->id, question);
  const TurnResult b = Say(runtime_->CreateSession(tenant_, without)->id, question);
  EXPECT_GT(a.prompt_tokens, b.prompt_tokens + 10) << "the source went into the prompt";
  // Another tenant naming the same collection reaches nothing.
  const Tenant other{"other"};
  Result<SessionInfo> theirs = runtime_->CreateSession(other, with);
  ASSERT_TRUE(theirs.ok());
  TurnRequest request;
  request.user_text = question;
  Result<TurnResult> c = runtime_->Turn(other, theirs->id, request, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->prompt_tokens, b.prompt_tokens);
}

TEST_F(AgentRuntimeIntegrationTest, CompressesSourcesThatDoNotFitInsteadOfDroppingThem) {
  {
    retrieval::CollectionOptions options;
    options.mode = retrieval::OpenMode::kCreate;
    auto c = retrieval::Collection::Open(
        (fs::path(TenantCollectionsDir(dir_.string(), tenant_)) / "city").string(), embedder_,
        options);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const char* topics[] = {"harbour", "museum", "market", "library"};
    for (const char* topic : topics) {  // about 150 generator tokens each
      retrieval::DocumentInput doc;
      for (int i = 0; i < 6; ++i) {
        doc.text += "The " + std::string(topic) + " of Porto opened in year " +
                    std::to_string(1900 + i * 7) + " and was rebuilt after a fire in the old " +
                    "quarter near the river. ";
      }
      doc.source = std::string(topic) + ".txt";
      ASSERT_TRUE((*c)->Ingest(doc).ok());
    }
  }
  SessionSettings settings = Short();
  settings.recall_k = 0;
  settings.collections = {"city"};
  // A reply limit that leaves a prompt budget of 4096 - 3700 = 396 tokens: not all four sources.
  TurnRequest request;
  request.user_text = "When did the harbour and the museum of Porto open?";
  request.max_tokens = 3700;
  request.stop = {".", "\n"};  // the answer itself stays short
  auto turn = [&](AgentRuntime& runtime) {
    Result<SessionInfo> s = runtime.CreateSession(tenant_, settings);
    EXPECT_TRUE(s.ok()) << s.status().message();
    Result<TurnResult> r = runtime.Turn(tenant_, s->id, request, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    Result<std::vector<memory::Episode>> history = runtime.History(tenant_, s->id);
    EXPECT_TRUE(history.ok() && !history->empty());
    if (history.ok() && !history->empty()) {
      EXPECT_EQ(history->front().text, request.user_text) << "the user's message is whole";
    }
    return r.ok() ? *r : TurnResult{};
  };
  const TurnResult compressed = turn(*runtime_);
  AgentRuntime plain(AgentRuntimeOptions{.data_dir = dir_.string(), .engine = engine_,
                                         .scheduler = scheduler_, .memory = store_.get(),
                                         .embedder = embedder_, .compress_sources = false});
  const TurnResult dropped = turn(plain);
  EXPECT_TRUE(compressed.sources_compressed);
  EXPECT_FALSE(dropped.sources_compressed);
  EXPECT_GT(compressed.sources, dropped.sources) << "compression keeps more of the sources";
  EXPECT_LE(compressed.prompt_tokens, 396);
}

TEST_F(AgentRuntimeIntegrationTest, ConsolidatesInTheBackground) {
  Close();
  Open(/*consolidate_after=*/4);
  SessionInfo s = *runtime_->CreateSession(tenant_, Short());
  for (const char* text :
       {"I was born in Lisbon.", "I work as a nurse.", "I like green tea.", "My dog is Rex."}) {
    Say(s.id, text);
  }
  runtime_->Drain();
  const std::string ns = MemoryNamespace(tenant_, "session-" + s.id);
  Result<memory::EpisodePage> page = store_->ListSession(ns, s.id, {});
  ASSERT_TRUE(page.ok()) << page.status().message();
  const auto summary = std::find_if(page->episodes.begin(), page->episodes.end(),
                                    [](const memory::Episode& e) { return e.role == "summary"; });
  ASSERT_NE(summary, page->episodes.end()) << "no summary episode after 8 episodes";
  EXPECT_EQ(summary->sources.size(), 4u);
  // Extractive by default: the user's own words survive in the summary.
  EXPECT_NE(summary->text.find("I was born in Lisbon."), std::string::npos) << summary->text;
  EXPECT_NE(summary->text.find("I work as a nurse."), std::string::npos) << summary->text;
  EXPECT_EQ(page->episodes.size(), 5u) << "the 4 recent messages stay verbatim, and the summary";
  // The transcript still lists every message, the consolidated ones read back from history.
  Result<std::vector<memory::Episode>> transcript = runtime_->History(tenant_, s.id);
  ASSERT_TRUE(transcript.ok());
  ASSERT_EQ(transcript->size(), 8u);
  EXPECT_EQ(transcript->front().text, "I was born in Lisbon.");
}

}  // namespace
}  // namespace engram::agent
