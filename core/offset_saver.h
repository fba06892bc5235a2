#pragma once
// Saves source offsets on a thread of its own ("pgcdc-offsets"), so the source thread never waits
// for the disk while changes flow.
//
// Why: FileOffsetStore::save ends in fsync, which on a busy disk (PostgreSQL writing WAL beside
// it) took hundreds of milliseconds at times. Done on the source thread once a second, every
// change arriving meanwhile waited that long: the at-least-once p99 latency at 10,000 changes/s
// was 285 ms where exactly-once, whose store writes nothing, had 63 ms.
//
// Invariant 1 is unchanged: PostgreSQL hears of a position (the flush LSN of a status update) only
// once durable() says it is on disk; a crash before that re-reads from the previous one.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <optional>
#include <thread>

#include "core/mutex.h"
#include "core/offset_store.h"
#include "core/source_offset.h"

namespace pgcdc {

class OffsetSaver {
 public:
  // `durable` is what the store holds already (the offset the session resumed from).
  OffsetSaver(OffsetStore& store, SourceOffset durable);
  // Finishes the save in progress, drops a requested one not yet started (it is simply not
  // durable: the next session resumes from the one before), and stops the thread.
  ~OffsetSaver();
  OffsetSaver(const OffsetSaver&) = delete;
  OffsetSaver& operator=(const OffsetSaver&) = delete;

  // Source thread: save `offset` soon. Replaces a request not yet started (only the newest
  // position matters). Throws std::runtime_error if an earlier save failed: the session must end
  // rather than keep reading with positions it cannot save.
  void request(const SourceOffset& offset) EXCLUDES(mutex_);

  // Saves `offset` and returns once it is durable (session end, a reset before a new snapshot).
  // Throws std::runtime_error when the save fails.
  void save_now(const SourceOffset& offset) EXCLUDES(mutex_);

  // The newest offset known to be durable. Throws std::runtime_error if a save failed.
  SourceOffset durable() const EXCLUDES(mutex_);

 private:
  void run() EXCLUDES(mutex_);
  void throw_if_failed() const REQUIRES(mutex_);

  OffsetStore& store_;
  mutable Mutex mutex_;
  std::condition_variable wake_;   // a request, or stopping
  std::condition_variable saved_;  // a save finished (or failed)
  std::optional<SourceOffset> requested_ GUARDED_BY(mutex_);
  SourceOffset durable_ GUARDED_BY(mutex_);
  // save_now waits for a save started after its request
  std::uint64_t saves_done_ GUARDED_BY(mutex_) = 0;
  bool saving_ GUARDED_BY(mutex_) = false;
  std::exception_ptr failure_ GUARDED_BY(mutex_);
  bool stop_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace pgcdc
