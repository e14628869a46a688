#include "retrieval/bm25_index.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "common/key_encoding.h"
#include "retrieval/rocks_store.h"

namespace engram::retrieval {
namespace {

constexpr size_t kHeaderBytes = 16;
constexpr size_t kPostingBytes = 16;
// Bounds are inflated by this factor: a score summed in another order, or a bound evaluated
// with different rounding, must never make pruning drop a document that ties or wins.
constexpr double kBoundSlack = 1.0 + 1e-9;

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void Store(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

using Posting = Bm25Index::Posting;

std::string EncodeSegment(std::span<const Posting> postings) {
  uint32_t max_tf = 0, min_length = UINT32_MAX;
  for (const Posting& p : postings) {
    max_tf = std::max(max_tf, p.tf);
    min_length = std::min(min_length, p.length);
  }
  std::string out;
  out.reserve(kHeaderBytes + postings.size() * kPostingBytes);
  Store<uint32_t>(out, static_cast<uint32_t>(postings.size()));
  Store<uint32_t>(out, max_tf);
  Store<uint32_t>(out, min_length);
  Store<uint32_t>(out, 0);
  for (const Posting& p : postings) {
    Store<uint64_t>(out, p.id);
    Store<uint32_t>(out, p.tf);
    Store<uint32_t>(out, p.length);
  }
  return out;
}

// A stored segment, read in place (the bytes belong to the iterator or string it came from).
struct Segment {
  const char* data = nullptr;  // the first posting
  uint32_t count = 0, max_tf = 0, min_length = 0;

  uint64_t Id(size_t i) const { return Load<uint64_t>(data + i * kPostingBytes); }
  uint32_t Tf(size_t i) const { return Load<uint32_t>(data + i * kPostingBytes + 8); }
  uint32_t Length(size_t i) const { return Load<uint32_t>(data + i * kPostingBytes + 12); }
  uint64_t last() const { return Id(count - 1); }
  // The index of `id`, or -1.
  int64_t Find(uint64_t id) const {
    size_t lo = 0, hi = count;
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (Id(mid) < id) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo < count && Id(lo) == id ? static_cast<int64_t>(lo) : -1;
  }
};

bool DecodeSegment(std::string_view value, Segment* s) {
  if (value.size() < kHeaderBytes) return false;
  s->count = Load<uint32_t>(value.data());
  s->max_tf = Load<uint32_t>(value.data() + 4);
  s->min_length = Load<uint32_t>(value.data() + 8);
  s->data = value.data() + kHeaderBytes;
  return s->count > 0 && value.size() == kHeaderBytes + size_t{s->count} * kPostingBytes;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  return retrieval::FromRocks(s, "bm25 index", what);
}

Status DamagedSegment(std::string_view term) {
  return Status::Corruption("bm25 index: a postings segment of term '" + std::string(term) +
                            "' is damaged; rebuild the store from its documents or a backup");
}

// The exclusive end of the keys starting with `prefix` (which ends in NUL here).
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace

void Bm25Changes::Add(uint64_t id, std::span<const std::string> terms) {
  std::map<std::string_view, uint32_t> tf;
  for (const std::string& t : terms) ++tf[t];
  for (const auto& [t, n] : tf) {
    terms_[std::string(t)].added.push_back({id, n, static_cast<uint32_t>(terms.size())});
  }
}

void Bm25Changes::Remove(uint64_t id, std::span<const std::string> terms) {
  std::map<std::string_view, uint32_t> tf;
  for (const std::string& t : terms) ++tf[t];
  for (const auto& [t, n] : tf) terms_[std::string(t)].removed.push_back(id);
}

// Walks the segments of one term for ascending ids.
class Bm25Index::Cursor {
 public:
  Cursor(const Bm25Index& index, std::string_view term)
      : term_(term), prefix_(index.SegmentPrefix(term)), end_(PrefixEnd(prefix_)) {
    rocksdb::ReadOptions ro;
    upper_ = rocksdb::Slice(end_);
    ro.iterate_upper_bound = &upper_;
    it_.reset(index.db_->NewIterator(ro, index.postings_));
  }

  // Every segment in order: Start, then Next while *valid.
  Status Start(bool* valid) {
    it_->Seek(prefix_);
    return Load(valid);
  }
  Status Next(bool* valid) {
    it_->Next();
    return Load(valid);
  }
  const Segment& segment() const { return segment_; }
  uint64_t first() const { return first_; }

  // The segment whose range [first, last] holds `id`, or null. Ids must come ascending.
  Status Find(uint64_t id, const Segment** out) {
    *out = nullptr;
    if (at_end_) return Status::OK();
    if (positioned_ && id < first_) return Status::OK();  // in the gap before this segment
    if (positioned_ && id <= segment_.last()) {
      *out = &segment_;
      return Status::OK();
    }
    // A few steps forward are cheaper than a seek when the id is likely within a few segments
    // (judged by the id span of this one); a sparse id set seeks at once.
    bool valid = positioned_;
    if (valid) valid = id - segment_.last() <= 4 * (segment_.last() - first_ + 1);
    for (int step = 0; valid && step < 4; ++step) {
      if (Status s = Next(&valid); !s.ok()) return s;
      if (!valid) {
        at_end_ = true;  // past the last segment: no later id is here either
        return Status::OK();
      }
      if (id < first_) return Status::OK();
      if (id <= segment_.last()) {
        *out = &segment_;
        return Status::OK();
      }
    }
    std::string key = prefix_;
    AppendBigEndian64(key, id);
    it_->SeekForPrev(key);
    if (Status s = Load(&valid); !s.ok() || !valid) return s;
    if (id <= segment_.last()) *out = &segment_;
    return Status::OK();
  }

 private:
  Status Load(bool* valid) {
    positioned_ = *valid = it_->Valid() && it_->key().starts_with(prefix_);
    if (!*valid) return FromRocks(it_->status(), "reading postings");
    first_ = ReadBigEndian64(it_->key().ToStringView().substr(prefix_.size()));
    if (!DecodeSegment(it_->value().ToStringView(), &segment_)) return DamagedSegment(term_);
    return Status::OK();
  }

  std::string term_, prefix_, end_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool positioned_ = false, at_end_ = false;
  uint64_t first_ = 0;
  Segment segment_;
};

// Per-thread dense accumulator: score[id] is valid where stamp[id] == generation.
struct Bm25Index::Scratch {
  std::vector<double> score;
  std::vector<uint32_t> stamp;
  uint32_t generation = 0;
  std::vector<uint64_t> touched;
  // Marks for merging id lists without repeats: mark[id] == mark_generation.
  std::vector<uint32_t> mark;
  uint32_t mark_generation = 0;

  void Begin() {
    touched.clear();
    if (++generation == 0) {
      std::fill(stamp.begin(), stamp.end(), 0);
      generation = 1;
    }
  }
  bool Has(uint64_t id) const { return id < stamp.size() && stamp[id] == generation; }
  double Add(uint64_t id, double v) {
    if (id >= score.size()) {
      const size_t n = std::max<size_t>(id + 1, score.size() + score.size() / 2 + 1024);
      score.resize(n);
      stamp.resize(n, 0);
      mark.resize(n, 0);
    }
    if (stamp[id] != generation) {
      stamp[id] = generation;
      score[id] = 0.0 + v;  // as a sum from zero, so every path rounds alike
      touched.push_back(id);
    } else {
      score[id] += v;
    }
    return score[id];
  }
  // The n-th best score among `best` and `hot` (-infinity when fewer); `best` becomes the n
  // ids that have it or better. Partial scores only grow, so this stays a lower bound of the
  // n-th best final score; it costs O(|hot| + n), not O(|touched|).
  double UpdateThreshold(std::span<const uint64_t> hot, std::vector<uint64_t>& best, size_t n) {
    if (++mark_generation == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      mark_generation = 1;
    }
    for (uint64_t id : hot) mark[id] = mark_generation;
    std::vector<uint64_t> merged(hot.begin(), hot.end());
    for (uint64_t id : best) {
      if (mark[id] != mark_generation) merged.push_back(id);
    }
    if (merged.size() < n) {
      best = std::move(merged);
      return -std::numeric_limits<double>::infinity();
    }
    const auto nth = merged.begin() + static_cast<std::ptrdiff_t>(n - 1);
    std::nth_element(merged.begin(), nth, merged.end(),
                     [&](uint64_t a, uint64_t b) { return score[a] > score[b]; });
    const double threshold = score[*nth];
    merged.resize(n);
    best = std::move(merged);
    return threshold;
  }
  // The n-th best score among `ids` (-infinity when fewer).
  double NthBest(std::span<const uint64_t> ids, size_t n) const {
    if (n == 0 || ids.size() < n) return -std::numeric_limits<double>::infinity();
    std::vector<double> values;
    values.reserve(ids.size());
    for (uint64_t id : ids) values.push_back(score[id]);
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n - 1),
                     values.end(), std::greater<double>());
    return values[n - 1];
  }
};

Bm25Index::Bm25Index(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* postings,
                     rocksdb::ColumnFamilyHandle* terms, std::string prefix, Bm25Params params,
                     Stemming stemming)
    : db_(db),
      postings_(postings),
      terms_(terms),
      prefix_(std::move(prefix)),
      params_(params),
      stemming_(stemming) {}

std::string Bm25Index::TermKey(std::string_view term) const {
  std::string k = prefix_;
  k += term;
  return k;
}

std::string Bm25Index::SegmentPrefix(std::string_view term) const {
  std::string k = TermKey(term);
  k += '\0';
  return k;
}

Status Bm25Index::Apply(const Bm25Changes& changes, rocksdb::WriteBatch& batch) const {
  for (const auto& [term, change] : changes.terms_) {
    if (Status s = ApplyTerm(term, change, batch); !s.ok()) return s;
  }
  return Status::OK();
}

// Loads the segments the change touches (by their stored key), edits them in memory, and
// writes them back split at kBm25SegmentPostings; then the document frequency.
Status Bm25Index::ApplyTerm(const std::string& term, const Bm25Changes::TermChange& change,
                            rocksdb::WriteBatch& batch) const {
  const std::string prefix = SegmentPrefix(term);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, postings_));
  std::map<uint64_t, std::vector<Posting>> segments;  // by first id; new ones too
  std::vector<uint64_t> stored;                       // keys read from the database
  std::vector<Posting> head;                          // ids before every stored segment
  // The stored segment range the last lookup found: ids in [low, high) belong to the stored
  // segment keyed `low` (or to none when low is 0), so ascending ids seek once per segment.
  uint64_t low = 0, high = 0;
  auto read_key = [&]() -> uint64_t {
    return it->Valid() && it->key().starts_with(prefix)
               ? ReadBigEndian64(it->key().ToStringView().substr(prefix.size()))
               : UINT64_MAX;
  };
  // The segment an id belongs in: the one with the greatest first id <= id, stored or new.
  auto segment_for = [&](uint64_t id) -> Result<std::vector<Posting>*> {
    if (id < low || id >= high) {
      std::string key = prefix;
      AppendBigEndian64(key, id);
      it->SeekForPrev(key);
      if (it->Valid() && it->key().starts_with(prefix)) {
        low = read_key();
        if (!segments.count(low)) {
          Segment s;
          if (!DecodeSegment(it->value().ToStringView(), &s)) return DamagedSegment(term);
          std::vector<Posting>& p = segments[low];
          for (size_t i = 0; i < s.count; ++i) p.push_back({s.Id(i), s.Tf(i), s.Length(i)});
          stored.push_back(low);
        }
        it->Next();
      } else {
        low = 0;
        it->Seek(prefix);
      }
      high = read_key();
      if (!it->status().ok()) return FromRocks(it->status(), "reading postings");
    }
    auto at = segments.upper_bound(id);
    return at == segments.begin() ? &head : &std::prev(at)->second;
  };
  auto by_id = [](const Posting& p, uint64_t id) { return p.id < id; };
  std::vector<uint64_t> removed = change.removed;
  std::sort(removed.begin(), removed.end());
  for (uint64_t id : removed) {
    ENGRAM_TRY_ASSIGN(std::vector<Posting> * s, segment_for(id));
    auto at = std::lower_bound(s->begin(), s->end(), id, by_id);
    if (at == s->end() || at->id != id) {
      return Status::Corruption("bm25 index: term '" + term + "' has no posting for " +
                                std::to_string(id) + "; rebuild the store from a backup");
    }
    s->erase(at);
  }
  std::vector<Bm25Changes::Posting> added = change.added;
  std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const Bm25Changes::Posting& p : added) {
    ENGRAM_TRY_ASSIGN(std::vector<Posting> * s, segment_for(p.id));
    if (s != &head && !s->empty() && p.id > s->back().id && s->size() >= kBm25SegmentPostings) {
      segments[p.id].push_back({p.id, p.tf, p.length});  // a full last segment: start the next
      continue;
    }
    auto at = std::lower_bound(s->begin(), s->end(), p.id, by_id);
    if (at != s->end() && at->id == p.id) {
      return Status::Corruption("bm25 index: term '" + term + "' already has a posting for " +
                                std::to_string(p.id));
    }
    s->insert(at, {p.id, p.tf, p.length});
  }
  for (uint64_t first : stored) {
    const std::vector<Posting>& p = segments[first];
    if (p.empty() || p.front().id != first) batch.Delete(postings_, prefix + BigEndian64(first));
  }
  auto write = [&](const std::vector<Posting>& p) {
    for (size_t i = 0; i < p.size(); i += kBm25SegmentPostings) {
      const size_t n = std::min<size_t>(kBm25SegmentPostings, p.size() - i);
      batch.Put(postings_, prefix + BigEndian64(p[i].id),
                EncodeSegment(std::span(p).subspan(i, n)));
    }
  };
  write(head);
  for (const auto& [first, p] : segments) write(p);

  const int64_t delta =
      static_cast<int64_t>(change.added.size()) - static_cast<int64_t>(change.removed.size());
  if (delta == 0) return Status::OK();
  std::string value;
  const std::string key = TermKey(term);
  const rocksdb::Status s = db_->Get({}, terms_, key, &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading term statistics");
  const int64_t df = (s.ok() ? static_cast<int64_t>(ReadBigEndian64(value)) : 0) + delta;
  if (df <= 0) {
    batch.Delete(terms_, key);
  } else {
    batch.Put(terms_, key, BigEndian64(static_cast<uint64_t>(df)));
  }
  return Status::OK();
}

