// Issue 16, "Hardening before the server": every command and every file-, number- and
// string-taking flag of the `engram` binary against hostile input, as a black box.
//
// Each case runs the real binary in a fresh copy of a small seeded --data-dir (one collection
// `c1` with one document, one memory namespace `n1` with one episode), in its own working and
// temporary directory, under a wall-clock and a resident-memory limit, and checks:
//   - it ends in bounded time and memory, never by a signal (134 abort, 139 segfault);
//   - a failure exits 1 or 2 with exactly one stderr line "engram: error: ...", stdout empty or
//     valid JSON, and nothing written: no new or changed file under the working directory, the
//     data directory or TMPDIR (RocksDB's own bookkeeping files of an existing database aside,
//     which any open rewrites), and, for commands that write, the collection's documents /
//     the namespace's episodes read back unchanged;
//   - a success (where that is the right answer) exits 0 with valid JSON on stdout.
//
// The cases are tables: a row is a command line with a placeholder `{}` and the kind of value
// that goes there; the hostile values of each kind come from one list per kind. A new command
// or flag is one row. Expectations are written down with their reason next to the row or value.
//
// Cases run a few at a time in parallel; the report of a failed case names its command line
// (bytes escaped), the exit code and stderr.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/default_models.h"
#include "tests/app/engram_process.h"

// The tables leave trailing members (stdin, prepare, why) at their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace engram {
namespace {

namespace fs = std::filesystem;
using testing::RunEngram;
using testing::RunOptions;
using testing::RunResult;

constexpr double kTimeoutSeconds = 20;                      // per case; a hang fails the case
constexpr uint64_t kMaxRssBytes = uint64_t{2} << 30;         // per case; runaway reads fail it
constexpr const char* kPlaceholder = "{}";

// What the right outcome of a case is.
enum class Expect {
  kFail,    // clearly invalid input: exit 1 or 2, one error line, nothing written
  kOk,      // valid input (however odd): exit 0, valid JSON where --json was asked
  kEither,  // a defensible design may accept or refuse it; either way no crash, one line
};

// Which stored data a command could change; after a failure it is read back and compared.
enum class Guard { kNone, kCollection, kMemory };

struct Case {
  std::vector<std::string> args;
  Expect expect = Expect::kFail;
  Guard guard = Guard::kNone;
  std::string why;  // the reason for the expectation, shown when the case fails
  // Standard input: a file opened as fd 0 (e.g. /dev/zero) or bytes; /dev/null otherwise.
  fs::path stdin_path = "/dev/null";
  std::optional<std::string> stdin_data;
  // Damages the case's copy of the data directory before the run.
  std::function<void(const fs::path& data_dir)> prepare;
  // Set: --data-dir is this (new, empty) directory of the case instead of the seeded copy.
  std::string data_dir_name;
};

struct Outcome {
  RunResult run;
  std::string changed;       // what the failed command wrote (empty: nothing)
  std::string guard_before;  // the guarded data as read back before and after
  std::string guard_after;
};

// The bytes of `s` with non-printable and non-ASCII bytes escaped, for messages.
std::string Printable(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c < 0x20 || c >= 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string CommandLine(const Case& c) {
  std::string line = "engram";
  for (const std::string& a : c.args) line += " '" + Printable(a) + "'";
  if (c.stdin_data) line += " <<< (" + std::to_string(c.stdin_data->size()) + " bytes)";
  else if (c.stdin_path != "/dev/null") line += " < " + c.stdin_path.string();
  return line;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// RocksDB rewrites its bookkeeping (LOG, MANIFEST, OPTIONS, the WAL) on every open, reading
// or not; those files are left out of the listing (their content is checked by the guards).
bool IsRocksDbInternal(const fs::path& p) {
  if (p.parent_path().filename() != "db") return false;
  const std::string name = p.filename().string();
  for (const char* prefix : {"LOG", "MANIFEST-", "OPTIONS-", "CURRENT", "IDENTITY", "LOCK"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  const std::string ext = p.extension().string();
  return ext == ".log" || ext == ".sst" || ext == ".dbtmp";
}

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Every path under `root` with its kind, size and content hash (RocksDB internals: path only
// of their directory).
std::string Snapshot(const fs::path& root) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), root);
    const fs::file_status st = it->symlink_status();
    if (fs::is_regular_file(st) && IsRocksDbInternal(rel)) continue;
    std::string line = Printable(rel.string());
    if (fs::is_directory(st)) {
      line += "/";
    } else if (fs::is_regular_file(st)) {
      const uint64_t size = fs::file_size(it->path());
      line += " " + std::to_string(size);
      if (size <= (uint64_t{4} << 20)) line += " " + std::to_string(Fnv1a(testing::Slurp(it->path())));
    } else {
      line += " (special)";
    }
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

std::string DiffLines(const std::string& before, const std::string& after) {
  std::istringstream a(before), b(after);
  std::vector<std::string> la, lb;
  for (std::string l; std::getline(a, l);) la.push_back(l);
  for (std::string l; std::getline(b, l);) lb.push_back(l);
  std::string out;
  for (const std::string& l : la) {
    if (!Contains(lb, l)) out += "  - " + l + "\n";
  }
  for (const std::string& l : lb) {
    if (!Contains(la, l)) out += "  + " + l + "\n";
  }
  return out;
}

void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

class AdversarialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("engram_adversarial_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "in");
    const fs::path in = root_ / "in";

    // Hostile files.
    fs::create_directories(in / "dir");
    ASSERT_EQ(::mkfifo((in / "fifo").c_str(), 0600), 0);
    fs::create_symlink("/dev/zero", in / "zero-link.txt");
    WriteFile(in / "empty.txt", "");
    std::mt19937 rng(16);
    std::string random(4096, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    WriteFile(in / "random.txt", random);
    WriteFile(in / "random.pdf", random);
    // Valid text under a name that is not UTF-8.
    WriteFile(in / "caf\xe9.txt", Text());
    WriteFile(in / "text.txt", Text());
    WriteFile(in / "lines.txt", "Porto lies on the Douro.\nLisbon lies on the Tagus.\n");
    {  // Larger than every input limit (256 MiB text, 1 GiB JSON), without using the disk.
      const int fd = ::open((in / "huge.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::ftruncate(fd, off_t{3} << 30), 0);
      ::close(fd);
    }
    // HTML nested deeper than any recursive parser's stack.
    std::string deep;
    for (int i = 0; i < 200000; ++i) deep += "<div>";
    WriteFile(in / "deep.html", "<html><body>" + deep + "x</body></html>");
    // Wrong-typed JSON.
    WriteFile(in / "array.json", "[]");
    WriteFile(in / "data-string.json", R"({"data": "x"})");
    WriteFile(in / "number.json", "42");
    WriteFile(in / "truncated.json", R"({"data": [{"paragraphs": [)");
    WriteFile(in / "wrong-types.jsonl", "[1, 2]\n{\"input\": 5}\n");
    // A tiny valid SQuAD file and LoCoMo file, for rows that vary another flag.
    WriteFile(in / "squad.json", R"({"version": "1.1", "data": [{"title": "Porto", "paragraphs": [
      {"context": "Porto is a city in Portugal on the Douro river.", "qas": [
        {"id": "q1", "question": "Which river flows through Porto?",
         "answers": [{"text": "Douro", "answer_start": 38}]}]}]}]})");
    WriteFile(in / "locomo.json", R"([{"sample_id": "s", "conversation": {
      "speaker_a": "Ana", "speaker_b": "Bo",
      "session_1_date_time": "1:56 pm on 8 May, 2023",
      "session_1": [{"speaker": "Ana", "dia_id": "D1:1", "text": "I moved to Porto."},
                    {"speaker": "Bo", "dia_id": "D1:2", "text": "Nice, by the river."}]},
      "qa": [{"question": "Where did Ana move?", "answer": "Porto", "evidence": ["D1:1"],
              "category": 1}]}])");
    // GGUF files that are not models: garbage after the magic, absurd counts, a real model cut.
    WriteFile(in / "garbage.gguf", "GGUF" + random);
    {
      std::string h = "GGUF";
      const uint32_t version = 3;
      const uint64_t huge = 0x7fffffffffffffffull;
      h.append(reinterpret_cast<const char*>(&version), 4);
      h.append(reinterpret_cast<const char*>(&huge), 8);  // tensors
      h.append(reinterpret_cast<const char*>(&huge), 8);  // metadata pairs
      WriteFile(in / "huge-counts.gguf", h + random);
    }
    Result<fs::path> generator = DefaultModelPath("generator");
    ASSERT_TRUE(generator.ok()) << generator.status().ToString() << "; run scripts/fetch_models.sh";
    {
      std::ifstream model(*generator, std::ios::binary);
      std::string head(1 << 20, '\0');
      model.read(head.data(), static_cast<std::streamsize>(head.size()));
      WriteFile(in / "cut.gguf", head);
    }
    // The embedder with one config value of the wrong type (the weights linked, not copied).
    Result<fs::path> embedder = DefaultModelPath("embedder");
    ASSERT_TRUE(embedder.ok()) << embedder.status().ToString() << "; run scripts/fetch_models.sh";
    fs::create_directories(in / "bad-config");
    for (const fs::directory_entry& e : fs::directory_iterator(*embedder)) {
      if (e.path().filename() != "config.json") {
        fs::create_symlink(e.path(), in / "bad-config" / e.path().filename());
      }
    }
    nlohmann::json config = nlohmann::json::parse(testing::Slurp(*embedder / "config.json"));
    config["hidden_size"] = "384";
    WriteFile(in / "bad-config" / "config.json", config.dump());
    // The embedder without its weights.
    fs::create_directories(in / "no-weights");
    fs::copy_file(*embedder / "config.json", in / "no-weights" / "config.json");

