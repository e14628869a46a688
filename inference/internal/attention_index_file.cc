#include "inference/internal/attention_index_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>

#include "common/byte_io.h"
#include "common/mmap_file.h"

namespace engram::inference::internal {

namespace {

constexpr char kMagic[8] = {'E', 'N', 'G', 'R', 'A', 'M', 'K', 'I'};
constexpr uint32_t kVersion = 1;
constexpr size_t kDigestBytes = 32;
// Names the way indexes are built (key_index.cc's constants and SparseAttention's inputs): an
// index built another way is rebuilt rather than mixed with this build's. Bump it when either
// changes what an index holds.
constexpr uint32_t kBuildRecipe = 1;


// The header: magic, version, binding, policy parameters the indexes depend on.
std::string Header(const IndexBinding& b, const AttentionOptions& a) {
  std::string h(kMagic, sizeof kMagic);
  AppendPod<uint32_t>(&h, kVersion);
  AppendPod<uint32_t>(&h, static_cast<uint32_t>(b.model_fingerprint.size()));
  h.append(b.model_fingerprint);
  h.append(reinterpret_cast<const char*>(b.cache_digest.data()), b.cache_digest.size());
  AppendPod<int64_t>(&h, b.length);
  AppendPod<uint32_t>(&h, kBuildRecipe);
  AppendPod<uint32_t>(&h, static_cast<uint32_t>(a.index));
  AppendPod<int32_t>(&h, a.sinks);
  AppendPod<int32_t>(&h, a.window);
  AppendPod<double>(&h, a.candidate_factor);
  AppendPod<int32_t>(&h, a.index_batch);
  AppendPod<int32_t>(&h, a.query_samples);
  return h;
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("attention index: cannot write '" + path + "'", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

std::string IndexSidecarPath(const std::string& cache_path) { return cache_path + ".index"; }

Status WriteIndexSidecar(const std::string& path, const IndexBinding& binding,
                         const SparseAttention& state) {
  std::string bytes = Header(binding, state.options());
  state.SerializeIndexes(&bytes);
  Sha256 hash;
  hash.Update(bytes);
  const Sha256::Digest digest = hash.Finish();
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("attention index: cannot create '" + tmp + "'", errno);
  Status status = WriteAll(fd, bytes, tmp);
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoStatus("attention index: cannot fsync '" + tmp + "'", errno);
  }
  if (::close(fd) != 0 && status.ok()) {
    status = ErrnoStatus("attention index: cannot close '" + tmp + "'", errno);
  }
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("attention index: cannot rename '" + tmp + "' to '" + path + "'", errno);
  }
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

Status ReadIndexSidecar(const std::string& path, const IndexBinding& binding,
                        SparseAttention* state) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("attention index: no sidecar '" + path + "'");
  }
  if (std::filesystem::file_size(path, ec) == 0) {
    return Status::Corruption("attention index: '" + path + "' is empty");
  }
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
  if (!file.ok()) return file.status().WithContext("attention index: cannot read '" + path + "'");
  const std::span<const uint8_t> bytes = (*file)->bytes();
  if (bytes.size() < sizeof kMagic + kDigestBytes ||
      std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corruption("attention index: '" + path + "' is not an engram index sidecar");
  }
  const size_t body = bytes.size() - kDigestBytes;
  Sha256 hash;
  hash.Update(bytes.first(body));
  const Sha256::Digest digest = hash.Finish();
  if (std::memcmp(digest.data(), bytes.data() + body, kDigestBytes) != 0) {
    return Status::Corruption("attention index: '" + path +
                              "' fails its checksum: it is damaged or truncated");
  }
  ByteReader in(bytes.first(body));
  in.Text(sizeof kMagic);
  const uint32_t version = in.Get<uint32_t>();
  if (in.ok() && version != kVersion) {
    return Status::NotSupported("attention index: '" + path + "' has format version " +
                                std::to_string(version) + "; this engram reads version " +
                                std::to_string(kVersion));
  }
  // The header must equal the one this binding and policy would write, byte for byte.
  const std::string expected = Header(binding, state->options());
  ByteReader whole(bytes.first(body));
  const std::string_view header = whole.Text(expected.size());
  if (!whole.ok() || header != expected) {
    return Status::InvalidArgument("attention index: '" + path +
                                   "' was made for another cache file, model or index "
                                   "parameters than this one");
  }
  return state->RestoreIndexes(bytes.subspan(whole.pos(), body - whole.pos()), binding.length)
      .WithContext("attention index: '" + path + "'");
}

}  // namespace engram::inference::internal