Result<double> Bm25Index::MeanIdf(int64_t documents) const {
  double sum = 0.0;
  uint64_t terms = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, terms_));
  for (it->Seek(prefix_); it->Valid() && it->key().starts_with(prefix_); it->Next()) {
    sum += Bm25RawIdf(documents, static_cast<int64_t>(ReadBigEndian64(it->value().ToStringView())));
    ++terms;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading term statistics");
  return terms > 0 ? sum / static_cast<double>(terms) : 0.0;
}

Result<Bm25Query> Bm25Index::Prepare(std::string_view text, const Bm25Stats& stats) const {
  return PrepareTerms(Terms(text), stats);
}

Result<Bm25Query> Bm25Index::PrepareTerms(std::span<const std::string> terms,
                                          const Bm25Stats& stats) const {
  std::map<std::string, int> repeats;
  for (const std::string& t : terms) ++repeats[t];
  Bm25Query q;
  q.stats = stats;
  for (const auto& [term, n] : repeats) {
    std::string value;
    const rocksdb::Status s = db_->Get({}, terms_, TermKey(term), &value);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return FromRocks(s, "reading term statistics");
    q.terms.push_back(
        {term, static_cast<double>(n), Bm25Idf(stats, static_cast<int64_t>(ReadBigEndian64(value)), params_)});
  }
  std::sort(q.terms.begin(), q.terms.end(), [](const Bm25Query::Term& a, const Bm25Query::Term& b) {
    return a.idf != b.idf ? a.idf > b.idf : a.term < b.term;
  });
  return q;
}

