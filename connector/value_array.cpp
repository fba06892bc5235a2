// Arrays: PostgreSQL's array text format (array_in / array_out in
// src/backend/utils/adt/arrayfuncs.c) read into nested JSON arrays whose elements are converted by
// the element type. Alone because it is the largest of the container grammars (dimensions,
// per-type delimiters, a validating pass before the writing one).
//
//   [lb:ub][lb:ub]=        optional dimension decoration, printed when a lower bound is not 1
//   {elem,elem,...}        one dimension; nested braces for more (at most 6)
//   "..."                  quoted element; \" and \\ escapes (array_out quotes empty strings, NULL,
//                          and text with the delimiter, braces, quotes, backslashes or whitespace)
//   NULL                   unquoted, any case: SQL NULL
// Unquoted elements may also hold backslash escapes and lose unescaped leading/trailing whitespace.
#include <string>
#include <string_view>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

constexpr int kMaxArrayDimensions = 6;  // PostgreSQL's MAXDIM

// Recursive-descent parser. Run once with `out == nullptr` to validate, then again to write, so a
// malformed array leaves nothing half-written.
class ArrayParser {
 public:
  ArrayParser(std::string_view text, char delimiter, const ColumnType& element,
              const ConverterOptions& options, JsonWriter* out)
      : text_(text), delimiter_(delimiter), element_(element), options_(options), out_(out) {}
  // True when the whole text is a well-formed array.
  bool parse() {
    skip_space();
    if (peek() == '[' && !skip_dimensions()) return false;
    if (peek() != '{') return false;
    if (!parse_list(1)) return false;
    skip_space();
    return pos_ == text_.size();
  }

  // False when some element's type or text was not known (see ValueConverter::write).
  bool all_known() const { return all_known_; }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= text_.size(); }
  void skip_space() {
    while (!at_end() && is_array_space(text_[pos_])) ++pos_;
  }

  bool skip_integer() {
    if (peek() == '-' || peek() == '+') ++pos_;
    const std::size_t start = pos_;
    while (!at_end() && is_digit(text_[pos_])) ++pos_;
    return pos_ > start;
  }

  // "[lb:ub]" or "[ub]", repeated, then "=". The bounds are dropped: JSON arrays start at 0.
  bool skip_dimensions() {
    int dimensions = 0;
    while (peek() == '[') {
      if (++dimensions > kMaxArrayDimensions) return false;
      ++pos_;
      skip_space();
      if (!skip_integer()) return false;
      skip_space();
      if (peek() == ':') {
        ++pos_;
        skip_space();
        if (!skip_integer()) return false;
        skip_space();
      }
      if (peek() != ']') return false;
      ++pos_;
      skip_space();
    }
    if (peek() != '=') return false;
    ++pos_;
    skip_space();
    return true;
  }

  // At '{'. A list holds either only sub-lists or only elements.
  bool parse_list(int depth) {
    if (depth > kMaxArrayDimensions) return false;
    ++pos_;  // '{'
    if (out_ != nullptr) out_->start_array();
    skip_space();
    if (peek() == '}') {
      ++pos_;
      if (out_ != nullptr) out_->end_array();
      return true;
    }
    enum class Holds { kUnknown, kLists, kElements } holds = Holds::kUnknown;
    while (true) {
      skip_space();
      if (peek() == '{') {
        if (holds == Holds::kElements) return false;
        holds = Holds::kLists;
        if (!parse_list(depth + 1)) return false;
      } else {
        if (holds == Holds::kLists) return false;
        holds = Holds::kElements;
        if (!parse_element()) return false;
      }
      skip_space();
      const char c = peek();
      if (c == delimiter_) {
        ++pos_;
        continue;
      }
      if (c == '}') {
        ++pos_;
        if (out_ != nullptr) out_->end_array();
        return true;
      }
      return false;
    }
  }

  bool parse_element() {
    if (peek() == '"') return parse_quoted_element();
    return parse_unquoted_element();
  }

  bool parse_quoted_element() {
    ++pos_;  // opening quote
    const std::size_t start = pos_;
    bool escaped = false;
    while (true) {
      if (at_end()) return false;
      const char c = text_[pos_];
      if (c == '"') break;
      if (c == '\\') {
        escaped = true;
        ++pos_;
        if (at_end()) return false;
      }
      ++pos_;
    }
    const std::string_view raw = text_.substr(start, pos_ - start);
    ++pos_;  // closing quote
    if (out_ != nullptr) emit(raw, escaped);
    return true;
  }

  bool parse_unquoted_element() {
    const std::size_t start = pos_;
    std::size_t end = pos_;  // one past the last character that is not trailing whitespace
    bool escaped = false;
    while (!at_end()) {
      const char c = text_[pos_];
      if (c == delimiter_ || c == '}') break;
      if (c == '{' || c == '"') return false;
      if (c == '\\') {
        escaped = true;
        ++pos_;
        if (at_end()) return false;
        ++pos_;
        end = pos_;
        continue;
      }
      ++pos_;
      if (!is_array_space(c)) end = pos_;
    }
    if (end == start) return false;  // empty unquoted element
    const std::string_view raw = text_.substr(start, end - start);
    if (out_ != nullptr) {
      if (!escaped && equals_null_ignoring_case(raw)) {
        out_->null();
      } else {
        emit(raw, escaped);
      }
    }
    return true;
  }

  void emit(std::string_view raw, bool escaped) {
    if (!escaped) {
      all_known_ &= write_value(*out_, element_, raw, options_);
      return;
    }
    std::string unescaped;
    unescaped.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
      unescaped += raw[i];
    }
    all_known_ &= write_value(*out_, element_, unescaped, options_);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  char delimiter_;
  const ColumnType& element_;
  const ConverterOptions& options_;
  JsonWriter* out_;
  bool all_known_ = true;
};

}  // namespace

bool write_array(JsonWriter& out, std::string_view text, const ColumnType& element,
                 const ConverterOptions& options) {
  const char delimiter = delimiter_of(element);
  ArrayParser validator(text, delimiter, element, options, nullptr);
  if (!validator.parse()) return write_unexpected(out, text);
  ArrayParser writer(text, delimiter, element, options, &out);
  writer.parse();
  return writer.all_known() && is_known_type(element);
}

}  // namespace pgcdc::converter_detail
