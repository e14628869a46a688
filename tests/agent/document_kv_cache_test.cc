// The document KV store on tiny random models: a hit restores exactly the prefilled state, a
// damaged or foreign file is a miss that removes it, eviction keeps the most recently used
// entries within the limit, model digests are memoised, keys cannot escape the directory, and
// two processes storing at once leave a consistent directory.
#include "agent/document_kv_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "tests/inference/tiny_llama_model.h"

namespace engram::agent {
namespace {

namespace fs = std::filesystem;
using inference::ContextOptions;
using inference::LlamaContext;
using inference::testing::LoadedTinyLlama;
using inference::testing::LoadTinyLlama;
using inference::testing::TinyLlamaSpec;

constexpr std::string_view kVariant = "f16/b16";

std::vector<int32_t> Tokens(int n, int seed, int vocab = 40) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 7 + seed * 13 + 3) % vocab;
  return t;
}

const std::vector<int32_t> kQuestion = {5, 9, 11, 2};

ContextOptions SmallContext(TensorType kv_type = TensorType::kF16) {
  ContextOptions options;
  options.n_ctx = 128;
  options.n_threads = 1;  // no worker threads (the concurrency test forks)
  options.kv_type = kv_type;
  return options;
}

std::unique_ptr<LlamaContext> NewContext(const LoadedTinyLlama& l,
                                         TensorType kv_type = TensorType::kF16) {
  auto ctx = LlamaContext::Create(l.model, SmallContext(kv_type));
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return ctx.ok() ? std::move(*ctx) : nullptr;
}

// The logits after `question` in a context that prefilled `doc` itself.
std::vector<float> FreshLogits(const LoadedTinyLlama& l, const std::vector<int32_t>& doc) {
  auto ctx = NewContext(l);
  EXPECT_TRUE(ctx->Eval(doc).ok());
  EXPECT_TRUE(ctx->Eval(kQuestion).ok());
  return {ctx->logits().begin(), ctx->logits().end()};
}

std::vector<float> QuestionLogits(LlamaContext& ctx) {
  EXPECT_TRUE(ctx.Eval(kQuestion).ok());
  return {ctx.logits().begin(), ctx.logits().end()};
}

uint64_t FileBytes(const fs::path& p) { return fs::file_size(p); }

void WriteBytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

std::string ReadBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The names in `dir` other than LOCK and the memo, sorted.
std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n != "LOCK" && n != "model_digests.json") names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class DocumentKvCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/engram_kv_cache_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "kv";
    model_ = LoadTinyLlama({});
    ASSERT_NE(model_.model, nullptr);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<DocumentKvCache> OpenCache(uint64_t limit = 0) {
    auto cache = DocumentKvCache::Open(dir_, limit);
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    return cache.ok() ? std::move(*cache) : nullptr;
  }

  std::string Key(const std::vector<int32_t>& doc) {
    return DocumentKvCache::EntryKey("model", kVariant, doc);
  }

  // Prefills `doc` in a fresh context and stores it.
  Status PrefillAndStore(const DocumentKvCache& cache, const std::vector<int32_t>& doc) {
    auto ctx = NewContext(model_);
    if (Status s = ctx->Eval(doc); !s.ok()) return s;
    return cache.Store(Key(doc), *ctx);
  }

  // Loads `doc`'s entry into a fresh context: nullopt on a miss, else the question's logits.
  std::optional<std::vector<float>> LoadAndAsk(const DocumentKvCache& cache,
                                               const std::vector<int32_t>& doc) {
    auto ctx = NewContext(model_);
    Result<bool> hit = cache.Load(Key(doc), *ctx);
    EXPECT_TRUE(hit.ok()) << hit.status().ToString();
    if (!hit.ok() || !*hit) {
      EXPECT_EQ(ctx->position(), 0);
      return std::nullopt;
    }
    EXPECT_EQ(ctx->position(), static_cast<int64_t>(doc.size()));
    return QuestionLogits(*ctx);
  }

  fs::path EntryPath(const std::vector<int32_t>& doc) { return dir_ / (Key(doc) + ".kv"); }

  fs::path root_, dir_;
  LoadedTinyLlama model_;
};

TEST_F(DocumentKvCacheTest, OpenCreatesTheDirectoryAndRefusesAFile) {
  auto cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_EQ(cache->dir(), dir_);
  EXPECT_EQ(cache->stats().entries, 0u);
  WriteBytes(root_ / "file", "x");
  // A dir removed behind the cache's back comes back with the next Store.
  fs::remove_all(dir_);
  ASSERT_TRUE(PrefillAndStore(*cache, Tokens(8, 1)).ok());
  EXPECT_EQ(cache->stats().entries, 1u);
  auto refused = DocumentKvCache::Open(root_ / "file", 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("file"), std::string_view::npos);
}