double Bm25Index::Bound(const Bm25Query::Term& t, uint32_t max_tf, uint32_t min_length,
                        double average_length) const {
  return t.weight * Bm25TermScore(t.idf, max_tf, min_length, average_length, params_) *
         kBoundSlack;
}

// Adds term t's contribution to every allowed document that holds it; the ids whose score
// reaches `threshold` go to `hot` (when given).
Status Bm25Index::ScanTerm(const Bm25Query& query, size_t t,
                           const std::function<bool(uint64_t)>* allowed, double threshold,
                           std::vector<uint64_t>* hot, Scratch& scratch) const {
  const Bm25Query::Term& term = query.terms[t];
  Cursor cursor(*this, term.term);
  bool valid = false;
  for (Status s = cursor.Start(&valid);; s = cursor.Next(&valid)) {
    if (!s.ok()) return s;
    if (!valid) return Status::OK();
    const Segment& seg = cursor.segment();
    for (size_t i = 0; i < seg.count; ++i) {
      const uint64_t id = seg.Id(i);
      if (allowed != nullptr && !(*allowed)(id)) continue;
      const double score =
          scratch.Add(id, term.weight * Bm25TermScore(term.idf, seg.Tf(i), seg.Length(i),
                                                       query.stats.average_length, params_));
      if (hot != nullptr && score >= threshold) hot->push_back(id);
    }
  }
}

