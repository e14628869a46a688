#include "common/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace engram {
namespace {

// FIPS 180-2 appendix B examples.
TEST(Sha256Test, NistVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every message length 0..200 against Python's hashlib (tests/data/sha256_lengths.txt).
TEST(Sha256Test, EveryPaddingLengthMatchesHashlib) {
  std::ifstream golden(std::string(ENGRAM_TEST_DATA_DIR) + "/sha256_lengths.txt");
  ASSERT_TRUE(golden)
      << "missing tests/data/sha256_lengths.txt (scripts/goldens/sha256_lengths.py)";
  std::string line;
  int checked = 0;
  while (std::getline(golden, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    size_t length;
    std::string expected;
    fields >> length >> expected;
    std::string message;
    for (size_t i = 0; i < length; ++i) message.push_back(static_cast<char>(i % 251));
    EXPECT_EQ(Sha256Hex(message), expected) << "length " << length;
    ++checked;
  }
  EXPECT_EQ(checked, 201);
}

TEST(Sha256Test, SplitUpdatesEqualOneUpdate) {
  std::mt19937 rng(42);
  std::string message(5000, '\0');
  for (char& c : message) c = static_cast<char>(rng());
  const std::string whole = Sha256Hex(message);
  for (int trial = 0; trial < 50; ++trial) {
    Sha256 hash;
    size_t pos = 0;
    while (pos < message.size()) {
      const size_t take = std::min<size_t>(rng() % 130, message.size() - pos);
      hash.Update(std::string_view(message).substr(pos, take));
      pos += take;
    }
    EXPECT_EQ(ToHex(hash.Finish()), whole);
  }
}

TEST(Sha256Test, FileDigestEqualsStringDigest) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("engram_sha256_test_" + std::to_string(::getpid()) + ".bin");
  std::string content(3 << 20, 'x');  // spans several read blocks
  content[12345] = 'y';
  { std::ofstream(path, std::ios::binary) << content; }
  Result<std::string> digest = Sha256File(path);
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, Sha256Hex(content));
  std::filesystem::remove(path);

  Result<std::string> missing = Sha256File(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path.string()), std::string_view::npos);
}

}  // namespace
}  // namespace engram
