// json and jsonb: the text PostgreSQL prints, compacted into the record (or kept as a string with
// [format] json = "string"). Alone because it is a scanner of a grammar of its own (RFC 8259) with
// its own reasons not to use RapidJSON, below.
#include <string>
#include <string_view>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

// json / jsonb text -> the same JSON without insignificant whitespace, validated on the way.
//
// Not RapidJSON's Reader: in RapidJSON 1.1.0 it rejects JSON that PostgreSQL accepts and prints
// (kParseErrorNumberTooBig for numbers beyond double range, e.g. json '1e999' or the 1000-digit
// integer jsonb prints for it, even with kParseNumbersAsStringsFlag), and it cannot keep a lone
// surrogate escape such as "\ud800", which the json type stores. This scanner keeps every number
// and every string (escapes included) byte for byte, so nothing changes but whitespace. It is
// iterative: deep nesting costs one byte of `open` per level, not stack frames.
class JsonCompactor {
 public:
  explicit JsonCompactor(std::string_view text) : text_(text) {}

  // False when the text is not exactly one JSON value (RFC 8259).
  bool run(std::string& out) {
    skip_space();
    if (at_end()) return false;
    std::string open;  // '{' or '[' for each container not yet closed
    bool want_value = true;
    while (true) {
      if (want_value) {
        skip_space();
        if (at_end()) return false;
        const char c = text_[pos_];
        if (c == '{' || c == '[') {
          out += c;
          ++pos_;
          skip_space();
          const char close = c == '{' ? '}' : ']';
          if (!at_end() && text_[pos_] == close) {
            out += close;
            ++pos_;
            want_value = false;
          } else {
            open += c;
            if (c == '{' && !key(out)) return false;
          }
          continue;
        }
        if (!scalar(out)) return false;
        want_value = false;
        continue;
      }
      skip_space();
      if (open.empty()) return at_end();
      if (at_end()) return false;
      const char c = text_[pos_];
      if (c == ',') {
        out += ',';
        ++pos_;
        if (open.back() == '{' && !key(out)) return false;
        want_value = true;
      } else if ((c == '}' && open.back() == '{') || (c == ']' && open.back() == '[')) {
        out += c;
        ++pos_;
        open.pop_back();
      } else {
        return false;
      }
    }
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  void skip_space() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                         text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // An object member's name and its colon.
  bool key(std::string& out) {
    skip_space();
    if (at_end() || text_[pos_] != '"' || !string(out)) return false;
    skip_space();
    if (at_end() || text_[pos_] != ':') return false;
    out += ':';
    ++pos_;
    return true;
  }

  bool scalar(std::string& out) {
    const char c = text_[pos_];
    if (c == '"') return string(out);
    if (c == 't') return literal("true", out);
    if (c == 'f') return literal("false", out);
    if (c == 'n') return literal("null", out);
    return number(out);
  }

  bool literal(std::string_view word, std::string& out) {
    if (text_.substr(pos_, word.size()) != word) return false;
    out += word;
    pos_ += word.size();
    return true;
  }

  bool string(std::string& out) {
    const std::size_t start = pos_;
    ++pos_;  // opening quote
    while (true) {
      if (at_end()) return false;
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') break;
      if (c < 0x20) return false;  // control characters must be escaped
      if (c == '\\') {
        ++pos_;
        if (at_end()) return false;
        const char e = text_[pos_];
        if (e == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (pos_ + k >= text_.size() || hex_value(text_[pos_ + k]) < 0) return false;
          }
          pos_ += 4;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
      ++pos_;
    }
    ++pos_;  // closing quote
    out += text_.substr(start, pos_ - start);
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number(std::string& out) {
    const std::size_t start = pos_;
    if (!at_end() && text_[pos_] == '-') ++pos_;
    if (at_end()) return false;
    if (text_[pos_] == '0') {
      ++pos_;
    } else if (text_[pos_] >= '1' && text_[pos_] <= '9') {
      skip_digits();
    } else {
      return false;
    }
    if (!at_end() && text_[pos_] == '.') {
      ++pos_;
      if (!skip_digits()) return false;
    }
    if (!at_end() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (!at_end() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!skip_digits()) return false;
    }
    out += text_.substr(start, pos_ - start);
    return true;
  }

  // True when at least one digit was skipped.
  bool skip_digits() {
    const std::size_t start = pos_;
    while (!at_end() && is_digit(text_[pos_])) ++pos_;
    return pos_ > start;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

bool write_json(JsonWriter& out, std::string_view text, ConverterOptions::Json mode) {
  if (mode == ConverterOptions::Json::kString) {
    write_string(out, text);
    return true;
  }
  std::string compact;
  compact.reserve(text.size());
  if (!JsonCompactor(text).run(compact)) return write_unexpected(out, text);
  out.raw(compact);
  return true;
}

}  // namespace pgcdc::converter_detail
