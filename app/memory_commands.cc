// Episodic memory from the command line (memory/episodic_store.h):
//   engram memory add     --ns N --session S [--role R] [--time T] [--importance X] [--meta k=v]…
//                         [--ttl SECONDS] TEXT | -
//   engram memory recall  --ns N [-k 10] [--session S] [--from T] [--to T] [--meta k=v]…
//                         [--relevance W] [--bm25 W] [--recency W] [--importance W]
//                         [--half-life-hours H] QUERY
//   engram memory list    --ns N --session S [--from T] [--to T] [--limit 100] [--page-token TOK]
//   engram memory history --ns N ID
//   engram memory forget  --ns N ID… | --session S
//   engram memory purge   --ns N --yes
//   engram memory export  --ns N [--session S]…        (JSON Lines, one episode a line)
// The store lives in <data-dir>/memory; every command opens it with the default embedder (or
// --model DIR) and fsyncs every write. Times T are Unix epoch milliseconds or ISO 8601 UTC
// ("2023-05-08T13:56:00Z"; fractions of a second and +HH:MM offsets are accepted too) from
// 1970 to 9999. Every command takes --json. Only `add` creates the store; the others report a
// missing one. Numeric options are checked by the store (memory/episodic_store.h), whose
// messages are reworded here to name the flags. A command given several ids or sessions does
// all of it or nothing: an unknown one is reported with every other unknown one.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/cli.h"
#include "common/input_file.h"
#include "common/json_write.h"
#include "common/paths.h"
#include "common/utc_time.h"
#include "inference/bert_embedder.h"
#include "memory/episodic_store.h"
#include "nlohmann/json.hpp"

namespace engram::app {
namespace {

using json = nlohmann::json;

// ---- time, metadata, output helpers ----

// Unix epoch milliseconds (an integer) or ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)".
Result<int64_t> ParseTime(std::string_view what, std::string_view s) {
  const auto bad = [&]() {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(s) +
                                   "' is not epoch milliseconds or an ISO 8601 UTC time like "
                                   "2023-05-08T13:56:00Z");
  };
  if (s.empty()) return bad();
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const size_t sign = s[0] == '-' ? 1 : 0;
  if (s.size() > sign && std::all_of(s.begin() + sign, s.end(), is_digit)) {
    int64_t ms = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
    if (ec != std::errc() || end != s.data() + s.size()) return bad();
    return ms;
  }
  const auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!is_digit(s[i])) return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || s[10] != 'T' || !digits(11, 2, hour) || s[13] != ':' ||
      !digits(14, 2, minute) || s[16] != ':' || !digits(17, 2, second)) {
    return bad();
  }
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (s[pos] == '.') {
    const size_t start = ++pos;
    for (int64_t scale = 100; pos < s.size() && is_digit(s[pos]); ++pos, scale /= 10) {
      frac_ms += (s[pos] - '0') * scale;
    }
    if (pos == start) return bad();
  }
  int64_t offset_minutes = 0;
  if (pos + 1 == s.size() && s[pos] == 'Z') {
    // UTC
  } else if (int oh = 0, om = 0; pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') &&
                                 digits(pos + 1, 2, oh) && s[pos + 3] == ':' &&
                                 digits(pos + 4, 2, om) && oh < 24 && om < 60) {
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
  } else {
    return bad();
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return bad();
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const int64_t minutes = (days * 24 + hour) * 60 + minute - offset_minutes;
  return (minutes * 60 + second) * 1000 + frac_ms;
}

// ParseTime within the times the store keeps (1970 to 9999).
Result<int64_t> ParseStoreTime(std::string_view what, std::string_view s) {
  Result<int64_t> t = ParseTime(what, s);
  if (t.ok() && (*t < memory::kMinTimeMs || *t > memory::kMaxTimeMs)) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(s) +
                                   "' is outside 1970-01-01T00:00:00Z to "
                                   "9999-12-31T23:59:59.999Z (epoch ms 0 to " +
                                   std::to_string(memory::kMaxTimeMs) + ")");
  }
  return t;
}