    // The seed data directory: one collection, one namespace.
    const fs::path seed = root_ / "seed";
    RunOptions options;
    options.data_dir = seed;
    options.stdin_path = "/dev/null";
    RunResult r = RunEngram({"ingest", "-c", "c1", (in / "text.txt").string()}, {}, options);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = RunEngram({"memory", "add", "--ns", "n1", "--session", "s1", "My sister Ana lives in Porto."},
                  {}, options);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    seed_docs_ = ReadBack(Guard::kCollection, seed);
    seed_memory_ = ReadBack(Guard::kMemory, seed);
    ASSERT_NE(seed_docs_.find("text.txt"), std::string::npos) << seed_docs_;
    ASSERT_NE(seed_memory_.find("Ana"), std::string::npos) << seed_memory_;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::string Text() {
    return "Porto is a city in the north of Portugal. The Douro river flows through it to the "
           "Atlantic. Its old town is a world heritage site, and its port wine is famous. Ana "
           "moved there in May 2023 and works near the river.\n";
  }
  static std::string In(const std::string& name) { return (root_ / "in" / name).string(); }

  // The guarded data as a user reads it: the documents of c1, the episodes of n1.
  static std::string ReadBack(Guard guard, const fs::path& data_dir) {
    RunOptions options;
    options.data_dir = data_dir;
    options.stdin_path = "/dev/null";
    options.timeout_s = kTimeoutSeconds;
    const RunResult r =
        guard == Guard::kCollection
            ? RunEngram({"docs", "-c", "c1", "--json"}, {}, options)
            : RunEngram({"memory", "export", "--ns", "n1"}, {}, options);
    return "exit " + std::to_string(r.exit_code) + "\n" + r.out + r.err;
  }

  // Runs one case in its own copy of the seed.
  static Outcome RunCase(const Case& c, int index) {
    const fs::path dir = root_ / ("case" + std::to_string(index));
    fs::remove_all(dir);
    fs::create_directories(dir / "cwd");
    fs::create_directories(dir / "tmp");
    fs::copy(root_ / "seed", dir / "data", fs::copy_options::recursive);
    if (c.prepare) c.prepare(dir / "data");
    Outcome o;
    const std::string before = Snapshot(dir);
    if (c.guard != Guard::kNone) o.guard_before = ReadBack(c.guard, dir / "data");
    RunOptions options;
    options.data_dir = c.data_dir_name.empty() ? dir / "data" : dir / c.data_dir_name;
    options.cwd = dir / "cwd";
    options.stdin_path = c.stdin_data ? fs::path() : c.stdin_path;
    options.stdin_data = c.stdin_data;
    options.timeout_s = kTimeoutSeconds;
    options.max_rss_bytes = kMaxRssBytes;
    o.run = RunEngram(c.args, {{"TMPDIR", (dir / "tmp").string()}}, options);
    if (o.run.exit_code != 0) {
      o.changed = DiffLines(before, Snapshot(dir));
      if (c.guard != Guard::kNone) o.guard_after = ReadBack(c.guard, dir / "data");
    }
    fs::remove_all(dir);
    return o;
  }

