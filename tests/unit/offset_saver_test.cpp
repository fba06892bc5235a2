// OffsetSaver saves positions on its own thread. What must hold: a position counts as durable only
// after the store's save returned; only the newest request matters; save_now waits; a failed save
// is never silent.
#include "core/offset_saver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pgcdc {
namespace {

using namespace std::chrono_literals;

SourceOffset at(Lsn lsn) {
  SourceOffset offset;
  offset.lsn = lsn;
  return offset;
}

// A store whose saves can be held at the door, to see what the saver does meanwhile.
class GatedStore : public OffsetStore {
 public:
  std::optional<SourceOffset> load() override { return std::nullopt; }
  void save(const SourceOffset& offset) override {
    std::unique_lock lock(mutex_);
    ++started_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    if (fail_) throw std::runtime_error("disk full");
    saved_.push_back(offset.lsn);
    changed_.notify_all();
  }
  void open(bool fail = false) {
    std::lock_guard lock(mutex_);
    open_ = true;
    fail_ = fail;
    changed_.notify_all();
  }
  void wait_started(int count) {
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(changed_.wait_for(lock, 5s, [&] { return started_ >= count; }));
  }
  std::vector<Lsn> saved() {
    std::lock_guard lock(mutex_);
    return saved_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  bool fail_ = false;
  int started_ = 0;
  std::vector<Lsn> saved_;
};

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return condition();
}

TEST(OffsetSaver, APositionIsDurableOnlyOnceTheStoreSavedIt) {
  GatedStore store;
  OffsetSaver saver(store, at(10));
  saver.request(at(20));
  store.wait_started(1);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(saver.durable().lsn, 10u);  // the save has started, not finished
  store.open();
  EXPECT_TRUE(eventually([&] { return saver.durable().lsn == 20u; }));
  EXPECT_EQ(store.saved(), std::vector<Lsn>{20});
}

TEST(OffsetSaver, OnlyTheNewestWaitingRequestIsSaved) {
  GatedStore store;
  OffsetSaver saver(store, at(0));
  saver.request(at(1));
  store.wait_started(1);  // saving 1; 2 and 3 wait, and 3 replaces 2
  saver.request(at(2));
  saver.request(at(3));
  store.open();
  EXPECT_TRUE(eventually([&] { return saver.durable().lsn == 3u; }));
  EXPECT_EQ(store.saved(), (std::vector<Lsn>{1, 3}));
}

TEST(OffsetSaver, SaveNowReturnsOnceItsOwnPositionIsDurable) {
  GatedStore store;
  OffsetSaver saver(store, at(0));
  saver.request(at(5));
  store.wait_started(1);  // a save is in progress: save_now must wait for the one after it
  std::thread opener([&] {
    std::this_thread::sleep_for(30ms);
    store.open();
  });
  saver.save_now(at(6));
  EXPECT_EQ(saver.durable().lsn, 6u);
  EXPECT_EQ(store.saved(), (std::vector<Lsn>{5, 6}));
  opener.join();
}

TEST(OffsetSaver, AFailedSaveIsReportedToTheSourceAndNothingMoves) {
  GatedStore store;
  OffsetSaver saver(store, at(7));
  store.open(/*fail=*/true);
  saver.request(at(8));
  EXPECT_TRUE(eventually([&] {
    try {
      (void)saver.durable();
      return false;
    } catch (const std::runtime_error& e) {
      return std::string(e.what()) == "disk full";
    }
  }));
  EXPECT_THROW(saver.request(at(9)), std::runtime_error);
  EXPECT_THROW(saver.save_now(at(9)), std::runtime_error);
  EXPECT_TRUE(store.saved().empty());
}

TEST(OffsetSaver, StoppingWithASaveInProgressFinishesIt) {
  GatedStore store;
  std::thread opener;
  {
    OffsetSaver saver(store, at(0));
    saver.request(at(4));
    store.wait_started(1);
    opener = std::thread([&] {
      std::this_thread::sleep_for(30ms);
      store.open();
    });
  }  // the destructor waits for the save in progress
  EXPECT_EQ(store.saved(), std::vector<Lsn>{4});
  opener.join();
}

}  // namespace
}  // namespace pgcdc