TEST_F(DocumentKvCacheTest, HitGivesTheLogitsOfAFreshPrefill) {
  auto cache = OpenCache();
  const std::vector<int32_t> doc = Tokens(37, 1);  // 37: a partial last block
  auto writer = NewContext(model_);
  ASSERT_TRUE(writer->Eval(doc).ok());
  ASSERT_TRUE(cache->Store(Key(doc), *writer).ok());
  // Storing leaves the writer's sequence as it was: it can go on to the question.
  const std::vector<float> after_store = QuestionLogits(*writer);

  const std::optional<std::vector<float>> loaded = LoadAndAsk(*cache, doc);
  ASSERT_TRUE(loaded.has_value());
  // The file holds the cache's own bytes, so the loaded state is the prefilled state exactly.
  EXPECT_EQ(*loaded, FreshLogits(model_, doc));
  EXPECT_EQ(*loaded, after_store);
  const DocumentKvCache::Stats stats = cache->stats();
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, FileBytes(EntryPath(doc)));
}

TEST_F(DocumentKvCacheTest, UnknownKeyIsAMiss) {
  auto cache = OpenCache();
  ASSERT_TRUE(PrefillAndStore(*cache, Tokens(20, 1)).ok());
  EXPECT_FALSE(LoadAndAsk(*cache, Tokens(20, 2)).has_value());
  EXPECT_FALSE(LoadAndAsk(*cache, Tokens(19, 1)).has_value());  // a prefix is another key
  EXPECT_EQ(cache->stats().entries, 1u);
}

TEST_F(DocumentKvCacheTest, DamagedFileIsRemovedAndAMiss) {
  auto cache = OpenCache();
  const std::vector<int32_t> doc = Tokens(20, 3);
  const fs::path path = EntryPath(doc);
  struct Damage {
    const char* what;
    std::function<void(std::string&)> apply;
  };
  const std::vector<Damage> damages = {
      {"a flipped byte in the keys", [](std::string& b) { b[b.size() / 2] ^= 0x5a; }},
      {"a flipped checksum byte", [](std::string& b) { b[b.size() - 1] ^= 1; }},
      {"truncated to half", [](std::string& b) { b.resize(b.size() / 2); }},
      {"truncated in the header", [](std::string& b) { b.resize(12); }},
      {"empty", [](std::string& b) { b.clear(); }},
      {"not a cache file", [](std::string& b) { b = "hello, this is not a kv cache file"; }},
      {"trailing bytes", [](std::string& b) { b += "xyz"; }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    ASSERT_TRUE(PrefillAndStore(*cache, doc).ok());
    WriteBytes(path.string() + ".index", "sidecar");  // part of the entry
    std::string bytes = ReadBytes(path);
    d.apply(bytes);
    WriteBytes(path, bytes);
    EXPECT_FALSE(LoadAndAsk(*cache, doc).has_value());
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(path.string() + ".index"));
    EXPECT_EQ(cache->stats().entries, 0u);
    // The caller rebuilds it, and it works again.
    ASSERT_TRUE(PrefillAndStore(*cache, doc).ok());
    EXPECT_EQ(LoadAndAsk(*cache, doc), FreshLogits(model_, doc));
    fs::remove(path);
  }
}

TEST_F(DocumentKvCacheTest, FileForAnotherModelOrShapeIsAMiss) {
  auto cache = OpenCache();
  const std::vector<int32_t> doc = Tokens(20, 4);
  const std::string key = Key(doc);

  TinyLlamaSpec deeper;
  deeper.n_layer = 3;
  const LoadedTinyLlama other = LoadTinyLlama(deeper);
  ASSERT_NE(other.model, nullptr);
  struct Reader {
    const char* what;
    const LoadedTinyLlama* model;
    TensorType kv_type;
  };
  for (const Reader& r : {Reader{"another model", &other, TensorType::kF16},
                          Reader{"another kv type", &model_, TensorType::kF32}}) {
    SCOPED_TRACE(r.what);
    ASSERT_TRUE(PrefillAndStore(*cache, doc).ok());
    auto ctx = NewContext(*r.model, r.kv_type);
    Result<bool> hit = cache->Load(key, *ctx);
    ASSERT_TRUE(hit.ok()) << hit.status().ToString();
    EXPECT_FALSE(*hit);
    EXPECT_EQ(ctx->position(), 0);
    EXPECT_FALSE(fs::exists(EntryPath(doc)));
  }
}