// The store names RecallOptions / ListOptions fields; the user typed flags.
Status WithFlagNames(const Status& st, std::string_view command) {
  if (st.code() != StatusCode::kInvalidArgument) return st;
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"recall k", "-k"},
      {"relevance_weight", "--relevance"},
      {"bm25_weight", "--bm25"},
      {"recency_weight", "--recency"},
      {"importance_weight", "--importance"},
      {"half_life_hours", "--half-life-hours"},
      {"feedback_terms", "--feedback-terms"},
      {"feedback_weight", "--feedback"},
      {"dense_feedback_weight", "--dense-feedback"},
      {"role_weight", "--role"},
      {"list limit", "--limit"},
      {"timestamp_ms", "--time"},
  };
  std::string message(st.message());
  for (const auto& [field, flag] : kNames) {
    const size_t at = message.find(field);
    if (at != std::string::npos) message.replace(at, field.size(), flag);
  }
  if (message.starts_with("memory: ")) message.replace(0, 8, std::string(command) + ": ");
  return Status(st.code(), message);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --meta k=v…: a map; a pair without '=' or with an empty key, or a key given twice, is refused.
Result<std::map<std::string, std::string>> ParseMeta(std::string_view command,
                                                     const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> meta;
  for (const std::string& pair : pairs) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(std::string(command) + ": --meta '" + pair +
                                     "' is not key=value");
    }
    if (!meta.emplace(pair.substr(0, eq), pair.substr(eq + 1)).second) {
      return Status::InvalidArgument(std::string(command) + ": --meta key '" + pair.substr(0, eq) +
                                     "' is given twice");
    }
  }
  return meta;
}

// Optional --from/--to into [from, to]; an empty flag keeps the bound open.
Status ParseRange(std::string_view command, const std::string& from, const std::string& to,
                  int64_t& from_ms, int64_t& to_ms) {
  if (!from.empty()) {
    Result<int64_t> t = ParseStoreTime(std::string(command) + ": --from", from);
    if (!t.ok()) return t.status();
    from_ms = *t;
  }
  if (!to.empty()) {
    Result<int64_t> t = ParseStoreTime(std::string(command) + ": --to", to);
    if (!t.ok()) return t.status();
    to_ms = *t;
  }
  if (from_ms > to_ms) {
    return Status::InvalidArgument(std::string(command) + ": --from is later than --to");
  }
  return Status::OK();
}

json EpisodeJson(const memory::Episode& e) {
  return {{"id", e.id},
          {"session", e.session},
          {"role", e.role},
          {"text", e.text},
          {"timestamp_ms", e.timestamp_ms},
          {"importance", e.importance},
          {"metadata", e.metadata},
          {"expires_ms", e.expires_ms},
          {"version", e.version},
          {"sources", e.sources}};
}

// Texts come from users: JsonText never lets invalid UTF-8 abort the output.
void PrintJson(const json& j, int indent = 2) { std::printf("%s\n", JsonText(j, indent).c_str()); }

