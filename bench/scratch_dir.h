// A directory an eval or bench run owns: emptied when the run starts (a crashed earlier run may
// have left it) and removed when the run ends unless it is to be kept.
//
//   ScratchDir scratch(work_dir.empty() ? fs::temp_directory_path() / "engram-eval-x-<pid>"
//                                       : fs::path(work_dir), /*keep=*/!work_dir.empty());
//   Collection::Open((scratch.path() / "collection").string(), ...);
#pragma once

#include <filesystem>
#include <system_error>
#include <utility>

namespace engram::bench {

class ScratchDir {
 public:
  ScratchDir(std::filesystem::path dir, bool keep) : dir_(std::move(dir)), keep_(keep) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!keep_) std::filesystem::remove_all(dir_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
  bool keep_;
};

}  // namespace engram::bench