// MaxScore's second phase: terms from `first_term` on only complete the candidates' scores;
// a candidate that cannot reach the n-th best partial score any more is dropped (block-max:
// judged with the bound of the segment that would hold it).
Status Bm25Index::ScoreCandidates(const Bm25Query& query, size_t first_term, size_t n,
                                  double threshold, std::vector<uint64_t>& candidates,
                                  Scratch& scratch, uint64_t* dropped) const {
  const size_t m = query.terms.size();
  const double avg = query.stats.average_length;
  std::vector<double> rest(m + 1, 0.0);  // what terms t.. can add to any document, at most
  for (size_t t = m; t-- > 0;) {
    rest[t] = rest[t + 1] + query.terms[t].weight * std::max(query.terms[t].idf, 0.0) *
                                (params_.k1 + 1.0) * kBoundSlack;
  }
  threshold = std::max(threshold, scratch.NthBest(candidates, n));
  for (size_t t = first_term; t < m; ++t) {
    const Bm25Query::Term& term = query.terms[t];
    Cursor cursor(*this, term.term);
    size_t kept = 0;
    for (uint64_t id : candidates) {
      double& score = scratch.score[id];
      if (score + rest[t] < threshold) continue;  // dropped
      const Segment* seg = nullptr;
      if (Status s = cursor.Find(id, &seg); !s.ok()) return s;
      if (seg != nullptr) {
        if (score + Bound(term, seg->max_tf, seg->min_length, avg) + rest[t + 1] < threshold) {
          continue;  // dropped: even this segment's best posting would not lift it enough
        }
        if (const int64_t i = seg->Find(id); i >= 0) {
          score += term.weight * Bm25TermScore(term.idf, seg->Tf(static_cast<size_t>(i)),
                                                seg->Length(static_cast<size_t>(i)), avg, params_);
        }
      }
      candidates[kept++] = id;
    }
    *dropped += candidates.size() - kept;
    candidates.resize(kept);
    threshold = std::max(threshold, scratch.NthBest(candidates, n));
  }
  return Status::OK();
}