  // Runs `cases` (a few at a time) and checks each.
  static void RunAndCheck(const std::vector<Case>& cases) {
    std::vector<Outcome> outcomes(cases.size());
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    const unsigned n = std::max(2u, std::min(4u, std::thread::hardware_concurrency()));
    static std::atomic<int> case_counter{0};
    for (unsigned w = 0; w < n; ++w) {
      workers.emplace_back([&] {
        for (size_t i = next++; i < cases.size(); i = next++) {
          outcomes[i] = RunCase(cases[i], case_counter++);
        }
      });
    }
    for (std::thread& t : workers) t.join();

    // ENGRAM_ADVERSARIAL_LOG=<file>: every case's exit code, time and stderr, appended.
    if (const char* log_path = std::getenv("ENGRAM_ADVERSARIAL_LOG")) {
      std::ofstream log(log_path, std::ios::app);
      for (size_t i = 0; i < cases.size(); ++i) {
        const RunResult& r = outcomes[i].run;
        log << r.seconds << "\t" << r.exit_code << "\t" << CommandLine(cases[i]) << "\t"
            << Printable(r.err.substr(0, 200)) << "\n";
      }
    }
    std::vector<std::string> failures;
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string problem = Check(cases[i], outcomes[i]);
      if (!problem.empty()) {
        const RunResult& r = outcomes[i].run;
        std::string err = r.err.substr(0, 400);
        if (!err.empty() && err.back() == '\n') err.pop_back();
        failures.push_back(CommandLine(cases[i]) + "\n    " + problem + "\n    exit " +
                           std::to_string(r.exit_code) + " after " +
                           std::to_string(r.seconds).substr(0, 5) + " s; stderr: " +
                           Printable(err) + (cases[i].why.empty() ? "" : "\n    expected because: " + cases[i].why));
      }
    }
    std::string report;
    for (const std::string& f : failures) report += "\n  " + f;
    EXPECT_TRUE(failures.empty()) << failures.size() << " of " << cases.size()
                                  << " cases went wrong:" << report;
  }

  static bool IsJsonOrEmpty(const std::string& out, bool lines) {
    if (out.empty()) return true;
    if (!lines) return !nlohmann::json::parse(out, nullptr, false).is_discarded();
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (nlohmann::json::parse(line, nullptr, false).is_discarded()) return false;
    }
    return true;
  }

  // What is wrong with the outcome of `c` (empty: nothing).
  static std::string Check(const Case& c, const Outcome& o) {
    const RunResult& r = o.run;
    if (r.timed_out) return "did not end within " + std::to_string(int(kTimeoutSeconds)) + " s";
    if (r.memory_exceeded) {
      return "resident set passed " + std::to_string(kMaxRssBytes >> 20) + " MiB";
    }
    if (r.exit_code >= 128) return "ended by signal " + std::to_string(r.exit_code - 128);
    const bool json_lines = Contains(c.args, "export");
    const bool json = Contains(c.args, "--json") || json_lines;
    const bool failed = r.exit_code != 0;
    if (c.expect == Expect::kOk && failed) return "should succeed";
    if (c.expect == Expect::kFail && !failed) return "should fail, exited 0; stdout: " + Printable(r.out.substr(0, 200));
    if (failed) {
      if (r.exit_code != 1 && r.exit_code != 2) return "exit code is not 1 or 2";
      if (testing::LineCount(r.err) != 1 || r.err.back() != '\n') {
        return "stderr is not exactly one line";
      }
      if (r.err.rfind("engram: error: ", 0) != 0) return "stderr does not start 'engram: error: '";
      if (json && !IsJsonOrEmpty(r.out, json_lines)) return "stdout is neither empty nor JSON";
      if (!o.changed.empty()) return "the failed command wrote:\n" + o.changed;
      if (o.guard_before != o.guard_after) {
        return "the failed command changed stored data; before:\n" + o.guard_before +
               "after:\n" + o.guard_after;
      }
    } else if (json && ((r.out.empty() && !json_lines) || !IsJsonOrEmpty(r.out, json_lines))) {
      return "stdout is not valid JSON: " + Printable(r.out.substr(0, 300));
    }
    return "";
  }

  static std::vector<std::string> Fill(const std::vector<std::string>& args,
                                       const std::string& value) {
    std::vector<std::string> out = args;
    for (std::string& a : out) {
      if (a == kPlaceholder) a = value;
    }
    return out;
  }

  static fs::path root_;
  static std::string seed_docs_, seed_memory_;
};

fs::path AdversarialTest::root_;
std::string AdversarialTest::seed_docs_, AdversarialTest::seed_memory_;

// ---------------------------------------------------------------------------------------------
// Files: every flag that takes a file or directory, against each hostile file.

enum class FileKind {
  kText,          // any readable text file is valid input (a document, a prompt, lines)
  kDocument,      // ingest: a text file of a supported format
  kGguf,          // a GGUF model
  kEmbedder,      // a sentence-transformers directory or a bert GGUF
  kTokenizer,     // a .gguf, a SentencePiece .model, a vocab.txt or a BERT model directory
  kJsonData,      // SQuAD / LoCoMo JSON
  kTextOrJsonl,   // --distractors: text files or L-Eval .jsonl
};

struct FileRow {
  std::vector<std::string> args;  // `{}` is the hostile path
  FileKind kind;
  Guard guard = Guard::kNone;
};

struct HostileFile {
  std::string path;
  // The expectation for each kind (kFail where the kind is not listed).
  std::map<FileKind, Expect> expect;
  std::string why;
  // The kinds it is tried on (empty: all). Wrong-typed JSON and broken models are only news
  // to flags that parse them; to a text flag they are text like any other.
  std::vector<FileKind> only = {};
};

