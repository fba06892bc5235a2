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
#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pgcdc {

class JsonWriter {
 public:
  JsonWriter() = default;
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Above this capacity clear() gives the buffer back: one huge value (a TOASTed text of many
  // MiB) must not pin that much memory for the rest of the process (invariant 4).
  static constexpr std::size_t kKeptCapacity = 1u << 20;

  // Starts a fresh document; keeps the buffer's memory unless it is above kKeptCapacity.
  void clear() {
    size_ = 0;
    first_ = true;
    after_key_ = false;
    if (capacity_ > kKeptCapacity) [[unlikely]] {
      release();
    }
  }
  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return size_; }  // bytes written since clear()
  // What was written since clear(); valid until the next write.
  std::string_view view() const { return {data_, size_}; }
  std::string str() const { return std::string(view()); }
  // Replaces `out`'s content with the document (keeping `out`'s capacity when it suffices).
  void copy_to(std::string& out) const { out.assign(data_, size_); }
  // As copy_to(), but a document above kKeptCapacity hands its buffer to `out` instead of being
  // copied, and the writer starts empty (as clear() would leave it): a wide row's envelope is
  // then held once, not twice, while its record is made.
  void move_to(std::string& out) {
    if (capacity_ <= kKeptCapacity) {
      copy_to(out);
      return;
    }
    buffer_.resize(size_);  // shrinks the length only: no allocation, no copy
    out.swap(buffer_);
    release();
    clear();
  }

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
  // A string the caller knows needs no escaping (no '"', '\\' or byte below 0x20: a formatted
  // date, a number's text); copied without the scan.
  void plain_string(std::string_view text) {
    before_value();
    reserve(text.size() + 2);
    data_[size_++] = '"';
    append_unchecked(text);
    data_[size_++] = '"';
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
  // Doubles, so appends cost O(1) amortized; but one large reservation (a wide value) gets what
  // it needs and an eighth more rather than the next power of two: the buffer may become the
  // record's value (move_to), and its spare room would be held, zeroed, as long as the record.
  void grow(std::size_t more) {
    const std::size_t needed = size_ + more;
    const std::size_t capacity = std::max({std::size_t{256}, capacity_ * 2, needed + needed / 8});
    std::string bigger(capacity, '\0');
    if (size_ > 0) std::memcpy(bigger.data(), data_, size_);
    buffer_.swap(bigger);
    data_ = buffer_.data();
    capacity_ = capacity;
  }
  void release() {
    std::string().swap(buffer_);
    data_ = buffer_.data();
    capacity_ = 0;
  }
  void put(char c) {
    reserve(1);
    data_[size_++] = c;
  }
  // Copies into room already reserved. Up to 16 bytes inline (two overlapping moves): names and
  // most values are that short, and a call to memcpy cost more than the copy.
  void append_unchecked(std::string_view text) {
    const std::size_t n = text.size();
    const char* from = text.data();
    char* to = data_ + size_;
    if (n >= 8 && n <= 16) {
      std::uint64_t head;
      std::uint64_t tail;
      std::memcpy(&head, from, 8);
      std::memcpy(&tail, from + n - 8, 8);
      std::memcpy(to, &head, 8);
      std::memcpy(to + n - 8, &tail, 8);
    } else if (n >= 4 && n < 8) {
      std::uint32_t head;
      std::uint32_t tail;
      std::memcpy(&head, from, 4);
      std::memcpy(&tail, from + n - 4, 4);
      std::memcpy(to, &head, 4);
      std::memcpy(to + n - 4, &tail, 4);
    } else if (n > 16) {
      std::memcpy(to, from, n);
    } else {
      for (std::size_t i = 0; i < n; ++i) to[i] = from[i];  // 0 to 3 bytes
    }
    size_ += n;
  }
  void append(std::string_view text) {
    reserve(text.size());
    append_unchecked(text);
  }

  template <typename Integer>
  void number(Integer value) {
    before_value();
    reserve(24);  // any 64-bit integer
    auto [end, error] = std::to_chars(data_ + size_, data_ + capacity_, value);
    (void)error;
    size_ = static_cast<std::size_t>(end - data_);
  }

  // The first byte in [p, end) that needs escaping, or end. 16 bytes at a time where SSE2 is
  // available (every x86-64): strings are most of a row's bytes, and a table lookup per byte
  // showed in profiles. (rapidjson's own SSE2 scan is not used: Debian's 1.1.0 drops characters
  // from runs of bytes to escape; tests/unit/json_writer_test.cpp guards this one.)
  static const char* find_escape(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control_max = _mm_set1_epi8(0x1F);
    while (end - p >= 16) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      // A byte is below 0x20 (unsigned) exactly when min(byte, 0x1F) is the byte itself.
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, control_max), bytes);
      const __m128i special = _mm_or_si128(
          control, _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
      const int mask = _mm_movemask_epi8(special);
      if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
      p += 16;
    }
#endif
    for (; p != end; ++p) {
      if (kEscapes[static_cast<unsigned char>(*p)] != 0) return p;
    }
    return end;
  }

  void write_string(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    // Room for the quotes and the text as it is; each escape makes room for its own growth. (A
    // reservation for the worst case, six bytes per byte, made a 16 MiB value take 96 MiB.)
    reserve(text.size() + 2);
    data_[size_++] = '"';
    const char* p = text.data();
    const char* const end = text.data() + text.size();
    for (;;) {
      const char* special = find_escape(p, end);
      append_unchecked(std::string_view(p, static_cast<std::size_t>(special - p)));
      if (special == end) break;
      // The rest of the text, this escape's six bytes at most and the closing quote.
      reserve(static_cast<std::size_t>(end - special) + 6);
      const auto c = static_cast<unsigned char>(*special);
      const char escape = kEscapes[c];
      char* out = data_ + size_;
      out[0] = '\\';
      if (escape == 'u') {
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
      p = special + 1;
    }
    data_[size_++] = '"';
  }

  // The bytes live in a std::string (buffer_.size() is the capacity) so that move_to() can hand
  // them over; they are written through data_, never with the string's own appends, which were
  // not inlined and showed in profiles.
  std::string buffer_;
  char* data_ = buffer_.data();
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  bool first_ = true;       // the current container (or the document) has no value yet
  bool after_key_ = false;  // a member name was written; its value follows without a comma
};

}  // namespace pgcdc
