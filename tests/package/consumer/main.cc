// A program outside engram's tree that uses the installed memory store: append three episodes
// with their own embeddings (no model needed), recall, close, reopen, recall again.
// Usage: consumer <store-dir>; prints the recalled texts and exits 0, or one error line and 1.
#include <cstdio>
#include <string>

#include "memory/episodic_store.h"

namespace {

using engram::memory::EpisodicStore;

int Fail(const engram::Status& status) {
  std::fprintf(stderr, "consumer: error: %s\n", status.ToString().c_str());
  return 1;
}

engram::memory::StoreOptions Options() {
  engram::memory::StoreOptions options;
  options.dim = 4;  // embeddings come with each call
  return options;
}

// The top episode for a question about Porto (query vector near the first episode's).
int RecallPorto(EpisodicStore& store) {
  engram::memory::RecallOptions recall;
  recall.k = 1;
  recall.query_embedding = {0.9f, 0.1f, 0.0f, 0.0f};
  auto hits = store.Recall("user-42", "where does Ana live in Porto", recall);
  if (!hits.ok()) return Fail(hits.status());
  if (hits->empty()) return Fail(engram::Status::NotFound("no episode recalled"));
  std::printf("recalled: %s\n", (*hits)[0].episode.text.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer <store-dir>\n");
    return 2;
  }
  {
    auto store = EpisodicStore::Open(argv[1], Options());
    if (!store.ok()) return Fail(store.status());
    const char* texts[] = {"My sister Ana lives in Porto.", "I had pasta for dinner.",
                           "The meeting moved to Friday."};
    for (int i = 0; i < 3; ++i) {
      engram::memory::Episode e;
      e.session = "s1";
      e.role = "user";
      e.text = texts[i];
      e.embedding = {0.0f, 0.0f, 0.0f, 0.0f};
      e.embedding[i] = 1.0f;
      if (auto id = (*store)->Append("user-42", e); !id.ok()) return Fail(id.status());
    }
    if (int rc = RecallPorto(**store); rc != 0) return rc;
  }
  auto reopened = EpisodicStore::Open(argv[1], Options());
  if (!reopened.ok()) return Fail(reopened.status());
  return RecallPorto(**reopened);
}