// One line of at most ~200 bytes (cut on a UTF-8 character boundary).
std::string Preview(std::string_view text) {
  constexpr size_t kMax = 200;
  size_t n = std::min(text.size(), kMax);
  while (n < text.size() && n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  std::string out(text.substr(0, n));
  for (char& c : out) c = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return n < text.size() ? out + "…" : out;
}

// ---- flags and the store ----

struct MemoryFlags {
  std::string ns;
  std::string model;
  std::string precision = "auto";
  int threads = 0;
  bool json = false;
};

void AddCommonFlags(CLI::App* cmd, MemoryFlags& f) {
  cmd->add_option("--ns", f.ns,
                  "Namespace (one per user or tenant): 1-128 of A-Z a-z 0-9 . _ : @ -")
      ->required();
  cmd->add_option("--model", f.model,
                  "Embedder: a sentence-transformers directory or bert GGUF (default: "
                  "all-MiniLM-L6-v2); a store keeps the embedder it was made with");
  cmd->add_option("--precision", f.precision, "Embedder precision: auto, f32, bf16 or int8")
      ->default_val("auto");
  AddThreadsOption(cmd, &f.threads);
  cmd->add_flag("--json", f.json, "Print JSON");
}

struct Opened {
  std::unique_ptr<inference::BertEmbedder> embedder;  // declared first: outlives the store
  std::unique_ptr<memory::EpisodicStore> store;
};

// Opens <data-dir>/memory. Only `create` makes a new store; otherwise a missing one is kNotFound.
Result<Opened> OpenStore(const GlobalFlags& global, const MemoryFlags& f, bool create) {
  const std::string path = MemoryDir(ResolveDataDir(global.data_dir)).string();
  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(f.precision);
  if (!precision.ok()) return precision.status();
  Opened o;
  Result<std::unique_ptr<inference::BertEmbedder>> e = inference::BertEmbedder::OpenOrDefault(
      f.model, {.n_threads = f.threads, .precision = *precision});
  if (!e.ok()) return e.status();
  o.embedder = std::move(*e);
  memory::StoreOptions options;
  options.embedder = o.embedder.get();
  options.sync = true;
  options.create_if_missing = create;
  Result<std::unique_ptr<memory::EpisodicStore>> store = memory::EpisodicStore::Open(path, options);
  if (!store.ok()) {
    if (!create && store.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("memory: no memory store in '" + path +
                              "' yet (check --data-dir; `engram memory add` creates it)");
    }
    return store.status();
  }
  o.store = std::move(*store);
  return o;
}

// ---- add ----

struct AddFlags : MemoryFlags {
  std::string session;
  std::string role = "user";
  std::string time;
  double importance = memory::Episode{}.importance;
  std::vector<std::string> meta;
  int64_t ttl_s = 0;
  std::string text;
};

Status RunAdd(const GlobalFlags& global, const AddFlags& f) {
  memory::Episode e;
  if (f.session.empty()) return Status::InvalidArgument("memory add: --session must not be empty");
  e.session = f.session;
  e.role = f.role;
  e.importance = f.importance;
  if (!f.time.empty()) {
    Result<int64_t> t = ParseStoreTime("memory add: --time", f.time);
    if (!t.ok()) return t.status();
    e.timestamp_ms = *t;
  }
  Result<std::map<std::string, std::string>> meta = ParseMeta("memory add", f.meta);
  if (!meta.ok()) return meta.status();
  e.metadata = std::move(*meta);
  const int64_t now = NowMs();
  const int64_t max_ttl_s = (memory::kMaxTimeMs - now) / 1000;
  if (f.ttl_s < 0 || f.ttl_s > max_ttl_s) {
    return Status::InvalidArgument("memory add: --ttl " + std::to_string(f.ttl_s) +
                                   " is outside 0 to " + std::to_string(max_ttl_s) +
                                   " seconds (an expiry by 9999-12-31T23:59:59Z)");
  }
  if (f.ttl_s > 0) e.expires_ms = now + f.ttl_s * 1000;  // from now, whatever --time says
  if (f.text == "-") {
    Result<std::string> text = ReadInput("-", memory::kMaxEpisodeTextBytes, "memory add: text");
    if (!text.ok()) return text.status();
    e.text = std::move(*text);
    while (!e.text.empty() && (e.text.back() == '\n' || e.text.back() == '\r')) e.text.pop_back();
  } else {
    e.text = f.text;
  }
  if (e.text.empty()) return Status::InvalidArgument("memory add: the text is empty");

  Result<Opened> o = OpenStore(global, f, /*create=*/true);
  if (!o.ok()) return o.status();
  Result<uint64_t> id = o->store->Append(f.ns, e);
  if (!id.ok()) return WithFlagNames(id.status(), "memory add");
  if (f.json) {
    PrintJson(json{{"id", *id}}, -1);
  } else {
    std::printf("%llu\n", static_cast<unsigned long long>(*id));
  }
  return Status::OK();
}

// ---- recall ----

struct RecallFlags : MemoryFlags {
  std::string query;
  std::string from, to;
  std::vector<std::string> meta;
  memory::RecallOptions options;
};

Status RunRecall(const GlobalFlags& global, const RecallFlags& f) {
  memory::RecallOptions options = f.options;
  if (f.query.empty()) return Status::InvalidArgument("memory recall: the query is empty");
  if (Status s = ParseRange("memory recall", f.from, f.to, options.from_ms, options.to_ms);
      !s.ok()) {
    return s;
  }
  Result<std::map<std::string, std::string>> meta = ParseMeta("memory recall", f.meta);
  if (!meta.ok()) return meta.status();
  options.metadata = std::move(*meta);

  Result<Opened> o = OpenStore(global, f, /*create=*/false);
  if (!o.ok()) return o.status();
  Result<std::vector<memory::RecalledEpisode>> hits = o->store->Recall(f.ns, f.query, options);
  if (!hits.ok()) return WithFlagNames(hits.status(), "memory recall");
  if (f.json) {
    json results = json::array();
    for (const memory::RecalledEpisode& h : *hits) {
      json r = {{"id", h.episode.id},
                {"score", h.score},
                {"relevance", h.relevance},
                {"bm25", h.bm25},
                {"recency", h.recency}};
      json episode = EpisodeJson(h.episode);
      for (auto& [key, value] : episode.items()) {
        if (key != "id") r[key] = std::move(value);
      }
      results.push_back(std::move(r));
    }
    PrintJson({{"namespace", f.ns}, {"query", f.query}, {"results", results}});
    return Status::OK();
  }
  for (size_t i = 0; i < hits->size(); ++i) {
    const memory::RecalledEpisode& h = (*hits)[i];
    std::printf("%zu. %.4f  [%llu] %s  %s/%s: %s\n", i + 1, h.score,
                static_cast<unsigned long long>(h.episode.id),
                FormatUtcTime(h.episode.timestamp_ms).c_str(), h.episode.session.c_str(),
                h.episode.role.c_str(), Preview(h.episode.text).c_str());
  }
  return Status::OK();
}

// ---- list ----

struct ListFlags : MemoryFlags {
  std::string session;
  std::string from, to;
  int limit = 100;
  std::string page_token;
};

void PrintEpisodeLine(const memory::Episode& e) {
  std::printf("[%llu] %s  %s: %s\n", static_cast<unsigned long long>(e.id),
              FormatUtcTime(e.timestamp_ms).c_str(), e.role.c_str(), Preview(e.text).c_str());
}

Status RunList(const GlobalFlags& global, const ListFlags& f) {
  memory::ListOptions options;
  if (Status s = ParseRange("memory list", f.from, f.to, options.from_ms, options.to_ms); !s.ok()) {
    return s;
  }
  options.limit = f.limit > 0 ? static_cast<size_t>(f.limit) : 0;  // 0: refused by the store
  options.page_token = f.page_token;
  Result<Opened> o = OpenStore(global, f, /*create=*/false);
  if (!o.ok()) return o.status();
  Result<memory::EpisodePage> page = o->store->ListSession(f.ns, f.session, options);
  if (!page.ok()) return WithFlagNames(page.status(), "memory list");
  if (f.json) {
    json episodes = json::array();
    for (const memory::Episode& e : page->episodes) episodes.push_back(EpisodeJson(e));
    PrintJson({{"namespace", f.ns},
               {"session", f.session},
               {"episodes", episodes},
               {"next_page_token", page->next_page_token}});
    return Status::OK();
  }
  for (const memory::Episode& e : page->episodes) PrintEpisodeLine(e);
  if (!page->next_page_token.empty()) {
    std::printf("more: --page-token %s\n", page->next_page_token.c_str());
  }
  return Status::OK();
}

// ---- history ----

struct HistoryFlags : MemoryFlags {
  uint64_t id = 0;
};

Status RunHistory(const GlobalFlags& global, const HistoryFlags& f) {
  Result<Opened> o = OpenStore(global, f, /*create=*/false);
  if (!o.ok()) return o.status();
  Result<std::vector<memory::Episode>> versions = o->store->History(f.ns, f.id);
  if (!versions.ok()) return versions.status();
  if (f.json) {
    json out = json::array();
    for (const memory::Episode& e : *versions) out.push_back(EpisodeJson(e));
    PrintJson({{"namespace", f.ns}, {"id", f.id}, {"versions", out}});
    return Status::OK();
  }
  for (const memory::Episode& e : *versions) {
    std::printf("v%u  %s  %s: %s\n", e.version, FormatUtcTime(e.timestamp_ms).c_str(), e.role.c_str(),
                Preview(e.text).c_str());
  }
  return Status::OK();
}

// ---- forget, purge ----

struct ForgetFlags : MemoryFlags {
  std::vector<uint64_t> ids;
  std::string session;
};

Status RunForget(const GlobalFlags& global, const ForgetFlags& f) {
  if (f.ids.empty() == f.session.empty()) {
    return Status::InvalidArgument(
        "memory forget: give episode ids or --session S (to forget a whole session), not both");
  }
  Result<Opened> o = OpenStore(global, f, /*create=*/false);
  if (!o.ok()) return o.status();
  uint64_t forgotten = 0;
  if (!f.session.empty()) {
    Result<uint64_t> n = o->store->ForgetSession(f.ns, f.session);
    if (!n.ok()) return n.status();
    forgotten = *n;
  } else {  // all of them in one atomic write, or none (naming every unknown id)
    if (Status s = o->store->Forget(f.ns, f.ids); !s.ok()) return s;
    forgotten = std::set<uint64_t>(f.ids.begin(), f.ids.end()).size();
  }
  if (f.json) {
    json out = {{"namespace", f.ns}, {"forgotten", forgotten}};
    if (!f.session.empty())
      out["session"] = f.session;
    else
      out["ids"] = f.ids;
    PrintJson(out, -1);
  } else {
    std::printf("forgot %llu episode(s)\n", static_cast<unsigned long long>(forgotten));
  }
  return Status::OK();
}

struct PurgeFlags : MemoryFlags {
  bool yes = false;
};

Status RunPurge(const GlobalFlags& global, const PurgeFlags& f) {
  if (!f.yes) {
    return Status::InvalidArgument("memory purge: this deletes every episode of namespace '" +
                                   f.ns + "' for good; add --yes to confirm");
  }
  Result<Opened> o = OpenStore(global, f, /*create=*/false);
  if (!o.ok()) return o.status();
  if (Status s = o->store->PurgeNamespace(f.ns); !s.ok()) return s;
  if (f.json) {
    PrintJson(json{{"namespace", f.ns}, {"purged", true}}, -1);
  } else {
    std::printf("purged namespace %s\n", f.ns.c_str());
  }
  return Status::OK();
}

// ---- export ----

struct ExportFlags : MemoryFlags {
  std::vector<std::string> sessions;
};

// The named sessions, or every session of the namespace.
Status RunExport(const GlobalFlags& global, const ExportFlags& f) {
  Result<Opened> o = OpenStore(global, f, /*create=*/false);
  if (!o.ok()) return o.status();
  Result<std::vector<std::string>> all = o->store->Sessions(f.ns);
  if (!all.ok()) return all.status();
  std::vector<std::string> sessions = f.sessions.empty() ? *all : f.sessions;
  // Every named session must exist before anything is written: no partial export.
  std::string unknown;
  for (const std::string& session : sessions) {
    if (!std::binary_search(all->begin(), all->end(), session)) {
      unknown += (unknown.empty() ? "'" : ", '") + session + "'";
    }
  }
  if (!unknown.empty()) {
    return Status::NotFound("memory export: namespace '" + f.ns + "' has no session " + unknown +
                            "; nothing was exported");
  }
  for (const std::string& session : sessions) {
    memory::ListOptions options;
    options.limit = 1000;
    do {
      Result<memory::EpisodePage> page = o->store->ListSession(f.ns, session, options);
      if (!page.ok()) return page.status();
      for (const memory::Episode& e : page->episodes) PrintJson(EpisodeJson(e), -1);
      options.page_token = std::move(page->next_page_token);
    } while (!options.page_token.empty());
  }
  return Status::OK();
}

}  // namespace