TEST_F(AdversarialTest, FileFlags) {
  const std::vector<FileRow> rows = {
      {{"ingest", "-c", "c1", "--json", "{}"}, FileKind::kDocument, Guard::kCollection},
      {{"ingest", "-c", "new", "--json", "{}"}, FileKind::kDocument, Guard::kCollection},
      {{"ingest", "-c", "c1", "--model", "{}", (root_ / "in" / "lines.txt").string()},
       FileKind::kEmbedder, Guard::kCollection},
      {{"search", "-c", "c1", "--json", "--model", "{}", "Porto"}, FileKind::kEmbedder},
      {{"ask", "--extractive", "--json", "{}", "Where does Ana live?"}, FileKind::kDocument},
      {{"ask", "--mode", "rag", "--max-tokens", "1", "--ctx", "256", "--json", "-m", "{}",
        (root_ / "in" / "text.txt").string(), "Where?"},
       FileKind::kGguf},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--model", "{}", "x"},
       FileKind::kEmbedder, Guard::kMemory},
      {{"memory", "add", "--ns", "fresh", "--session", "s1", "--model", "{}", "x"},
       FileKind::kEmbedder},
      {{"memory", "recall", "--ns", "n1", "--json", "--model", "{}", "Porto"}, FileKind::kEmbedder},
      {{"embed", "--json", "--model", "{}", "x"}, FileKind::kEmbedder},
      {{"embed", "--json", "-f", "{}"}, FileKind::kText},
      {{"generate", "-n", "1", "--ctx", "64", "--seed", "1", "-f", "{}"}, FileKind::kText},
      {{"generate", "-n", "1", "--ctx", "64", "-p", "hi", "-m", "{}"}, FileKind::kGguf},
      {{"tokenize", "--json", "-f", "{}"}, FileKind::kText},
      {{"compress", "--json", "-q", "Porto", "--ratio", "2", "{}"}, FileKind::kText},
      {{"tokenize", "--json", "-m", "{}", "x"}, FileKind::kTokenizer},
      {{"inspect", "--json", "{}"}, FileKind::kGguf},
      {{"inspect", "--check", "{}"}, FileKind::kGguf},
      {{"eval", "retrieval", "--json", "--squad", "{}"}, FileKind::kJsonData},
      {{"eval", "retrieval", "--json", "--max-questions", "1", "--squad",
        (root_ / "in" / "squad.json").string(), "--distractors", "{}"},
       FileKind::kTextOrJsonl},
      {{"eval", "retrieval", "--json", "--max-questions", "1", "--squad",
        (root_ / "in" / "squad.json").string(), "--model", "{}"},
       FileKind::kEmbedder},
      {{"eval", "memory", "--json", "--no-sync", "--locomo", "{}"}, FileKind::kJsonData},
      {{"eval", "memory", "--json", "--no-sync", "--locomo", (root_ / "in" / "locomo.json").string(),
        "--model", "{}"},
       FileKind::kEmbedder},
      {{"eval", "attention", "--json", "--ctx", "128", "--steps", "1", "--depths", "0",
        "--policies", "full", "--texts", "essays", "-m", "{}"},
       FileKind::kGguf},
      {{"bench", "tokenize", "--json", "--repetitions", "1", "-f", "{}"}, FileKind::kText},
      {{"bench", "tokenize", "--json", "--repetitions", "1", "-f",
        (root_ / "in" / "text.txt").string(), "-m", "{}"},
       FileKind::kTokenizer},
      {{"bench", "embed", "--json", "--batch", "1", "--sentences", "2", "--repeat", "1", "-f",
        "{}"},
       FileKind::kText},
      {{"bench", "embed", "--json", "--batch", "1", "--sentences", "2", "--repeat", "1", "-f",
        (root_ / "in" / "lines.txt").string(), "--model", "{}"},
       FileKind::kEmbedder},
      {{"bench", "prefill", "--json", "--ctx", "16", "--repeat", "1", "--text", "{}"},
       FileKind::kText},
      {{"bench", "prefill", "--json", "--ctx", "16", "--repeat", "1", "--text",
        (root_ / "in" / "text.txt").string(), "-m", "{}"},
       FileKind::kGguf},
      {{"bench", "decode", "--json", "--ctx", "16", "--tokens", "1", "--repeat", "1", "--text",
        "{}"},
       FileKind::kText},
      {{"bench", "decode", "--json", "--ctx", "16", "--tokens", "1", "--repeat", "1", "--text",
        (root_ / "in" / "text.txt").string(), "-m", "{}"},
       FileKind::kGguf},
      {{"bench", "attention", "--json", "--ctx", "256", "--steps", "1", "--policies", "full",
        "-m", "{}"},
       FileKind::kGguf},
      {{"bench", "vectors", "--json", "--data", "real", "--n", "10", "--queries", "1", "--model",
        "{}"},
       FileKind::kEmbedder},
  };
  using K = FileKind;
  constexpr Expect kOk = Expect::kOk, kEither = Expect::kEither;
  const std::vector<HostileFile> hostile = {
      // Not regular files: refused before any read (and a FIFO without a writer must not hang).
      {In("dir"), {}, "a directory is no file to read"},
      {In("fifo"), {}, "a FIFO is refused (and must not block the open)"},
      {"/dev/zero", {}, "a device is refused, never read to the end"},
      {In("zero-link.txt"), {}, "a symlink to a device is a device"},
      {In("missing.txt"), {}, "a missing file"},
      {In("huge.txt"), {}, "3 GiB: larger than the limit of every input"},
      // Empty text: nothing to ingest / embed / evaluate; an empty prompt or text to tokenize is
      // a defensible input.
      {In("empty.txt"),
       {{K::kText, kEither}, {K::kTextOrJsonl, kEither}, {K::kDocument, kEither}},
       "empty: no model, no data; as text it may be accepted"},
      // A valid text file under a name that is not UTF-8: as text it is fine (and JSON output
      // naming it must stay valid JSON); as a model or data file its content is wrong.
      {In("caf\xe9.txt"),
       {{K::kText, kOk}, {K::kTextOrJsonl, kOk}, {K::kDocument, kOk}},
       "valid text whose name is not UTF-8"},
      // Random bytes: not UTF-8 text; a tokenizer or chunker may take the bytes or refuse them.
      {In("random.txt"),
       {{K::kText, kEither}, {K::kTextOrJsonl, kEither}, {K::kDocument, kEither}},
       "random bytes"},
      {In("random.pdf"), {}, "random bytes named .pdf: no PDF",
       {K::kDocument}},
      // (Only for ingest, which parses HTML; to a distractor flag it is 1.2 MB of plain text,
      // and embedding 4,000 dense chunks is minutes of real work, not a hang.)
      {In("deep.html"), {{K::kDocument, kEither}},
       "HTML nested 200k deep: text within bounded time and stack, or refused",
       {K::kDocument}},
      // Wrong-typed JSON: for the flags that parse it, a clear error naming what is wrong.
      {In("array.json"), {}, "[] is no dataset", {K::kJsonData}},
      {In("data-string.json"), {}, "\"data\" must be an array", {K::kJsonData}},
      {In("number.json"), {}, "a number where an object is expected", {K::kJsonData}},
      {In("truncated.json"), {}, "JSON cut short", {K::kJsonData}},
      {In("wrong-types.jsonl"), {}, "L-Eval lines without a string input",
       {K::kTextOrJsonl}},
      // Models that are not: garbage after the magic, absurd counts (must not allocate them),
      // the first MiB of a real model, a config with a string where a number belongs, a
      // directory without weights.
      {In("garbage.gguf"), {}, "GGUF + garbage", {K::kGguf, K::kEmbedder, K::kTokenizer}},
      {In("huge-counts.gguf"), {}, "2^63 tensors and metadata pairs",
       {K::kGguf, K::kEmbedder, K::kTokenizer}},
      {In("cut.gguf"), {}, "a real model cut after 1 MiB", {K::kGguf, K::kEmbedder, K::kTokenizer}},
      // A tokenizer needs only the vocabulary of a model directory, not its config values.
      {In("bad-config"), {{K::kTokenizer, kEither}}, "config.json hidden_size is a string",
       {K::kEmbedder, K::kTokenizer}},
      {In("no-weights"), {}, "an embedder directory without weights",
       {K::kEmbedder, K::kTokenizer}},
  };
  std::vector<Case> cases;
  for (const FileRow& row : rows) {
    for (const HostileFile& h : hostile) {
      if (!h.only.empty() &&
          std::find(h.only.begin(), h.only.end(), row.kind) == h.only.end()) {
        continue;
      }
      Case c;
      c.args = Fill(row.args, h.path);
      const auto it = h.expect.find(row.kind);
      c.expect = it == h.expect.end() ? Expect::kFail : it->second;
      // Not listed for a kind: refused (for ingest, .json/.gguf/.jsonl/.pdf of the wrong
      // content are unsupported formats or broken documents).
      c.guard = row.guard;
      c.why = h.why;
      cases.push_back(c);
    }
  }
  RunAndCheck(cases);
}

// ---------------------------------------------------------------------------------------------
// Standard input ('-'): endless, too large, not UTF-8.

TEST_F(AdversarialTest, StandardInput) {
  struct StdinRow {
    std::vector<std::string> args;
    Guard guard;
    Expect invalid_utf8;  // stdin "\xff\xfe..." (the rest of the text is fine)
    Expect empty;         // stdin empty
  };
  const std::vector<StdinRow> rows = {
      // A document of invalid UTF-8 may be refused or ingested with replacement characters.
      {{"ingest", "-c", "c1", "--json", "-"}, Guard::kCollection, Expect::kEither, Expect::kFail},
      {{"ingest", "-c", "new", "--json", "-"}, Guard::kCollection, Expect::kEither, Expect::kFail},
      // A prompt of bytes: a byte-level BPE model can take any bytes.
      {{"generate", "-n", "1", "--ctx", "64", "--seed", "1", "-f", "-"}, Guard::kNone,
       Expect::kEither, Expect::kEither},
      {{"tokenize", "--json", "-f", "-"}, Guard::kNone, Expect::kOk, Expect::kEither},
      // Compression refuses text that is not UTF-8 (its source map is byte-exact) and no text.
      {{"compress", "--json", "--ratio", "2", "-"}, Guard::kNone,
       Expect::kFail, Expect::kFail},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--json", "-"}, Guard::kMemory,
       Expect::kEither, Expect::kFail},
      {{"memory", "add", "--ns", "fresh", "--session", "s1", "--json", "-"}, Guard::kNone,
       Expect::kEither, Expect::kFail},
  };
  std::vector<Case> cases;
  for (const StdinRow& row : rows) {
    Case zero{row.args, Expect::kFail, row.guard, "endless stdin: a clear error at the limit"};
    zero.stdin_path = "/dev/zero";
    cases.push_back(zero);
    Case bad{row.args, row.invalid_utf8, row.guard, "stdin not UTF-8"};
    bad.stdin_data = std::string("\xff\xfe Porto is on the Douro.\n");
    cases.push_back(bad);
    Case empty{row.args, row.empty, row.guard, "empty stdin"};
    empty.stdin_data = std::string();
    cases.push_back(empty);
  }
  // The memory text limit is 1 MiB: one byte more through stdin is refused, with nothing stored.
  for (const std::string ns : {"n1", "fresh"}) {
    Case big{{"memory", "add", "--ns", ns, "--session", "s1", "-"}, Expect::kFail,
             ns == "n1" ? Guard::kMemory : Guard::kNone, "memory text over 1 MiB"};
    big.stdin_data = std::string((1 << 20) + 1, 'a');
    cases.push_back(big);
  }
  // embed -f and inspect have no stdin: '-' is a missing file.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"embed", "--json", "-f", "-"},
        std::vector<std::string>{"inspect", "-"}}) {
    Case c{args, Expect::kFail, Guard::kNone, "'-' is no file here"};
    c.stdin_path = "/dev/zero";
    cases.push_back(c);
  }
  RunAndCheck(cases);
}

