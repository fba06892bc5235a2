#pragma once
// The JSON writer of the row path: every record's key and envelope, and every value the
// ValueConverter turns into JSON, are written by this class, straight into the record's strings.
//
// Why not rapidjson::Writer, which pgcdc used before: per record it copied raw values and member
// names one character at a time, checked its nesting stack at every call, wrote into its own buffer
// (copied into the record afterwards), and escaped strings a character at a time through its
// stream. That was about a quarter of a snapshot's CPU. This writer copies with memcpy, scans
// strings for the few bytes that need escaping and copies the runs between them, and keeps one
// flag for commas. It trusts its callers to nest correctly (they are this repository's code, and
// the unit tests parse what they write); it does not validate.
//
// Its output is byte for byte what rapidjson::Writer<StringBuffer> with default flags writes, so
// records keep their exact form: no whitespace; in strings `"` and `\` escaped, \b \t \n \f \r in
// short form, other bytes below 0x20 as \u00XX with upper-case hex, every other byte (UTF-8
// included, not validated) as is; integers in plain decimal. tests/unit/json_writer_test.cpp
// compares the two on every byte value and on nested documents.
#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgcdc {

class JsonWriter {
 public:
  JsonWriter() = default;
  explicit JsonWriter(std::string& out) : out_(&out) {}

  // From now on, append to `out` (not cleared) as a fresh document.
  void reset(std::string& out) {
    out_ = &out;
    first_ = true;
    after_key_ = false;
  }
  std::string& output() { return *out_; }

  void start_object() {
    before_value();
    out_->push_back('{');
    first_ = true;
  }
  void end_object() {
    out_->push_back('}');
    first_ = false;  // the enclosing container now holds at least this value
  }
  void start_array() {
    before_value();
    out_->push_back('[');
    first_ = true;
  }
  void end_array() {
    out_->push_back(']');
    first_ = false;
  }

  // A member name, escaped here.
  void key(std::string_view name) {
    before_key();
    write_string(name);
    out_->push_back(':');
  }
  // A member name already in JSON form, quotes and escapes included (RowLayout::json_names, or a
  // literal such as "\"after\"").
  void json_key(std::string_view quoted) {
    before_key();
    out_->append(quoted);
    out_->push_back(':');
  }

  void string(std::string_view text) {
    before_value();
    write_string(text);
  }
  void int64(std::int64_t value) { number(value); }
  void uint64(std::uint64_t value) { number(value); }
  void boolean(bool value) {
    before_value();
    out_->append(value ? std::string_view("true") : std::string_view("false"));
  }
  void null() {
    before_value();
    out_->append("null");
  }
  // A complete JSON value written as it is (a validated number, a cached object, a quoted name).
  void raw(std::string_view json) {
    before_value();
    out_->append(json);
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
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  void before_key() {
    if (!first_) out_->push_back(',');
    first_ = false;
    after_key_ = true;
  }

  template <typename Integer>
  void number(Integer value) {
    before_value();
    char digits[24];
    auto [end, error] = std::to_chars(digits, digits + sizeof(digits), value);
    (void)error;  // 24 characters hold any 64-bit integer
    out_->append(digits, static_cast<std::size_t>(end - digits));
  }

  void write_string(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string& out = *out_;
    out.push_back('"');
    const char* run = text.data();
    const char* const end = text.data() + text.size();
    for (const char* p = run; p != end; ++p) {
      const char escape = kEscapes[static_cast<unsigned char>(*p)];
      if (escape == 0) [[likely]] continue;
      out.append(run, static_cast<std::size_t>(p - run));
      run = p + 1;
      if (escape == 'u') {
        const auto c = static_cast<unsigned char>(*p);
        const char sequence[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(sequence, sizeof(sequence));
      } else {
        const char sequence[2] = {'\\', escape};
        out.append(sequence, sizeof(sequence));
      }
    }
    out.append(run, static_cast<std::size_t>(end - run));
    out.push_back('"');
  }

  std::string* out_ = nullptr;
  bool first_ = true;       // the current container (or the document) has no value yet
  bool after_key_ = false;  // a member name was written; its value follows without a comma
};

}  // namespace pgcdc
