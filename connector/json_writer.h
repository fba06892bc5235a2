#pragma once
// The JSON writer of the row path: every record's key and envelope, and every value the
// ValueConverter turns into JSON, are written by this class.
//
// Why not rapidjson::Writer, which pgcdc used before: per record it copied raw values and member
// names one character at a time, checked its nesting stack at every call, and escaped strings a
// character at a time through its stream. That was about a quarter of a snapshot's CPU. This
// writer appends into a buffer it keeps between documents (inline pointer bumps, memcpy for runs),
// scans strings for the few bytes that need escaping and copies the runs between them, and keeps
// one flag for commas. std::string as the target cost more: its push_back and append were not
// inlined, which showed in profiles. It trusts its callers to nest correctly (they are this
// repository's code, and the unit tests parse what they write); it does not validate.
//
// Its output is byte for byte what rapidjson::Writer<StringBuffer> with default flags writes, so
// records keep their exact form: no whitespace; in strings `"` and `\` escaped, \b \t \n \f \r in
// short form, other bytes below 0x20 as \u00XX with upper-case hex, every other byte (UTF-8
// included, not validated) as is; integers in plain decimal. tests/unit/json_writer_test.cpp
// compares the two on every byte value and on nested documents.
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace pgcdc {

class JsonWriter {
 public:
  JsonWriter() = default;
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Starts a fresh document; keeps the buffer's memory.
  void clear() {
    size_ = 0;
    first_ = true;
    after_key_ = false;
  }
  // What was written since clear(); valid until the next write.
  std::string_view view() const { return {data_.get(), size_}; }
  std::string str() const { return std::string(view()); }
  // Replaces `out`'s content with the document (keeping `out`'s capacity when it suffices).
  void copy_to(std::string& out) const { out.assign(data_.get(), size_); }

  void start_object() {
    before_value();
    put('{');
    first_ = true;
  }
  void end_object() {
    put('}');
    first_ = false;  // the enclosing container now holds at least this value
  }
  void start_array() {
    before_value();
    put('[');
    first_ = true;
  }
  void end_array() {
    put(']');
    first_ = false;
  }

  // A member name, escaped here.
  void key(std::string_view name) {
    before_key();
    write_string(name);
    put(':');
  }
  // A member name already in JSON form, quotes and escapes included (RowLayout::json_names, or a
  // literal such as "\"after\"").
  void json_key(std::string_view quoted) {
    before_key();
    reserve(quoted.size() + 1);
    append_unchecked(quoted);
    data_[size_++] = ':';
  }

  void string(std::string_view text) {
    before_value();
    write_string(text);
  }
  void int64(std::int64_t value) { number(value); }
  void uint64(std::uint64_t value) { number(value); }
  void boolean(bool value) {
    before_value();
    append(value ? std::string_view("true") : std::string_view("false"));
  }
  void null() {
    before_value();
    append("null");
  }
  // A complete JSON value written as it is (a validated number, a cached object, a quoted name).
  void raw(std::string_view json) {
    before_value();
    append(json);
  }

 private:
  // Per byte: 0 = copy as is; 'u' = \u00XX; any other = backslash and that character.
  static constexpr std::array<char, 256> kEscapes = [] {
    std::array<char, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[static_cast<std::size_t>(c)] = 'u';
    table['\b'] = 'b';
    table['\t'] = 't';
    table['\n'] = 'n';
    table['\f'] = 'f';
    table['\r'] = 'r';
    table['"'] = '"';
    table['\\'] = '\\';
    return table;
  }();

  void before_value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) put(',');
    first_ = false;
  }
  void before_key() {
    if (!first_) put(',');
    first_ = false;
    after_key_ = true;
  }

  // Room for `more` bytes after what is written.
  void reserve(std::size_t more) {
    if (capacity_ - size_ < more) [[unlikely]] grow(more);
  }
  void grow(std::size_t more) {
    std::size_t capacity = capacity_ < 256 ? 256 : capacity_ * 2;
    while (capacity - size_ < more) capacity *= 2;
    auto data = std::make_unique<char[]>(capacity);
    if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
    data_ = std::move(data);
    capacity_ = capacity;
  }
  void put(char c) {
    reserve(1);
    data_[size_++] = c;
  }
  void append_unchecked(std::string_view text) {
    if (text.empty()) return;  // memcpy must not see the null buffer of an unused writer
    std::memcpy(data_.get() + size_, text.data(), text.size());
    size_ += text.size();
  }
  void append(std::string_view text) {
    reserve(text.size());
    append_unchecked(text);
  }

  template <typename Integer>
  void number(Integer value) {
    before_value();
    reserve(24);  // any 64-bit integer
    auto [end, error] = std::to_chars(data_.get() + size_, data_.get() + capacity_, value);
    (void)error;
    size_ = static_cast<std::size_t>(end - data_.get());
  }

  void write_string(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    reserve(2 + 6 * text.size());  // every byte escaped as \u00XX at worst, and the quotes
    data_[size_++] = '"';
    const char* run = text.data();
    const char* const end = text.data() + text.size();
    for (const char* p = run; p != end; ++p) {
      const char escape = kEscapes[static_cast<unsigned char>(*p)];
      if (escape == 0) [[likely]] continue;
      append_unchecked(std::string_view(run, static_cast<std::size_t>(p - run)));
      run = p + 1;
      char* out = data_.get() + size_;
      out[0] = '\\';
      if (escape == 'u') {
        const auto c = static_cast<unsigned char>(*p);
        out[1] = 'u';
        out[2] = '0';
        out[3] = '0';
        out[4] = kHex[c >> 4];
        out[5] = kHex[c & 0xF];
        size_ += 6;
      } else {
        out[1] = escape;
        size_ += 2;
      }
    }
    append_unchecked(std::string_view(run, static_cast<std::size_t>(end - run)));
    data_[size_++] = '"';
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  bool first_ = true;       // the current container (or the document) has no value yet
  bool after_key_ = false;  // a member name was written; its value follows without a comma
};

}  // namespace pgcdc