Result<std::vector<RankedItem>> Bm25Index::TopN(const Bm25Query& query, size_t n,
                                                const std::function<bool(uint64_t)>* allowed,
                                                Bm25PruneStats* stats) const {
  std::vector<RankedItem> out;
  if (n == 0 || query.terms.empty()) return out;
  thread_local Scratch scratch;
  scratch.Begin();
  const size_t m = query.terms.size();
  // A negative idf (epsilon floor of a negative mean) breaks the bounds: score every posting.
  const bool exhaustive = std::any_of(query.terms.begin(), query.terms.end(),
                                      [](const Bm25Query::Term& t) { return t.idf < 0.0; });
  // rest[t]: what terms t.. can add to any document, at most (rest[m] is exactly 0).
  std::vector<double> rest(m + 1, 0.0);
  for (size_t u = m; u-- > 0;) {
    rest[u] = rest[u + 1] + query.terms[u].weight * std::max(query.terms[u].idf, 0.0) *
                                (params_.k1 + 1.0) * kBoundSlack;
  }
  // A lower bound of the n-th best final score, from the n best partial scores so far.
  double threshold = -std::numeric_limits<double>::infinity();
  std::vector<uint64_t> hot, best;
  size_t t = 0;
  for (; t < m; ++t) {
    // Once n documents score more than every unscanned term together could give, a document
    // seen by none of the scanned terms cannot enter the top n.
    if (!exhaustive && threshold > rest[t]) break;
    hot.clear();
    if (Status s = ScanTerm(query, t, allowed, threshold, exhaustive ? nullptr : &hot, scratch);
        !s.ok()) {
      return s;
    }
    if (!exhaustive) threshold = std::max(threshold, scratch.UpdateThreshold(hot, best, n));
  }
  // Only documents that can still reach the threshold stay candidates.
  std::vector<uint64_t> candidates;
  for (uint64_t id : scratch.touched) {
    if (exhaustive || scratch.score[id] + rest[t] >= threshold) candidates.push_back(id);
  }
  uint64_t dropped = scratch.touched.size() - candidates.size();
  if (t < m) {
    std::sort(candidates.begin(), candidates.end());
    if (Status s = ScoreCandidates(query, t, n, threshold, candidates, scratch, &dropped);
        !s.ok()) {
      return s;
    }
  }
  if (stats != nullptr) *stats = {t, dropped};
  out.reserve(candidates.size());
  for (uint64_t id : candidates) out.push_back({id, scratch.score[id]});
  TopK(out, n);
  return out;
}

