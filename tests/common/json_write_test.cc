// JSON text goes through common/json_write.h (JsonText) only: nlohmann's dump() throws
// type_error 316 on a string that is not valid UTF-8 (a file named "caf\xe9.txt", a tag of
// "\xff"), which aborts a command that was otherwise fine. This test reads the sources and
// fails on any `.dump(` outside common/json_write.cc.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/json_write.h"

namespace engram {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(JsonWriteTest, InvalidUtf8IsReplacedNeverThrown) {
  const json j = {{"source", "caf\xe9.txt"}, {"tag", "\xff"}, {"ok", "東京"}};
  std::string text;
  ASSERT_NO_THROW(text = JsonText(j));
  EXPECT_EQ(text, "{\"ok\":\"東京\",\"source\":\"caf\xEF\xBF\xBD.txt\",\"tag\":\"\xEF\xBF\xBD\"}");
  // What was written reads back.
  EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  const nlohmann::ordered_json o = {{"k", "\xc3"}};
  EXPECT_NO_THROW((void)JsonText(o, 2));
}

TEST(JsonWriteTest, NoDumpOutsideJsonWrite) {
  const fs::path root = ENGRAM_SOURCE_DIR;
  ASSERT_TRUE(fs::is_directory(root / "common")) << root;
  std::vector<std::string> offenders;
  int files = 0;
  for (const char* module :
       {"app", "bench", "common", "inference", "retrieval", "memory", "agent", "compress"}) {
    if (!fs::is_directory(root / module)) continue;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(root / module)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      const fs::path rel = fs::relative(e.path(), root);
      // json_write.cc is the one place; json_write.h states the rule in a comment.
      if (rel == fs::path("common/json_write.cc") || rel == fs::path("common/json_write.h")) continue;
      ++files;
      std::ifstream in(e.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        if (line.find(".dump(") != std::string::npos) {
          offenders.push_back(rel.string() + ":" + std::to_string(n) + ": " + line);
        }
      }
    }
  }
  EXPECT_GT(files, 20) << "no sources found under " << root;
  std::string list;
  for (const std::string& o : offenders) list += "\n  " + o;
  EXPECT_TRUE(offenders.empty())
      << "nlohmann::json::dump() throws on invalid UTF-8; write JSON with JsonText "
         "(common/json_write.h):"
      << list;
}

}  // namespace
}  // namespace engram