TEST_F(DocumentKvCacheTest, EvictionKeepsTheMostRecentlyUsedWithinTheLimit) {
  const std::vector<int32_t> a = Tokens(20, 10), b = Tokens(20, 11), c = Tokens(20, 12),
                             d = Tokens(20, 13), e = Tokens(20, 14);
  // Entries of equal length have equal sizes: measure one.
  uint64_t entry_bytes = 0;
  {
    auto probe = OpenCache();
    ASSERT_TRUE(PrefillAndStore(*probe, a).ok());
    entry_bytes = probe->stats().bytes;
    ASSERT_GT(entry_bytes, 0u);
  }
  auto cache = OpenCache(3 * entry_bytes + entry_bytes / 2);  // room for three
  ASSERT_TRUE(PrefillAndStore(*cache, b).ok());
  ASSERT_TRUE(PrefillAndStore(*cache, c).ok());
  EXPECT_EQ(cache->stats().entries, 3u);

  ASSERT_TRUE(LoadAndAsk(*cache, a).has_value());  // a, the oldest, is now the newest
  ASSERT_TRUE(PrefillAndStore(*cache, d).ok());    // evicts b
  EXPECT_EQ(cache->stats().entries, 3u);
  EXPECT_LE(cache->stats().bytes, cache->limit_bytes());
  EXPECT_FALSE(fs::exists(EntryPath(b)));
  ASSERT_TRUE(LoadAndAsk(*cache, c).has_value());  // c newer than a
  ASSERT_TRUE(PrefillAndStore(*cache, e).ok());    // evicts a
  EXPECT_FALSE(fs::exists(EntryPath(a)));
  EXPECT_TRUE(LoadAndAsk(*cache, c).has_value());
  EXPECT_TRUE(LoadAndAsk(*cache, d).has_value());
  EXPECT_TRUE(LoadAndAsk(*cache, e).has_value());
  EXPECT_FALSE(LoadAndAsk(*cache, b).has_value());

  // Sidecars count: with a sidecar, d and e (the newest) no longer fit with c.
  WriteBytes(EntryPath(c).string() + ".index", std::string(entry_bytes, 'i'));
  ASSERT_TRUE(LoadAndAsk(*cache, c).has_value());
  ASSERT_TRUE(PrefillAndStore(*cache, a).ok());  // 2 + 1 + 1 + 1 entries' bytes: d goes, then e
  EXPECT_TRUE(fs::exists(EntryPath(a)));
  EXPECT_TRUE(fs::exists(EntryPath(c)));
  EXPECT_TRUE(fs::exists(EntryPath(c).string() + ".index"));
  EXPECT_FALSE(fs::exists(EntryPath(d)));
  EXPECT_FALSE(fs::exists(EntryPath(e)));
  EXPECT_LE(cache->stats().bytes, cache->limit_bytes());
}

TEST_F(DocumentKvCacheTest, EntryLargerThanTheLimitIsNotKeptAndEvictsNothing) {
  const std::vector<int32_t> small = Tokens(10, 20), large = Tokens(100, 21);
  auto unlimited = OpenCache();
  ASSERT_TRUE(PrefillAndStore(*unlimited, small).ok());
  const uint64_t small_bytes = unlimited->stats().bytes;

  auto limited = OpenCache(small_bytes + 100);
  const Status s = PrefillAndStore(*limited, large);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find(EntryPath(large).string()), std::string_view::npos) << s.ToString();
  EXPECT_NE(s.message().find("limit"), std::string_view::npos) << s.ToString();
  EXPECT_FALSE(fs::exists(EntryPath(large)));
  EXPECT_TRUE(fs::exists(EntryPath(small)));
  EXPECT_EQ(Names(dir_), std::vector<std::string>{Key(small) + ".kv"});
}

