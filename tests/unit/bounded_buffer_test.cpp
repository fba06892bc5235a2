#include "core/bounded_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace pgcdc {
namespace {

using std::chrono::milliseconds;

Record make_record(std::uint64_t n, std::size_t value_size = 10) {
  Record r;
  r.topic = "pgcdc.public.some_table_name";
  r.key = "{\"id\":" + std::to_string(n) + "}";
  r.value = std::string(value_size, 'v');
  r.token = n;
  r.table = "public.some_table_name";
  return r;
}

TEST(BoundedBuffer, BoundsByRecordCount) {
  BoundedBuffer buffer(3, 1 << 20);
  for (int i = 0; i < 3; ++i) {
    Record r = make_record(i);
    ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  }
  Record extra = make_record(3);
  EXPECT_EQ(buffer.push(extra, milliseconds(10)), BoundedBuffer::PushResult::kTimedOut);
  EXPECT_EQ(extra.token, 3u) << "a refused record is left untouched";
  EXPECT_DOUBLE_EQ(buffer.stats().fill_ratio(), 1.0);
}

TEST(BoundedBuffer, BoundsByPayloadBytesButAdmitsOneHugeRecordWhenEmpty) {
  BoundedBuffer buffer(1000, 1000);
  Record huge = make_record(0, 5000);
  ASSERT_EQ(buffer.push(huge, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  Record next = make_record(1);
  EXPECT_EQ(buffer.push(next, milliseconds(10)), BoundedBuffer::PushResult::kTimedOut);
  std::vector<Record> out;
  ASSERT_TRUE(buffer.pop_batch(out, 10, milliseconds(0)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value->size(), 5000u);
  EXPECT_EQ(buffer.stats().bytes, 0u);
  EXPECT_EQ(buffer.push(next, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
}

// The ring grows past its first size, wraps, and drains in order, with the byte count exact.
TEST(BoundedBuffer, KeepsFifoOrderAcrossGrowthAndWrapAround) {
  BoundedBuffer buffer(100000, 1u << 30);
  std::uint64_t pushed = 0, popped = 0;
  std::vector<Record> out;
  for (int round = 0; round < 20; ++round) {
    const int burst = 50 + round * 37;  // crosses 64, 128, 256, 512 slots
    for (int i = 0; i < burst; ++i) {
      Record r = make_record(pushed, 1 + pushed % 7);
      ++pushed;
      ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
    }
    // Drain a little less than was pushed, so head and tail move around the ring.
    while (buffer.stats().records > 30) {
      out.clear();
      ASSERT_TRUE(buffer.pop_batch(out, 17, milliseconds(0)));
      for (const Record& r : out) {
        ASSERT_EQ(r.token, popped);
        ASSERT_EQ(r.key, "{\"id\":" + std::to_string(popped) + "}");
        ASSERT_EQ(r.value->size(), 1 + popped % 7);
        ++popped;
      }
      buffer.recycle(out);
    }
  }
  while (buffer.stats().records > 0) {
    out.clear();
    ASSERT_TRUE(buffer.pop_batch(out, 1000, milliseconds(0)));
    for (const Record& r : out) ASSERT_EQ(r.token, popped++);
  }
  EXPECT_EQ(popped, pushed);
  EXPECT_EQ(buffer.stats().bytes, 0u);
}

// What the sink gives back comes out of push() with its storage, so a steady stream does not
// allocate; what it gives back is bounded.
TEST(BoundedBuffer, PushHandsBackRecycledStorageWithinTheSpareBound) {
  BoundedBuffer buffer(100, 1 << 20);
  Record r = make_record(1, 1000);
  ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  EXPECT_FALSE(r.value.has_value() && r.value->capacity() >= 1000) << "nothing recycled yet";

  std::vector<Record> out;
  ASSERT_TRUE(buffer.pop_batch(out, 10, milliseconds(0)));
  const char* storage = out[0].value->data();
  buffer.recycle(out);
  EXPECT_TRUE(out.empty());

  Record next = make_record(2, 10);
  ASSERT_EQ(buffer.push(next, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  ASSERT_TRUE(next.value.has_value());
  EXPECT_EQ(next.value->data(), storage) << "the recycled record's value buffer is reused";
  EXPECT_GE(next.value->capacity(), 1000u);

  // A record too large to keep is freed, not recycled.
  Record big = make_record(3, BoundedBuffer::kSpareRecordBytes + 1);
  ASSERT_EQ(buffer.push(big, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  out.clear();
  ASSERT_TRUE(buffer.pop_batch(out, 10, milliseconds(0)));
  ASSERT_EQ(out.size(), 2u);
  buffer.recycle(out);
  Record after = make_record(4, 10);
  ASSERT_EQ(buffer.push(after, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  EXPECT_TRUE(!after.value || after.value->capacity() < BoundedBuffer::kSpareRecordBytes);

  // The spares never hold more than kSpareBytes of storage, however much is given back.
  const std::size_t per_record = 8000;
  std::vector<Record> many;
  for (std::size_t i = 0; i < 2 * BoundedBuffer::kSpareBytes / per_record; ++i) {
    many.push_back(make_record(i, per_record));
  }
  buffer.recycle(many);
  std::size_t reused = 0;
  for (std::size_t i = 0; i < 2 * BoundedBuffer::kSpareBytes / per_record; ++i) {
    Record probe = make_record(i, 1);
    probe.value->shrink_to_fit();
    ASSERT_EQ(buffer.push(probe, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
    if (probe.value && probe.value->capacity() >= per_record) ++reused;
    out.clear();
    ASSERT_TRUE(buffer.pop_batch(out, 100, milliseconds(0)));
    // (not recycled: only the spares given back above are counted)
  }
  EXPECT_GT(reused, 0u);
  EXPECT_LE(reused * per_record, BoundedBuffer::kSpareBytes);
}

TEST(BoundedBuffer, ClearDropsEverythingAndCloseEndsBothSides) {
  BoundedBuffer buffer(10, 1 << 20);
  for (int i = 0; i < 10; ++i) {
    Record r = make_record(i);
    ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  }
  buffer.clear();
  EXPECT_EQ(buffer.stats().records, 0u);
  EXPECT_EQ(buffer.stats().bytes, 0u);
  Record r = make_record(11);
  ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);

  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    buffer.close();
  });
  Record blocked = make_record(12);
  // Fills up, then the close wakes the waiting push.
  BoundedBuffer::PushResult result;
  do {
    result = buffer.push(blocked, milliseconds(5000));
    if (result == BoundedBuffer::PushResult::kPushed) blocked = make_record(12);
  } while (result == BoundedBuffer::PushResult::kPushed);
  closer.join();
  EXPECT_EQ(result, BoundedBuffer::PushResult::kClosed);
  std::vector<Record> out;
  EXPECT_TRUE(buffer.pop_batch(out, 100, milliseconds(0)));  // drains what is left
  EXPECT_EQ(out.size(), 10u);
  out.clear();
  EXPECT_FALSE(buffer.pop_batch(out, 100, milliseconds(0)));  // closed and drained
}

// A push wakes a sleeping consumer once a batch is queued (or the buffer is full); a lone record
// waits for hand_over(), which the source calls before it goes idle.
TEST(BoundedBuffer, PushWakesTheConsumerPerBatchAndWakeConsumerForTheRest) {
  BoundedBuffer buffer(100000, 1u << 30);
  std::vector<Record> out;
  std::atomic<int> popped{0};
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (!done) {
      std::vector<Record> batch;
      if (!buffer.pop_batch(batch, 1000, milliseconds(60000))) break;
      popped += static_cast<int>(batch.size());
    }
  });
  auto eventually = [&](int n) {
    for (int i = 0; i < 500 && popped < n; ++i) std::this_thread::sleep_for(milliseconds(10));
    return popped.load() >= n;
  };
  std::this_thread::sleep_for(milliseconds(50));  // the consumer sleeps (60 s wait)
  for (int i = 0; i < 64; ++i) {
    Record r = make_record(i);
    ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  }
  EXPECT_TRUE(eventually(64)) << "a full batch did not wake the consumer";
  std::this_thread::sleep_for(milliseconds(50));
  Record lone = make_record(64);
  ASSERT_EQ(buffer.push(lone, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  buffer.hand_over();
  EXPECT_TRUE(eventually(65)) << "hand_over() did not wake the idle consumer for a lone record";
  done = true;
  buffer.close();
  consumer.join();
}

// Two threads, as in the pipeline: every record arrives once, in order.
TEST(BoundedBuffer, ProducerAndConsumerThreadsLoseNothing) {
  BoundedBuffer buffer(64, 4096);
  constexpr std::uint64_t kRecords = 50000;
  std::thread producer([&] {
    Record r;
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      r.topic = "t";
      r.key = std::to_string(i);
      if (!r.value) r.value.emplace();
      r.value->assign(i % 13, 'x');
      r.token = i;
      while (buffer.push(r, milliseconds(100)) == BoundedBuffer::PushResult::kTimedOut) {
      }
    }
    buffer.close();
  });
  std::vector<Record> out;
  std::uint64_t expected = 0;
  while (buffer.pop_batch(out, 50, milliseconds(100))) {
    for (const Record& r : out) {
      ASSERT_EQ(r.token, expected);
      ASSERT_EQ(r.key, std::to_string(expected));
      ASSERT_EQ(r.value->size(), expected % 13);
      ++expected;
    }
    buffer.recycle(out);
  }
  producer.join();
  EXPECT_EQ(expected, kRecords);
}

}  // namespace
}  // namespace pgcdc
