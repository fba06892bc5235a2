#include "core/offset_saver.h"

#include <stdexcept>

#include "core/thread_name.h"

namespace pgcdc {

OffsetSaver::OffsetSaver(OffsetStore& store, SourceOffset durable)
    : store_(store), durable_(std::move(durable)) {
  thread_ = std::thread([this] {
    name_this_thread("pgcdc-offsets");
    run();
  });
}

OffsetSaver::~OffsetSaver() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void OffsetSaver::throw_if_failed() const {
  if (failure_) std::rethrow_exception(failure_);
}

void OffsetSaver::request(const SourceOffset& offset) {
  {
    MutexLock lock(mutex_);
    throw_if_failed();
    requested_ = offset;
  }
  wake_.notify_one();
}

void OffsetSaver::save_now(const SourceOffset& offset) {
  MutexLock lock(mutex_);
  throw_if_failed();
  requested_ = offset;
  // Done when a save that started after this request has finished: saves_done_ moves past the
  // count of saves finished or in progress now.
  const std::uint64_t target = saves_done_ + (saving_ ? 2 : 1);
  wake_.notify_one();
  saved_.wait(lock.native(), [&]() REQUIRES(mutex_) { return failure_ || saves_done_ >= target; });
  throw_if_failed();
}

SourceOffset OffsetSaver::durable() const {
  MutexLock lock(mutex_);
  throw_if_failed();
  return durable_;
}

void OffsetSaver::run() {
  MutexLock lock(mutex_);
  for (;;) {
    wake_.wait(lock.native(),
               [&]() REQUIRES(mutex_) { return stop_ || (requested_ && !failure_); });
    if (stop_) return;
    SourceOffset offset = std::move(*requested_);
    requested_.reset();
    saving_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      store_.save(offset);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    saving_ = false;
    ++saves_done_;
    if (failure) {
      failure_ = failure;
    } else {
      durable_ = std::move(offset);
    }
    saved_.notify_all();
  }
}

}  // namespace pgcdc