// ---------------------------------------------------------------------------------------------
// Numbers: each number-taking flag against NaN, infinities, negatives, zero and huge values.

struct NumberRow {
  std::vector<std::string> args;  // `{}` is the value
  // Values with their expectation; a flag lists those that matter for it.
  std::vector<std::pair<std::string, Expect>> values;
  Guard guard = Guard::kNone;
  std::string why;
};

constexpr Expect F = Expect::kFail, OK = Expect::kOk, EITHER = Expect::kEither;
// Integers that must be >= 1 (counts, sizes, k).
const std::vector<std::pair<std::string, Expect>> kPositiveInt = {
    {"nan", F}, {"inf", F}, {"-1", F}, {"0", F}, {"1e308", F}, {"9223372036854775807", F},
    {"abc", F}, {"", F}};
// Integers where 0 means something (off, all, default).
const std::vector<std::pair<std::string, Expect>> kNonNegativeInt = {
    {"nan", F}, {"inf", F}, {"-1", F}, {"1e308", F}, {"9223372036854775807", F}};
// Weights: finite and >= 0.
const std::vector<std::pair<std::string, Expect>> kWeight = {
    {"nan", F}, {"inf", F}, {"-inf", F}, {"-1", F}, {"1e308", EITHER}};
// Shares and probabilities in [0, 1].
const std::vector<std::pair<std::string, Expect>> kUnit = {
    {"nan", F}, {"inf", F}, {"-1", F}, {"1.5", F}, {"1e308", F}};
const std::vector<std::pair<std::string, Expect>> kThreads = {
    {"100000", F}, {"-1", F}, {"nan", F}, {"9223372036854775807", F}};
// Context lengths: >= 1, and a billion is far beyond any model here (and any cache memory).
const std::vector<std::pair<std::string, Expect>> kContext = {
    {"nan", F}, {"-1", F}, {"0", F}, {"1000000000", F}, {"9223372036854775807", F}};
// Document / episode ids: unsigned; ids that do not exist are an error (nothing half-done).
const std::vector<std::pair<std::string, Expect>> kId = {
    {"nan", F}, {"-1", F}, {"0", F}, {"1e308", F}, {"9223372036854775807", F},
    {"18446744073709551616", F}};
// Dimensions: >= 1 and bounded (100M floats per vector is no embedding).
const std::vector<std::pair<std::string, Expect>> kDimension = {
    {"nan", F}, {"-1", F}, {"0", F}, {"100000000", F}, {"9223372036854775807", F}};

