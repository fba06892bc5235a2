#include "core/offset_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pgcdc {
namespace {

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw io_error("cannot open", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw io_error("cannot fsync", path);
}

}  // namespace

std::optional<SourceOffset> FileOffsetStore::load() {
  std::ifstream file(path_);
  if (!file) {
    if (!std::filesystem::exists(path_)) return std::nullopt;
    throw io_error("cannot read offsets file", path_);
  }
  std::stringstream text;
  text << file.rdbuf();
  try {
    return offset_from_json(text.str());
  } catch (const std::exception& e) {
    throw std::runtime_error("offsets file " + path_ + " is corrupt: " + e.what() +
                             " (move it away to start over)");
  }
}

void FileOffsetStore::save(const SourceOffset& offset) {
  std::filesystem::path target(path_);
  std::filesystem::path directory = target.parent_path().empty() ? "." : target.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  std::string temporary = path_ + ".tmp";
  std::string json = offset_to_json(offset) + "\n";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) throw io_error("cannot create", temporary);
  std::size_t written = 0;
  while (written < json.size()) {
    ssize_t n = ::write(fd, json.data() + written, json.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      throw io_error("cannot write", temporary);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    throw io_error("cannot fsync", temporary);
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path_.c_str()) != 0) throw io_error("cannot rename onto", path_);
  fsync_path(directory.string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace pgcdc
