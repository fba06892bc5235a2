#pragma once
// Durable storage of the last committed SourceOffset.
#include <optional>
#include <string>

#include "core/source_offset.h"

namespace pgcdc {

class OffsetStore {
 public:
  virtual ~OffsetStore() = default;
  // nullopt when nothing was ever saved. Throws on a corrupt or unreadable store: an Error of kind
  // kTransient when waiting may mend it; anything else needs a person (core/error.h kind_of).
  virtual std::optional<SourceOffset> load() = 0;
  // Returns only when the offset is durable. Throws std::runtime_error on failure.
  virtual void save(const SourceOffset& offset) = 0;
};

// A JSON file replaced atomically: write a temporary file, fsync it, rename it over the old one,
// fsync the directory. A crash leaves either the old or the new content, never a mix.
class FileOffsetStore : public OffsetStore {
 public:
  explicit FileOffsetStore(std::string path) : path_(std::move(path)) {}
  std::optional<SourceOffset> load() override;
  void save(const SourceOffset& offset) override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace pgcdc