TEST_F(AdversarialTest, Numbers) {
  const std::string text = (root_ / "in" / "text.txt").string();
  const std::string lines = (root_ / "in" / "lines.txt").string();
  const std::string squad = (root_ / "in" / "squad.json").string();
  const std::string locomo = (root_ / "in" / "locomo.json").string();
  const std::vector<std::string> gen = {"generate", "-p", "hi", "-n", "1", "--ctx", "64",
                                        "--seed", "1"};
  auto G = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = gen;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<std::string> eval_attention = {
      "eval", "attention", "--json", "--ctx", "128", "--steps", "1", "--depths", "0",
      "--policies", "full", "--texts", "essays", "--budgets", "0.05"};
  auto EA = [&](const std::string& flag) {
    std::vector<std::string> a = eval_attention;
    const auto it = std::find(a.begin(), a.end(), flag);
    if (it != a.end()) {
      *(it + 1) = "{}";
    } else {
      a.push_back(flag);
      a.push_back("{}");
    }
    return a;
  };
  auto Bench = [](std::vector<std::string> base, const std::string& flag) {
    const auto it = std::find(base.begin(), base.end(), flag);
    if (it != base.end()) {
      *(it + 1) = "{}";
    } else {
      base.push_back(flag);
      base.push_back("{}");
    }
    return base;
  };
  const std::vector<std::string> bench_memory = {
      "bench", "memory", "--json", "--episodes", "100", "--dim", "8", "--queries", "1",
      "--batch", "10", "--singles", "1", "--no-sync"};
  const std::vector<std::string> bench_retrieval = {
      "bench", "retrieval", "--json", "--chunks", "10", "--dim", "8", "--queries", "1",
      "--batch", "10"};
  const std::vector<std::string> bench_vectors = {"bench", "vectors", "--json", "--n", "100",
                                                  "--dim", "8", "--queries", "1", "--ef", "16"};
  const std::vector<std::string> bench_embed = {"bench", "embed", "--json", "--batch", "1",
                                                "--sentences", "2", "--repeat", "1", "-f", lines};
  const std::vector<std::string> bench_tokenize = {"bench", "tokenize", "--json", "-f", text,
                                                   "--repetitions", "1"};
  const std::vector<std::string> bench_prefill = {"bench", "prefill", "--json", "--ctx", "16",
                                                  "--repeat", "1", "--text", text};
  const std::vector<std::string> bench_decode = {"bench", "decode", "--json", "--ctx", "16",
                                                 "--tokens", "1", "--repeat", "1", "--text", text};
  const std::vector<std::string> bench_attention = {"bench", "attention", "--json", "--ctx",
                                                    "256", "--steps", "1", "--policies", "full"};
  const std::vector<std::string> eval_retrieval = {"eval", "retrieval", "--json", "--squad",
                                                   squad, "--max-questions", "1"};
  const std::vector<std::string> eval_memory = {"eval", "memory", "--json", "--no-sync",
                                                "--locomo", locomo};
  // Times: epoch ms or ISO 8601; NaN, infinities and 1e308 are no time; 2^63-1 ms is past
  // what a date can print (year 292 million).
  const std::vector<std::pair<std::string, Expect>> time = {
      {"nan", F}, {"inf", F}, {"1e308", F}, {"9223372036854775807", F}, {"", F}};

  const std::vector<NumberRow> rows = {
      // --threads everywhere it exists is 0..1024; 1024 itself is allowed (one cheap command).
      {{"embed", "--json", "--threads", "{}", "x"},
       {{"1024", OK}, {"100000", F}, {"-1", F}, {"nan", F}}},
      {{"search", "-c", "c1", "--json", "--threads", "{}", "Porto"}, kThreads},
      {{"ingest", "-c", "c1", "--threads", "{}", text}, kThreads, Guard::kCollection},
      {{"memory", "recall", "--ns", "n1", "--threads", "{}", "Porto"}, kThreads},
      {Bench(bench_prefill, "--threads"), kThreads},
      {Bench(eval_memory, "--threads"), kThreads},
      // search -k: 1..1000 (a bounded result, whatever the collection holds).
      {{"search", "-c", "c1", "--json", "-k", "{}", "Porto"},
       {{"nan", F},
        {"-1", F},
        {"0", F},
        {"1e308", F},
        {"9223372036854775807", F},
        {"1000", OK},
        {"1001", F}}},
      // delete / history / forget ids: unsigned, existing; a failure deletes nothing.
      {{"delete", "-c", "c1", "--json", "{}"}, kId, Guard::kCollection},
      {{"memory", "history", "--ns", "n1", "--json", "{}"}, kId},
      {{"memory", "forget", "--ns", "n1", "--json", "{}"}, kId, Guard::kMemory},
      // memory add: importance in [0, 1], a real time, a TTL that does not overflow.
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--importance", "{}", "x"},
       kUnit,
       Guard::kMemory},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--time", "{}", "x"},
       time,
       Guard::kMemory},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--ttl", "{}", "x"},
       {{"nan", F}, {"-1", F}, {"1e308", F}, {"9223372036854775807", F}},
       Guard::kMemory,
       "now + ttl in ms must not overflow"},
      // memory recall: k >= 1, finite non-negative weights, a positive half-life, real times.
      // (k and --limit: 1..10000, the store's bounds)
      {{"memory", "recall", "--ns", "n1", "--json", "-k", "{}", "Porto"},
       {{"nan", F}, {"-1", F}, {"0", F}, {"9223372036854775807", F}, {"10000", OK}, {"10001", F}}},
      {{"memory", "recall", "--ns", "n1", "--json", "--relevance", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--bm25", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--recency", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--importance", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--feedback", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--role", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--dense-feedback", "{}", "Porto"}, kWeight},
      {{"memory", "recall", "--ns", "n1", "--json", "--feedback-terms", "{}", "Porto"},
       {{"nan", F}, {"-1", F}, {"101", F}, {"100", OK}}},
      {{"memory", "recall", "--ns", "n1", "--json", "--half-life-hours", "{}", "Porto"},
       {{"nan", F}, {"-1", F}, {"0", F}, {"-inf", F}, {"inf", EITHER}, {"1e308", EITHER}}},
      {{"memory", "recall", "--ns", "n1", "--json", "--from", "{}", "Porto"}, time},
      {{"memory", "recall", "--ns", "n1", "--json", "--to", "{}", "Porto"}, time},
      {{"memory", "list", "--ns", "n1", "--session", "s1", "--json", "--limit", "{}"},
       {{"nan", F}, {"-1", F}, {"0", F}, {"9223372036854775807", F}, {"10000", OK}, {"10001", F}}},
      {{"memory", "list", "--ns", "n1", "--session", "s1", "--json", "--from", "{}"}, time},
      // generate: sampling values in their ranges, a context the model and memory can hold,
      // counts that fit.
      {G({"-n", "{}"}),
       {{"nan", F}, {"-1", F}, {"1e308", F}, {"9223372036854775807", F}, {"0", EITHER}}},
      {G({"--ctx", "{}"}), kContext},
      {G({"--temp", "{}"}), {{"nan", F}, {"inf", F}, {"-1", F}, {"1e308", F}}},
      {G({"--top-k", "{}"}), {{"nan", F}, {"-1", F}, {"9223372036854775807", F}, {"1000000", OK}}},
      {G({"--top-p", "{}"}), kUnit},
      {G({"--min-p", "{}"}), kUnit},
      {G({"--repeat-penalty", "{}"}), {{"nan", F}, {"inf", F}, {"-1", F}, {"0", F}, {"1e308", F}}},
      {G({"--frequency-penalty", "{}"}), {{"nan", F}, {"inf", F}, {"-inf", F}, {"1e308", F}}},
      {G({"--presence-penalty", "{}"}), {{"nan", F}, {"inf", F}, {"-inf", F}, {"1e308", F}}},
      {G({"--repeat-last-n", "{}"}), {{"nan", F}, {"-2", F}, {"9223372036854775807", F}}},
      {G({"--seed", "{}"}), {{"nan", F}, {"1e308", F}, {"abc", F}}},
      {G({"--budget", "{}"}), kUnit},
      {G({"--attention", "quest", "--budget", "{}"}), {{"nan", F}, {"0", EITHER}, {"2", F}}},
      {G({"--sinks", "{}"}), {{"nan", F}, {"-1", F}, {"9223372036854775807", F}}},
      {G({"--window", "{}"}), {{"nan", F}, {"-1", F}, {"9223372036854775807", F}}},
      {G({"--threads", "{}"}), kThreads},
      // compress: a ratio in (1, 1000], a positive budget that holds the question, shares in
      // range; checked before a model is loaded.
      {{"compress", "--json", "-q", "Porto", "--ratio", "{}", text},
       {{"nan", F},
        {"inf", F},
        {"-1", F},
        {"0", F},
        {"1", F},
        {"1000.5", F},
        {"1e308", F},
        {"2", OK}}},
      {{"compress", "--json", "-q", "where is Porto", "--budget-tokens", "{}", text},
       {{"nan", F}, {"-1", F}, {"0", F}, {"2", F}, {"9223372036854775807", OK}, {"50", OK}}},
      {{"compress", "--json", "--fine", "-q", "Porto", "--ratio", "2", "--fine-share", "{}", text},
       {{"nan", F}, {"-1", F}, {"5", F}, {"inf", F}}},
      {{"compress", "--json", "-q", "Porto", "--ratio", "2", "--segment-tokens", "{}", text},
       {{"nan", F}, {"0", F}, {"8", F}, {"100000", F}}},
      // eval attention: context lengths, steps, shares, depths, factors in range, before any
      // model is loaded or text read.
      {EA("--ctx"), kContext},
      {EA("--steps"), kPositiveInt},
      {EA("--budgets"), {{"nan", F}, {"-1", F}, {"0", F}, {"2", F}, {"inf", F}}},
      {EA("--depths"), {{"nan", F}, {"-1", F}, {"9223372036854775807", F}, {"1000000000", F}}},
      {EA("--sinks"), {{"nan", F}, {"-1", F}, {"1000000000", F}}},
      {EA("--window"), {{"nan", F}, {"-1", F}, {"1000000000", F}}},
      {EA("--candidate-factor"), {{"nan", F}, {"-1", F}, {"0", F}, {"inf", F}}},
      {EA("--threads"), kThreads},
      // eval retrieval / memory.
      {Bench(eval_retrieval, "--max-questions"), kNonNegativeInt},
      {Bench(eval_retrieval, "--question-stride"), kPositiveInt},
      {Bench(eval_retrieval, "--chunk-tokens"), kPositiveInt},
      {Bench(eval_memory, "--k"), kPositiveInt},
      {Bench(eval_memory, "--question-stride"), kPositiveInt},
      {Bench(eval_memory, "--rerank"), {{"nan", F}, {"-1", F}, {"101", F}}},
      {Bench(eval_retrieval, "--rerank"), {{"nan", F}, {"-1", F}, {"51", F}}},
      {Bench(eval_retrieval, "--overlap-tokens"), kNonNegativeInt},
      {Bench(eval_retrieval, "--reranker"), {{"foo", F}, {"", F}, {"LM", F}}},
      // bench: sizes >= 1 and bounded; repeats >= 1 (0 where it means "default").
      {Bench(bench_memory, "--episodes"), kPositiveInt},
      {Bench(bench_memory, "--dim"), kDimension},
      {Bench(bench_memory, "--queries"), kPositiveInt},
      {Bench(bench_memory, "--batch"), kPositiveInt},
      {Bench(bench_memory, "--singles"), kNonNegativeInt},
      {Bench(bench_retrieval, "--chunks"), kPositiveInt},
      {Bench(bench_retrieval, "--dim"), kDimension},
      {Bench(bench_retrieval, "--queries"), kPositiveInt},
      {Bench(bench_retrieval, "--batch"), kPositiveInt},
      {Bench(bench_vectors, "--n"), kPositiveInt},
      {Bench(bench_vectors, "--dim"), kDimension},
      {Bench(bench_vectors, "--queries"), kPositiveInt},
      {Bench(bench_vectors, "--ef"), kPositiveInt},
      {Bench(bench_embed, "--batch"), kPositiveInt},
      {Bench(bench_embed, "--sentences"), kPositiveInt},
      {Bench(bench_embed, "--repeat"), kPositiveInt},
      {Bench(bench_embed, "--threads"), kThreads},
      {Bench(bench_tokenize, "--repetitions"), kPositiveInt},
      {Bench(bench_prefill, "--ctx"), kContext},
      {Bench(bench_prefill, "--repeat"), kNonNegativeInt},
      {Bench(bench_decode, "--ctx"), kContext},
      {Bench(bench_decode, "--tokens"), kPositiveInt},
      {Bench(bench_decode, "--repeat"), kNonNegativeInt},
      {Bench(bench_attention, "--ctx"), kContext},
      {Bench(bench_attention, "--budget"), kUnit},
      {Bench(bench_attention, "--steps"), kPositiveInt},
      {Bench(bench_attention, "--sinks"), {{"nan", F}, {"-1", F}, {"1000000000", F}}},
      {Bench(bench_attention, "--window"), {{"nan", F}, {"-1", F}, {"1000000000", F}}},
  };
  std::vector<Case> cases;
  for (const NumberRow& row : rows) {
    for (const auto& [value, expect] : row.values) {
      cases.push_back({Fill(row.args, value), expect, row.guard,
                       row.why.empty() ? "value '" + value + "' for this flag" : row.why});
    }
  }
  RunAndCheck(cases);
}