void RegisterMemoryCommands(CLI::App& app, const GlobalFlags& global, CommandTable& commands) {
  CLI::App* mem = app.add_subcommand(
      "memory",
      "Persistent episodic memory per namespace: add, recall, list, history, forget, "
      "purge, export");
  mem->require_subcommand(1);
  mem->fallthrough();  // global flags may follow `memory <command>`
  const std::string time_help = "epoch ms or ISO 8601 UTC (2023-05-08T13:56:00Z)";

  auto add = std::make_shared<AddFlags>();
  CLI::App* cmd = mem->add_subcommand("add", "Remember one turn; prints its id");
  AddCommonFlags(cmd, *add);
  cmd->add_option("--session", add->session, "The conversation it belongs to")->required();
  cmd->add_option("--role", add->role, "user, assistant, a speaker's name…")->capture_default_str();
  cmd->add_option("--time", add->time, "When it was said: " + time_help + " (default: now)")
      ->check(NonEmpty());
  cmd->add_option("--importance", add->importance, "In [0, 1]")->capture_default_str();
  cmd->add_option("--meta", add->meta, "Metadata key=value (repeatable)");
  cmd->add_option("--ttl", add->ttl_s, "Forget it this many seconds from now (0: never)")
      ->capture_default_str();
  cmd->add_option("text", add->text, "The text, or - for stdin")->required();
  commands.Add(cmd, [&global, add]() { return RunAdd(global, *add); });

  auto recall = std::make_shared<RecallFlags>();
  memory::RecallOptions& ro = recall->options;
  cmd = mem->add_subcommand("recall", "The episodes that best answer a query, best first");
  AddCommonFlags(cmd, *recall);
  cmd->add_option("query", recall->query, "The query")->required();
  cmd->add_option("-k", ro.k, "Episodes to return")->capture_default_str();
  cmd->add_option("--session", ro.session, "Only this session");
  cmd->add_option("--from", recall->from, "Only episodes at or after: " + time_help)
      ->check(NonEmpty());
  cmd->add_option("--to", recall->to, "Only episodes at or before: " + time_help)
      ->check(NonEmpty());
  cmd->add_option("--meta", recall->meta, "Only episodes with metadata key=value (repeatable)");
  cmd->add_option("--relevance", ro.relevance_weight, "Weight of the cosine similarity")
      ->capture_default_str();
  cmd->add_option("--bm25", ro.bm25_weight, "Weight of the normalised BM25 score")
      ->capture_default_str();
  cmd->add_option("--recency", ro.recency_weight, "Weight of 0.5^(age / half-life)")
      ->capture_default_str();
  cmd->add_option("--importance", ro.importance_weight, "Weight of the episode's importance")
      ->capture_default_str();
  cmd->add_option("--half-life-hours", ro.half_life_hours, "Recency half-life")
      ->capture_default_str();
  cmd->add_option("--feedback-terms", ro.feedback_terms,
                  "Terms of the best BM25 hits added to the query (0: no feedback)")
      ->capture_default_str();
  cmd->add_option("--feedback", ro.feedback_weight, "Weight of those terms against the query's")
      ->capture_default_str();
  cmd->add_option("--dense-feedback", ro.dense_feedback_weight,
                  "Weight of the best BM25 hits' mean embedding added to the query's")
      ->capture_default_str();
  cmd->add_option("--role", ro.role_weight, "Added when the query names the episode's role")
      ->capture_default_str();
  commands.Add(cmd, [&global, recall]() { return RunRecall(global, *recall); });

  auto list = std::make_shared<ListFlags>();
  cmd = mem->add_subcommand("list", "The episodes of one session, by time, a page at a time");
  AddCommonFlags(cmd, *list);
  cmd->add_option("--session", list->session, "The session")->required();
  cmd->add_option("--from", list->from, "From: " + time_help)
      ->check(NonEmpty());
  cmd->add_option("--to", list->to, "To (inclusive): " + time_help)
      ->check(NonEmpty());
  cmd->add_option("--limit", list->limit, "Episodes per page")->capture_default_str();
  cmd->add_option("--page-token", list->page_token, "The previous page's next_page_token");
  commands.Add(cmd, [&global, list]() { return RunList(global, *list); });

  auto history = std::make_shared<HistoryFlags>();
  cmd = mem->add_subcommand("history", "Every version of an episode, oldest first");
  AddCommonFlags(cmd, *history);
  cmd->add_option("id", history->id, "Episode id")->required();
  commands.Add(cmd, [&global, history]() { return RunHistory(global, *history); });

  auto forget = std::make_shared<ForgetFlags>();
  cmd = mem->add_subcommand("forget", "Remove episodes (with their history), or a whole session");
  AddCommonFlags(cmd, *forget);
  cmd->add_option("ids", forget->ids, "Episode ids");
  cmd->add_option("--session", forget->session, "Forget every episode of this session instead");
  commands.Add(cmd, [&global, forget]() { return RunForget(global, *forget); });

  auto purge = std::make_shared<PurgeFlags>();
  cmd = mem->add_subcommand("purge", "Remove everything of a namespace (needs --yes)");
  AddCommonFlags(cmd, *purge);
  cmd->add_flag("--yes", purge->yes, "Yes, delete the whole namespace");
  commands.Add(cmd, [&global, purge]() { return RunPurge(global, *purge); });

  auto exp = std::make_shared<ExportFlags>();
  cmd = mem->add_subcommand("export",
                            "Write a namespace's episodes (or the named sessions') as JSON Lines");
  AddCommonFlags(cmd, *exp);
  cmd->add_option("--session", exp->sessions, "Only this session (repeatable; default: all)");
  commands.Add(cmd, [&global, exp]() { return RunExport(global, *exp); });
}

}  // namespace engram::app
