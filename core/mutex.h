#pragma once
// A std::mutex that clang's thread-safety analysis knows as a capability, and the lock that holds
// it for a scope (core/thread_annotations.h says why libstdc++'s own types will not do).
//
//   mutable Mutex mutex_;
//   int count_ GUARDED_BY(mutex_) = 0;
//   void add() EXCLUDES(mutex_) { MutexLock lock(mutex_); ++count_; }
//
// Waiting on a std::condition_variable: cv.wait(lock.native(), pred). The wait lets go of the
// mutex and takes it back before it returns, so for the analysis the lock is held throughout. A
// predicate lambda that reads guarded members says so: [&]() REQUIRES(mutex_) { ... }.
#include <mutex>

#include "core/thread_annotations.h"

namespace pgcdc {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds the mutex from construction to destruction. unlock() and lock() let a loop put it down
// around slow work (a save, a sample) and take it up again; the destructor releases it only if
// held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() ACQUIRE() { lock_.lock(); }
  void unlock() RELEASE() { lock_.unlock(); }

  // For std::condition_variable's waits only; do not unlock through it.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace pgcdc