// ---------------------------------------------------------------------------------------------
// Strings: invalid UTF-8, empty strings, names that are paths, control bytes.

TEST_F(AdversarialTest, Strings) {
  const std::string text = (root_ / "in" / "text.txt").string();
  const std::string ff = "\xff";
  const std::string nl = "a\nb";
  const std::string gen_n = "1";
  const std::vector<Case> cases = {
      // search: any query bytes are a query (JSON output stays valid); an empty one is not.
      {{"search", "-c", "c1", "--json", ff}, OK, {}, "a query of any bytes is a query"},
      {{"search", "-c", "c1", "--json", ""}, F, {}, "an empty query asks nothing"},
      {{"search", "-c", "c1", "--json", "--tag", ff, "Porto"}, OK, {}, "a filter matching none"},
      {{"search", "-c", "c1", "--json", "--source-prefix", ff, "Porto"}, OK, {},
       "a filter matching none"},
      {{"search", "-c", "c1", "--json", "--mode", ff, "Porto"}, F, {}, "no such mode"},
      {{"search", "-c", "c1", "--json", "--fusion", "", "Porto"}, F, {}, "no such fusion"},
      {{"search", "-c", "c1", "--json", "--precision", ff, "Porto"}, F, {}, "no such precision"},
      // Collection names: a name that does not exist is not found (and is not created); names
      // that are paths never reach outside the data directory.
      {{"search", "-c", ff, "Porto"}, F, {}, "no such collection"},
      {{"search", "-c", "", "Porto"}, F, {}, "an empty collection name"},
      {{"search", "-c", nl, "Porto"}, F, {}, "no such collection (one line)"},
      {{"search", "-c", "../c1", "Porto"}, F, {}, "a name is not a path"},
      {{"search", "-c", "/tmp", "Porto"}, F, {}, "a name is not a path"},
      {{"docs", "-c", ff, "--json"}, F, {}, "no such collection"},
      {{"docs", "-c", "..", "--json"}, F, {}, "a name is not a path"},
      {{"delete", "-c", "nope", "1"}, F, {}, "no such collection"},
      {{"delete", "-c", "c1", "1", "999999"}, F, Guard::kCollection,
       "999999 does not exist: all or nothing, document 1 stays"},
      {{"ingest", "-c", "", text}, F, {}, "an empty collection name"},
      {{"ingest", "-c", "..", text}, F, {}, "a name is not a path"},
      {{"ingest", "-c", "../escape", text}, F, {}, "a name is not a path"},
      {{"ingest", "-c", nl, text}, F, {}, "a collection name with a newline"},
      {{"ingest", "-c", "c1", "--json", "--tag", ff, text}, EITHER, Guard::kCollection,
       "a tag of invalid UTF-8: stored replaced or refused; JSON output stays valid"},
      {{"ingest", "-c", "c1", "--json", "--tag", "", text}, EITHER, Guard::kCollection,
       "an empty tag"},
      {{"ingest", "-c", "c1", "--index", ff, text}, F, Guard::kCollection, "no such index"},
      {{"ingest", "-c", "new", "--index", "bogus", text}, F, {}, "no such index"},
      {{"ingest", "-c", "new", "--stemming", "porter", text}, F, {}, "no such stemming"},
      {{"ingest", "-c", "c1", "--stemming", ff, text}, F, Guard::kCollection, "no such stemming"},
      {{"ingest", "-c", "c1", "--precision", "bogus", text}, F, Guard::kCollection,
       "no such precision"},
      {{"collections", "--json"}, OK, {},
       "a data directory whose name is not UTF-8 (none there yet: an empty list)", "/dev/null",
       std::nullopt, nullptr, "caf\xe9-data"},
      // memory: namespaces are 1-128 of a fixed alphabet; sessions and texts are not empty.
      {{"memory", "add", "--ns", ff, "--session", "s1", "x"}, F, {}, "namespace alphabet"},
      {{"memory", "add", "--ns", "", "--session", "s1", "x"}, F, {}, "empty namespace"},
      {{"memory", "add", "--ns", "../n1", "--session", "s1", "x"}, F, {}, "namespace alphabet"},
      {{"memory", "add", "--ns", nl, "--session", "s1", "x"}, F, {}, "namespace alphabet"},
      {{"memory", "add", "--ns", std::string(129, 'a'), "--session", "s1", "x"}, F, {},
       "namespace longer than 128"},
      {{"memory", "add", "--ns", "n1", "--session", "", "x"}, F, Guard::kMemory,
       "an empty session id"},
      {{"memory", "add", "--ns", "n1", "--session", "s1", ""}, F, Guard::kMemory,
       "an empty text is no turn"},
      {{"memory", "add", "--ns", "n1", "--session", ff, "--json", "x"}, EITHER, Guard::kMemory,
       "a session id of invalid UTF-8: replaced or refused; JSON stays valid"},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--role", ff, "--json", "x"}, EITHER,
       Guard::kMemory, "a role of invalid UTF-8"},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--role", "", "x"}, EITHER,
       Guard::kMemory, "an empty role"},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--meta", "k=" + ff, "--json", "x"},
       EITHER, Guard::kMemory, "metadata of invalid UTF-8"},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--meta", "=v", "x"}, F,
       Guard::kMemory, "metadata without a key"},
      {{"memory", "add", "--ns", "n1", "--session", "s1", "--json", ff}, EITHER, Guard::kMemory,
       "a text of invalid UTF-8"},
      {{"memory", "recall", "--ns", "n1", "--json", ff}, OK, {}, "a query of any bytes"},
      {{"memory", "recall", "--ns", "n1", "--json", "--session", ff, "Porto"}, OK, {},
       "a filter matching none"},
      {{"memory", "recall", "--ns", "n1", "--json", "--meta", "k=" + ff, "Porto"}, OK, {},
       "a filter matching none"},
      {{"memory", "recall", "--ns", ff, "Porto"}, F, {}, "namespace alphabet"},
      {{"memory", "list", "--ns", "n1", "--session", ff, "--json"}, EITHER, {},
       "a session that is not there: an empty page or not found"},
      {{"memory", "list", "--ns", "n1", "--session", "s1", "--page-token", ff}, F, {},
       "not a page token"},
      {{"memory", "list", "--ns", "n1", "--session", "s1", "--page-token", ""}, EITHER, {},
       "an empty page token: the first page, or refused"},
      {{"memory", "export", "--ns", "n1", "--session", ff}, EITHER, {},
       "a session that is not there"},
      {{"memory", "forget", "--ns", "n1", "--json", "1", "999999"}, F, Guard::kMemory,
       "999999 does not exist: all or nothing, episode 1 stays"},
      {{"memory", "forget", "--ns", "n1", "--session", ff}, EITHER, Guard::kMemory,
       "a session that is not there: nothing to forget"},
      {{"memory", "purge", "--ns", ff, "--yes"}, F, {}, "namespace alphabet"},
      // tokenize / embed / generate: text of any bytes is text.
      {{"tokenize", "--json", ff}, OK, {}, "byte-level BPE takes any bytes; JSON stays valid"},
      {{"tokenize", "--json", ""}, OK, {}, "empty text: the special tokens only"},
      {{"tokenize", "--json", "--chat", "--chat-template", ff, "x"}, F, {}, "no such template"},
      {{"tokenize", "--json", "-m", ff, "x"}, F, {}, "no such model file"},
      {{"embed", "--json", ff}, OK, {}, "WordPiece maps unknown bytes to [UNK]"},
      {{"embed", "--json", ""}, EITHER, {}, "an empty text"},
      {{"embed", "--json", "--precision", ff, "x"}, F, {}, "no such precision"},
      {{"generate", "-n", gen_n, "--ctx", "64", "--seed", "1", "-p", ff}, OK, {},
       "a prompt of any bytes"},
      {{"generate", "-n", gen_n, "--ctx", "64", "--seed", "1", "-p", "hi", "--stop", ff}, OK, {},
       "a stop string of any bytes"},
      {{"generate", "-n", gen_n, "--ctx", "64", "-p", "hi", "--chat", "--chat-template", ff}, F,
       {}, "no such template"},
      {{"generate", "-n", gen_n, "--ctx", "64", "-p", "hi", "--kv-type", ff}, F, {},
       "no such KV type"},
      {{"generate", "-n", gen_n, "--ctx", "64", "-p", "hi", "--attention", ff}, F, {},
       "no such attention"},
      {{"generate", "-n", gen_n, "--ctx", "64", "-p", "hi", "--attention", "retrieval:" + ff}, F,
       {}, "no such retrieval kind"},
      {{"generate", "-n", gen_n, "--ctx", "64", "-p", "hi", "-m", nl}, F, {},
       "a model path with a newline (one line)"},
      {{"inspect", nl}, F, {}, "no such file (one line)"},
      {{"eval", "attention", "--json", "--policies", ff}, F, {}, "no such policy"},
      {{"eval", "attention", "--json", "--texts", ff}, F, {}, "no such texts"},
      {{"eval", "memory", "--json", "--no-sync", "--cross-validate", "--locomo",
        (root_ / "in" / "locomo.json").string()},
       F, {}, "one conversation leaves nothing to cross-validate on"},
      {{"eval", "memory", "--json", "--no-sync", "--precision", ff, "--locomo",
        (root_ / "in" / "locomo.json").string()},
       F, {}, "no such precision"},
      {{"bench", "vectors", "--json", "--data", ff}, F, {}, "no such data"},
      {{"bench", "vectors", "--json", "--index", ff}, F, {}, "no such index"},
      {{"bench", "retrieval", "--json", "--index", ff}, F, {}, "no such index"},
      {{"bench", "attention", "--json", "--policies", ff}, F, {}, "no such policy"},
      {{"bench", "prefill", "--json", "--kv-type", ff}, F, {}, "no such KV type"},
      {{"--log-level", ff, "info"}, F, {}, "no such log level"},
      // Work directories: a file or a device is no directory.
      {{"bench", "memory", "--json", "--episodes", "100", "--dim", "8", "--queries", "1",
        "--batch", "10", "--singles", "1", "--no-sync", "--work-dir", text},
       F, {}, "a file is no work directory"},
      {{"bench", "retrieval", "--json", "--chunks", "10", "--dim", "8", "--queries", "1",
        "--batch", "10", "--work-dir", "/dev/zero"},
       F, {}, "a device is no work directory"},
  };
  RunAndCheck(cases);
}

