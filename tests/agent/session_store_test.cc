// Session records (agent/internal/session_store.h): round trip, atomic replacement, id checks
// before the filesystem, tenants kept apart; and the strict settings JSON.
#include "agent/internal/session_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "agent/internal/session_json.h"
#include "agent/internal/session_locks.h"
#include "common/json_read.h"

namespace engram::agent::internal {
namespace {

namespace fs = std::filesystem;

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engram_sessions_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  Tenant acme_{"acme"}, other_{"other"};
};

TEST_F(SessionStoreTest, CreateLoadSaveRoundTrip) {
  SessionStore store(dir_.string());
  SessionSettings settings;
  settings.title = "trip";
  settings.collections = {"notes"};
  settings.max_tokens = 64;
  Result<SessionInfo> s = store.Create(acme_, settings);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(ValidateSessionId(s->id).ok());
  EXPECT_GT(s->created_ms, 0);
  Result<SessionInfo> loaded = store.Load(acme_, s->id);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->settings.title, "trip");
  EXPECT_EQ(loaded->settings.collections, std::vector<std::string>{"notes"});
  EXPECT_EQ(loaded->settings.max_tokens, 64);
  loaded->messages = 4;
  loaded->updated_ms += 10;
  ASSERT_TRUE(store.Save(acme_, *loaded).ok());
  EXPECT_EQ(store.Load(acme_, s->id)->messages, 4u);
  EXPECT_TRUE(fs::exists(dir_ / "tenants" / "acme" / "sessions" / (s->id + ".json")));
}

TEST_F(SessionStoreTest, IdsAreRandomHex) {
  SessionStore store(dir_.string());
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.insert(store.Create(acme_, {})->id);
  EXPECT_EQ(ids.size(), 20u);
  for (const std::string& id : ids) {
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
}

TEST_F(SessionStoreTest, SaveReplacesAtomicallyAndLeavesNoTempFile) {
  SessionStore store(dir_.string());
  SessionInfo s = *store.Create(acme_, {});
  const fs::path path = store.RecordPath(acme_, s.id);
  // A torn write from an earlier crash (a leftover .tmp) does not disturb the record.
  std::ofstream(path.string() + ".tmp") << "{\"id\": ";
  for (int i = 1; i <= 5; ++i) {
    s.messages = static_cast<uint64_t>(i);
    ASSERT_TRUE(store.Save(acme_, s).ok());
    Result<nlohmann::json> doc = ReadJsonFile(path, "record");
    ASSERT_TRUE(doc.ok()) << doc.status().message();
    EXPECT_EQ((*doc)["messages"], i);
    EXPECT_EQ((*doc)["format"], "engram-session 1");
  }
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  Result<std::vector<SessionInfo>> all = store.List(acme_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(SessionStoreTest, WriteFileDurablyFailsCleanlyInAMissingDirectory) {
  Status s = WriteFileDurably((dir_ / "nope" / "x.json").string(), "{}");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("x.json.tmp"), std::string::npos) << s.message();
}

TEST_F(SessionStoreTest, BadIdsAreRejectedBeforeTheFilesystem) {
  SessionStore store(dir_.string());
  for (const char* id : {"", "../../etc/passwd", "0123456789abcdef0123456789abcdeF",
                         "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
                         "zz23456789abcdef0123456789abcdef", "0123456789abcdef/123456789abcdef"}) {
    Result<SessionInfo> r = store.Load(acme_, id);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << id;
    EXPECT_NE(r.status().message().find("32 lower-case hex digits"), std::string::npos);
    EXPECT_EQ(store.Remove(acme_, id).code(), StatusCode::kInvalidArgument) << id;
  }
  EXPECT_FALSE(fs::exists(dir_)) << "nothing was created for bad ids";
  Result<SessionInfo> unknown = store.Load(acme_, std::string(32, 'a'));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST_F(SessionStoreTest, TenantsAreSeparate) {
  SessionStore store(dir_.string());
  SessionInfo a = *store.Create(acme_, {});
  SessionInfo b = *store.Create(other_, {});
  EXPECT_EQ(store.Load(other_, a.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Load(acme_, b.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Remove(other_, a.id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store.Load(acme_, a.id).ok()) << "another tenant's delete did not touch it";
  ASSERT_EQ(store.List(acme_)->size(), 1u);
  EXPECT_EQ(store.List(acme_)->front().id, a.id);
  EXPECT_EQ(store.List(other_)->front().id, b.id);
  EXPECT_TRUE(store.List(Tenant{"nobody"})->empty());
  EXPECT_FALSE(store.Create(Tenant{"../x"}, {}).ok());
  EXPECT_FALSE(store.Create(Tenant{""}, {}).ok());
}

TEST_F(SessionStoreTest, RemoveDeletesTheRecord) {
  SessionStore store(dir_.string());
  SessionInfo a = *store.Create(acme_, {});
  ASSERT_TRUE(store.Remove(acme_, a.id).ok());
  EXPECT_EQ(store.Load(acme_, a.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Remove(acme_, a.id).code(), StatusCode::kNotFound);
}

TEST_F(SessionStoreTest, ListSkipsDamagedRecords) {
  SessionStore store(dir_.string());
  SessionInfo a = *store.Create(acme_, {});
  std::ofstream(store.RecordPath(acme_, std::string(32, 'b'))) << "{not json";
  Result<std::vector<SessionInfo>> all = store.List(acme_);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().id, a.id);
}

Result<SessionSettings> Settings(const char* text) {
  nlohmann::json doc = nlohmann::json::parse(text);
  return SettingsFromJson(JsonValue(doc, "request body"));
}

TEST(SessionSettingsJsonTest, StrictFieldsAndTypes) {
  Result<SessionSettings> s = Settings(R"({"title": "t", "max_tokens": 32, "temperature": 0,
                                           "collections": ["a", "b"], "history_turns": 2})");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->max_tokens, 32);
  EXPECT_EQ(s->history_turns, 2);
  EXPECT_TRUE(Settings("{}").ok());
  Result<SessionSettings> unknown = Settings(R"({"titel": "t"})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown field 'titel'"), std::string::npos);
  Result<SessionSettings> wrong = Settings(R"({"max_tokens": "32"})");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("max_tokens"), std::string::npos)
      << wrong.status().message();
  EXPECT_FALSE(Settings(R"({"max_tokens": 0})").ok());
  EXPECT_FALSE(Settings(R"({"temperature": 9})").ok());
  EXPECT_FALSE(Settings(R"({"collections": ["../x"]})").ok());
  EXPECT_FALSE(Settings(R"({"collections": ["a", "a"]})").ok());
  EXPECT_FALSE(Settings(R"({"memory_namespace": "a b"})").ok());
  EXPECT_FALSE(Settings(R"({"recall_k": -1})").ok());
}

TEST(SessionLocksTest, TurnsOfOneSessionRunInArrivalOrder) {
  SessionLocks locks;
  std::vector<int> order;
  std::mutex mu;
  std::vector<std::thread> threads;
  {
    SessionLocks::Guard first = locks.Acquire("s");
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        SessionLocks::Guard g = locks.Acquire("s");
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // arrive in order
    }
    SessionLocks::Guard other = locks.Acquire("t");  // another session is not blocked
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace engram::agent::internal