TEST_F(DocumentKvCacheTest, TempFilesAreIgnoredAndCleanedByTheNextStore) {
  auto cache = OpenCache();
  const std::vector<int32_t> a = Tokens(20, 30), b = Tokens(20, 31), c = Tokens(20, 32);
  ASSERT_TRUE(PrefillAndStore(*cache, a).ok());
  const uint64_t a_bytes = cache->stats().bytes;
  // What a process killed inside SaveCache leaves: a temp file (of b), a temp sidecar (of a),
  // and a sidecar whose entry file never appeared (of c).
  WriteBytes(EntryPath(b).string() + ".tmp", ReadBytes(EntryPath(a)));
  WriteBytes(EntryPath(a).string() + ".index.tmp", "partial");
  WriteBytes(EntryPath(c).string() + ".index", "orphan");
  WriteBytes(dir_ / "model_digests.json.tmp", "{");
  EXPECT_FALSE(LoadAndAsk(*cache, b).has_value());
  EXPECT_FALSE(LoadAndAsk(*cache, c).has_value());
  EXPECT_EQ(cache->stats().entries, 1u);
  EXPECT_EQ(cache->stats().bytes, a_bytes);
  EXPECT_TRUE(fs::exists(EntryPath(b).string() + ".tmp"));  // a miss removes nothing

  const std::vector<int32_t> d = Tokens(20, 33);
  ASSERT_TRUE(PrefillAndStore(*cache, d).ok());
  std::vector<std::string> expected = {Key(a) + ".kv", Key(d) + ".kv"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Names(dir_), expected);
  EXPECT_FALSE(fs::exists(dir_ / "model_digests.json.tmp"));
}

TEST_F(DocumentKvCacheTest, StoreReplacesAnEntryAndItsSidecars) {
  auto cache = OpenCache();
  const std::vector<int32_t> doc = Tokens(20, 40);
  ASSERT_TRUE(PrefillAndStore(*cache, doc).ok());
  WriteBytes(EntryPath(doc).string() + ".index", "stale sidecar of the old file");
  ASSERT_TRUE(PrefillAndStore(*cache, doc).ok());
  EXPECT_FALSE(fs::exists(EntryPath(doc).string() + ".index"));
  EXPECT_EQ(LoadAndAsk(*cache, doc), FreshLogits(model_, doc));
}

TEST_F(DocumentKvCacheTest, BadKeysAreRefused) {
  auto cache = OpenCache();
  auto ctx = NewContext(model_);
  ASSERT_TRUE(ctx->Eval(Tokens(5, 1)).ok());
  for (const std::string& key :
       {std::string(), std::string("../../etc/passwd"), std::string("ABCDEF"),
        std::string("abc/def"), std::string("abc.kv"), std::string("0x12"), std::string("g"),
        std::string("ab\0cd", 5), std::string(129, 'a'), std::string(" abc")}) {
    SCOPED_TRACE(key);
    const Status stored = cache->Store(key, *ctx);
    EXPECT_EQ(stored.code(), StatusCode::kInvalidArgument) << stored.ToString();
    EXPECT_NE(stored.message().find("EntryKey"), std::string_view::npos);
    Result<bool> loaded = cache->Load(key, *ctx);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Names(dir_).empty());
  EXPECT_TRUE(cache->Store(std::string(128, 'a'), *ctx).ok());
  EXPECT_TRUE(cache->Store("0", *ctx).ok());
}

TEST_F(DocumentKvCacheTest, EntryKeysAreHexAndSeparateTheirParts) {
  const std::vector<int32_t> t = {1, 2, 3};
  const std::string key = DocumentKvCache::EntryKey("abc", "f16/b16", t);
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(key, DocumentKvCache::EntryKey("abc", "f16/b16", t));
  EXPECT_NE(key, DocumentKvCache::EntryKey("ab", "cf16/b16", t));
  EXPECT_NE(key, DocumentKvCache::EntryKey("abc", "f32/b16", t));
  EXPECT_NE(key, DocumentKvCache::EntryKey("abd", "f16/b16", t));
  EXPECT_NE(key, DocumentKvCache::EntryKey("abc", "f16/b16", std::vector<int32_t>{1, 2}));
  EXPECT_NE(key, DocumentKvCache::EntryKey("abc", "f16/b16", std::vector<int32_t>{1, 2, 4}));
  EXPECT_NE(DocumentKvCache::EntryKey("", "", {}), DocumentKvCache::EntryKey("", "", t));
}