// ---------------------------------------------------------------------------------------------
// Damaged data: a clear line, not a crash or a silently empty answer.

TEST_F(AdversarialTest, DamagedData) {
  auto truncate = [](const std::string& rel, uint64_t size) {
    return [rel, size](const fs::path& data) { fs::resize_file(data / rel, size); };
  };
  auto replace = [](const std::string& rel, const std::string& bytes) {
    return [rel, bytes](const fs::path& data) { WriteFile(data / rel, bytes); };
  };
  std::vector<Case> cases;
  auto add = [&](std::vector<std::string> args, Expect e, std::string why,
                 std::function<void(const fs::path&)> prepare) {
    Case c{std::move(args), e, Guard::kNone, std::move(why)};
    c.prepare = std::move(prepare);
    cases.push_back(c);
  };
  // A damaged vector index may be rebuilt from the embeddings in the store, or reported.
  add({"search", "-c", "c1", "--json", "Porto"}, EITHER, "vector index cut to 10 bytes",
      truncate("collections/c1/vectors.faiss", 10));
  add({"search", "-c", "c1", "--json", "Porto"}, EITHER, "vector index of random bytes",
      replace("collections/c1/vectors.faiss", std::string(4096, '\x5a')));
  add({"search", "-c", "c1", "--json", "Porto"}, F, "RocksDB CURRENT damaged",
      replace("collections/c1/db/CURRENT", "garbage\n"));
  add({"docs", "-c", "c1", "--json"}, F, "RocksDB CURRENT damaged",
      replace("collections/c1/db/CURRENT", "garbage\n"));
  add({"collections", "--json"}, EITHER, "a damaged collection is listed as damaged, or refused",
      replace("collections/c1/db/CURRENT", "garbage\n"));
  add({"search", "-c", "c1", "--json", "Porto"}, F, "the collection is a file",
      [](const fs::path& data) {
        fs::remove_all(data / "collections" / "c1");
        WriteFile(data / "collections" / "c1", "x");
      });
  add({"memory", "recall", "--ns", "n1", "--json", "Porto"}, EITHER,
      "index file of random bytes: rebuilt from the store, or reported damaged",
      replace("memory/index/n1.vindex", std::string(4096, '\x5a')));
  add({"memory", "recall", "--ns", "n1", "--json", "Porto"}, F, "RocksDB CURRENT damaged",
      replace("memory/db/CURRENT", "garbage\n"));
  add({"memory", "add", "--ns", "n1", "--session", "s1", "x"}, F, "RocksDB CURRENT damaged",
      replace("memory/db/CURRENT", "garbage\n"));
  RunAndCheck(cases);
}

}  // namespace
}  // namespace engram
