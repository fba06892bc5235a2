// libFuzzer harness: pgoutput::Decoder::decode (connector/pgoutput.h) on arbitrary bytes.
//
// The decoder's contract: a truncated, overlong or corrupt message throws DecodeError and nothing
// else; every view it hands to the handler lies inside the message. The handler below reads every
// byte of every view and string it is given, so AddressSanitizer reports a view that points
// outside the input. Any exception other than DecodeError escapes and libFuzzer reports it.
//
// Input: one pgoutput message (the payload of one XLogData). The same decoder then decodes it a
// second time, because the decoder reuses its tuple and relation buffers between messages.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "connector/pgoutput.h"

namespace {

using namespace pgcdc::pgoutput;

// Folds every byte it is shown into a checksum that the optimizer cannot drop.
class TouchingHandler : public Handler {
 public:
  void on_begin(const Begin& b) override {
    mix(b.final_lsn);
    mix(static_cast<std::uint64_t>(b.commit_time_us));
    mix(b.xid);
  }
  void on_commit(const Commit& c) override {
    mix(c.flags);
    mix(c.commit_lsn);
    mix(c.end_lsn);
    mix(static_cast<std::uint64_t>(c.commit_time_us));
  }
  void on_relation(const Relation& r) override {
    mix(r.id);
    touch(r.schema);
    touch(r.name);
    mix(static_cast<std::uint8_t>(r.replica_identity));
    for (const auto& column : r.columns) {
      mix(column.is_key);
      touch(column.name);
      mix(column.type_oid);
      mix(static_cast<std::uint32_t>(column.type_modifier));
    }
  }
  void on_type(const TypeInfo& t) override {
    mix(t.oid);
    touch(t.schema);
    touch(t.name);
  }
  void on_insert(std::uint32_t relation_id, const Tuple& new_tuple) override {
    mix(relation_id);
    touch(new_tuple);
  }
  void on_update(std::uint32_t relation_id, char old_kind, const Tuple* old_tuple,
                 const Tuple& new_tuple) override {
    mix(relation_id);
    mix(static_cast<std::uint8_t>(old_kind));
    if (old_tuple != nullptr) touch(*old_tuple);
    touch(new_tuple);
  }
  void on_delete(std::uint32_t relation_id, char old_kind, const Tuple& old_tuple) override {
    mix(relation_id);
    mix(static_cast<std::uint8_t>(old_kind));
    touch(old_tuple);
  }
  void on_truncate(std::uint8_t options, const std::vector<std::uint32_t>& relation_ids) override {
    mix(options);
    for (std::uint32_t id : relation_ids) mix(id);
  }
  void on_message(const LogicalMessage& m) override {
    mix(m.transactional);
    mix(m.lsn);
    touch(m.prefix);
    touch(m.content);
  }
  void on_origin(pgcdc::Lsn lsn, std::string_view name) override {
    mix(lsn);
    touch(name);
  }

  std::uint64_t sum() const { return sum_; }

 private:
  void mix(std::uint64_t value) { sum_ = sum_ * 31 + value; }
  void touch(std::string_view bytes) {
    for (char c : bytes) mix(static_cast<unsigned char>(c));
  }
  void touch(const Tuple& tuple) {
    for (const auto& value : tuple) {
      mix(static_cast<std::uint8_t>(value.kind));
      touch(value.data);
    }
  }

  std::uint64_t sum_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view message(reinterpret_cast<const char*>(data), size);
  Decoder decoder;
  TouchingHandler handler;
  for (int pass = 0; pass < 2; ++pass) {
    try {
      decoder.decode(message, handler);
    } catch (const DecodeError&) {
      // The documented outcome for a malformed message.
    }
  }
  volatile std::uint64_t sink = handler.sum();
  (void)sink;
  return 0;
}
