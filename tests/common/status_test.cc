#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace engram {
namespace {

TEST(StatusTest, DefaultIsOkAndCostsOnePointer) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  // Success is a null pointer: returning OK must stay as cheap as returning a pointer.
  static_assert(sizeof(Status) == sizeof(void*));
}

TEST(StatusTest, NamedConstructorsCarryCodeAndMessage) {
  const Status s = Status::Corruption("gguf: tensor 'x' extends past end of file (offset 12)");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "gguf: tensor 'x' extends past end of file (offset 12)");
  EXPECT_EQ(s.ToString(), "corruption: gguf: tensor 'x' extends past end of file (offset 12)");

  EXPECT_EQ(Status::InvalidArgument("a").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Status::NotFound("a").code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::AlreadyExists("a").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Status::NotSupported("a").code(), StatusCode::kNotSupported);
  EXPECT_EQ(Status::OutOfRange("a").code(), StatusCode::kOutOfRange);
  EXPECT_EQ(Status::FailedPrecondition("a").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Status::ResourceExhausted("a").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Status::IOError("a").code(), StatusCode::kIOError);
  EXPECT_EQ(Status::Unavailable("a").code(), StatusCode::kUnavailable);
  EXPECT_EQ(Status::Cancelled("a").code(), StatusCode::kCancelled);
  EXPECT_EQ(Status::Internal("a").code(), StatusCode::kInternal);
}

TEST(StatusTest, OkCodeWithMessageStaysCanonicalOk) {
  const Status s(StatusCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s, Status::OK());
}

TEST(StatusTest, CopyIsDeepAndMoveLeavesSourceOk) {
  Status a = Status::NotFound("model 'x'");
  Status b = a;
  EXPECT_EQ(a, b);
  a = Status::OK();
  EXPECT_EQ(b.message(), "model 'x'");  // b owns its own copy

  Status c = std::move(b);
  EXPECT_EQ(c.code(), StatusCode::kNotFound);
  Status d;
  d = c;
  d = d;  // self-assignment keeps the value
  EXPECT_EQ(d.message(), "model 'x'");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  const Status s = Status::IOError("read failed").WithContext("loading 'm.gguf'");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_EQ(s.message(), "loading 'm.gguf': read failed");
  EXPECT_TRUE(Status::OK().WithContext("anything").ok());
}

TEST(StatusTest, ErrnoStatusMapsMissingFileToNotFound) {
  const Status missing = ErrnoStatus("open 'x'", ENOENT);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "open 'x': No such file or directory");
  EXPECT_EQ(ErrnoStatus("open 'x'", EACCES).code(), StatusCode::kIOError);
}

TEST(StatusTest, EveryCodeHasAName) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    EXPECT_NE(StatusCodeName(static_cast<StatusCode>(c)), "unknown status code") << c;
  }
}

}  // namespace
}  // namespace engram