Result<std::vector<double>> Bm25Index::Score(const Bm25Query& query,
                                             std::span<const uint64_t> ids) const {
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a] < ids[b]; });
  std::vector<double> scores(ids.size(), 0.0);
  for (const Bm25Query::Term& term : query.terms) {
    Cursor cursor(*this, term.term);
    for (size_t i : order) {
      const Segment* seg = nullptr;
      if (Status s = cursor.Find(ids[i], &seg); !s.ok()) return s;
      const int64_t at = seg != nullptr ? seg->Find(ids[i]) : -1;
      if (at < 0) continue;
      scores[i] += term.weight * Bm25TermScore(term.idf, seg->Tf(static_cast<size_t>(at)),
                                                seg->Length(static_cast<size_t>(at)),
                                                query.stats.average_length, params_);
    }
  }
  return scores;
}

Result<std::vector<Bm25Index::Posting>> Bm25Index::Postings(std::string_view term) const {
  std::vector<Posting> out;
  Cursor cursor(*this, term);
  bool valid = false;
  for (Status s = cursor.Start(&valid);; s = cursor.Next(&valid)) {
    if (!s.ok()) return s;
    if (!valid) return out;
    const Segment& seg = cursor.segment();
    for (size_t i = 0; i < seg.count; ++i) out.push_back({seg.Id(i), seg.Tf(i), seg.Length(i)});
  }
}

}  // namespace engram::retrieval