void SetMtime(const fs::path& p, int64_t sec, int64_t nsec) {
  const timespec times[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

TEST_F(DocumentKvCacheTest, ModelDigestIsTheFileSha256AndIsMemoised) {
  auto cache = OpenCache();
  const fs::path model = root_ / "model.gguf";
  const std::string content(model_.tiny.gguf.begin(), model_.tiny.gguf.end());
  WriteBytes(model, content);
  SetMtime(model, 1'700'000'000, 123);

  Result<std::string> first = cache->ModelDigest(model.string());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, *Sha256File(model));
  EXPECT_TRUE(fs::exists(dir_ / "model_digests.json"));

  // Same size and mtime: the memo answers, even though the content changed (the promise is
  // "hashed once per file", so this is how the memo shows). Another object reads the same memo,
  // also through another path to the file.
  std::string changed = content;
  changed[changed.size() / 2] ^= 1;
  WriteBytes(model, changed);
  SetMtime(model, 1'700'000'000, 123);
  EXPECT_EQ(*cache->ModelDigest(model.string()), *first);
  fs::create_directory(root_ / "sub");
  EXPECT_EQ(*OpenCache()->ModelDigest((root_ / "sub" / ".." / "model.gguf").string()), *first);

  // Another mtime (by a nanosecond): hashed again.
  SetMtime(model, 1'700'000'000, 124);
  Result<std::string> second = cache->ModelDigest(model.string());
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *first);
  EXPECT_EQ(*second, *Sha256File(model));

  // Another size, same mtime: hashed again.
  WriteBytes(model, changed + "x");
  SetMtime(model, 1'700'000'000, 124);
  EXPECT_EQ(*cache->ModelDigest(model.string()), *Sha256File(model));

  // Two models side by side; a damaged memo is ignored and rewritten.
  const fs::path model2 = root_ / "model2.gguf";
  WriteBytes(model2, "another model");
  EXPECT_EQ(*cache->ModelDigest(model2.string()), *Sha256File(model2));
  EXPECT_EQ(*cache->ModelDigest(model.string()), *Sha256File(model));
  for (const char* damaged :
       {"{\"version\": 1, \"models\": {", "{\"version\": 1, \"models\": {\"x\": 3}}",
        "{\"version\": 2, \"models\": {}}", "[]"}) {
    SCOPED_TRACE(damaged);
    WriteBytes(dir_ / "model_digests.json", damaged);
    EXPECT_EQ(*cache->ModelDigest(model2.string()), *Sha256File(model2));
  }
  EXPECT_NE(ReadBytes(dir_ / "model_digests.json").find("model2.gguf"), std::string::npos);

  Result<std::string> missing = cache->ModelDigest((root_ / "nope.gguf").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.gguf"), std::string_view::npos);
}

// The child side of the multi-process tests: no gtest assertions, an exit code per failure.
// Loads or (on a miss) prefills and stores `rounds` random documents; rounds < 0: forever.
[[noreturn]] void ChildLoop(const fs::path& dir, uint64_t limit, const LoadedTinyLlama& model,
                            const std::vector<std::vector<int32_t>>& docs, int rounds,
                            uint32_t seed) {
  auto cache = DocumentKvCache::Open(dir, limit);
  if (!cache.ok()) ::_exit(2);
  std::mt19937 rng(seed);
  for (int r = 0; rounds < 0 || r < rounds; ++r) {
    const std::vector<int32_t>& doc = docs[rng() % docs.size()];
    const std::string key = DocumentKvCache::EntryKey("model", kVariant, doc);
    auto ctx = LlamaContext::Create(model.model, SmallContext());
    if (!ctx.ok()) ::_exit(3);
    Result<bool> hit = (*cache)->Load(key, **ctx);
    if (!hit.ok()) ::_exit(4);
    if (*hit) {
      if ((*ctx)->position() != static_cast<int64_t>(doc.size())) ::_exit(5);
      continue;
    }
    if (!(*ctx)->Eval(doc).ok()) ::_exit(6);
    if (!(*cache)->Store(key, **ctx).ok()) ::_exit(7);
  }
  ::_exit(0);
}

void ExpectChildSucceeded(pid_t pid) {
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
}

class DocumentKvCacheConcurrencyTest : public DocumentKvCacheTest {
 protected:
  void SetUp() override {
    DocumentKvCacheTest::SetUp();
    for (int i = 0; i < 6; ++i) docs_.push_back(Tokens(24, 50 + i));
    for (const auto& doc : docs_) fresh_.push_back(FreshLogits(model_, doc));
    // Entries of equal length have equal sizes: room for three and a half.
    auto probe = DocumentKvCache::Open(root_ / "probe", 0);
    ASSERT_TRUE(probe.ok());
    ASSERT_TRUE(PrefillAndStore(**probe, docs_[0]).ok());
    limit_ = 3 * (*probe)->stats().bytes + (*probe)->stats().bytes / 2;
  }

  // What every user of the dir may rely on once writers have stopped (or been killed) and one
  // more Store has run: only entry files, within the limit, each a hit with the right state.
  void ExpectConsistent() {
    auto cache = OpenCache(limit_);
    ASSERT_TRUE(PrefillAndStore(*cache, docs_[0]).ok());
    const DocumentKvCache::Stats stats = cache->stats();
    EXPECT_GE(stats.entries, 1u);
    EXPECT_LE(stats.entries, 3u);
    EXPECT_LE(stats.bytes, limit_);
    for (const std::string& name : Names(dir_)) {
      EXPECT_TRUE(name.size() == 67 && name.ends_with(".kv")) << "unexpected file " << name;
    }
    int hits = 0;
    for (size_t i = 0; i < docs_.size(); ++i) {
      const std::optional<std::vector<float>> loaded = LoadAndAsk(*cache, docs_[i]);
      if (!loaded) continue;
      ++hits;
      EXPECT_EQ(*loaded, fresh_[i]);
    }
    EXPECT_EQ(hits, static_cast<int>(stats.entries));
  }

  std::vector<std::vector<int32_t>> docs_;
  std::vector<std::vector<float>> fresh_;  // the question's logits after each document
  uint64_t limit_ = 0;
};

// Two processes fill one small cache with overlapping documents while the parent reads it.
TEST_F(DocumentKvCacheConcurrencyTest, TwoProcessesLeaveAConsistentDirWithinTheLimit) {
  std::vector<pid_t> children;
  for (uint32_t p = 0; p < 2; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ChildLoop(dir_, limit_, model_, docs_, 20, p + 1);
    children.push_back(pid);
  }
  // Meanwhile every hit the parent sees holds the right state.
  auto cache = OpenCache(limit_);
  int reads = 0;
  for (int alive = 2; alive > 0; ++reads) {
    const size_t i = reads % docs_.size();
    const std::optional<std::vector<float>> loaded = LoadAndAsk(*cache, docs_[i]);
    if (loaded) {
      EXPECT_EQ(*loaded, fresh_[i]);
    }
    alive = 0;
    for (const pid_t pid : children) {
      siginfo_t info{};
      ASSERT_EQ(::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT), 0);
      alive += info.si_pid == 0;
    }
  }
  EXPECT_GT(reads, 1);
  for (const pid_t pid : children) ExpectChildSucceeded(pid);
  ExpectConsistent();
}

// The same with two threads, each with its own object on the dir.
TEST_F(DocumentKvCacheConcurrencyTest, TwoThreadsLeaveAConsistentDirWithinTheLimit) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto cache = DocumentKvCache::Open(dir_, limit_);
      if (!cache.ok()) return void(++failures);
      std::mt19937 rng(t + 10);
      for (int r = 0; r < 20; ++r) {
        const size_t i = rng() % docs_.size();
        auto ctx = LlamaContext::Create(model_.model, SmallContext());
        if (!ctx.ok()) return void(++failures);
        Result<bool> hit = (*cache)->Load(Key(docs_[i]), **ctx);
        if (!hit.ok()) return void(++failures);
        if (!*hit &&
            (!(*ctx)->Eval(docs_[i]).ok() || !(*cache)->Store(Key(docs_[i]), **ctx).ok())) {
          return void(++failures);
        }
        if (!(*ctx)->Eval(kQuestion).ok()) return void(++failures);
        if (!std::equal(fresh_[i].begin(), fresh_[i].end(), (*ctx)->logits().begin(),
                        (*ctx)->logits().end())) {
          return void(++failures);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectConsistent();
}

// A writer SIGKILLed at random moments (inside SaveCache, between the save and the eviction...)
// leaves nothing that a reader trips over, and the next Store cleans up after it.
TEST_F(DocumentKvCacheConcurrencyTest, KilledWriterLeavesAConsistentDir) {
  std::mt19937 rng(5);
  for (int kill = 0; kill < 8; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ChildLoop(dir_, limit_, model_, docs_, -1, kill + 100);
    ::usleep(1000 + rng() % 20000);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;
    // Readers first, leftovers and all (the kill hits SaveCache in about one run in four).
    auto reader = OpenCache(limit_);
    for (size_t i = 0; i < docs_.size(); ++i) {
      const std::optional<std::vector<float>> loaded = LoadAndAsk(*reader, docs_[i]);
      if (loaded) {
        EXPECT_EQ(*loaded, fresh_[i]);
      }
    }
    ExpectConsistent();
  }
}

}  // namespace
}  // namespace engram::agent
