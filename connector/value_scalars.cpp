// The scalar grammars: bool, the integer types, float4/float8, numeric, bytea and int2vector /
// oidvector. Alone because their forms are fixed by PostgreSQL's output functions alone (no
// session setting but extra_float_digits and bytea_output, no catalog facts), and because they
// are the values most rows are made of: this file is the converter's hottest path.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

// JSON number grammar (RFC 8259): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && is_digit(s[i])) ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  return i == n;
}

bool is_float_special(std::string_view s) {
  return s == "NaN" || s == "Infinity" || s == "-Infinity";
}

// The caller has validated `text` with is_json_number.
void write_raw_number(JsonWriter& out, std::string_view text) {
  out.raw(text);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Scalars.

bool write_bool(JsonWriter& out, std::string_view text) {
  if (text != "t" && text != "f") return write_unexpected(out, text);
  out.boolean(text == "t");
  return true;
}

bool write_integer(JsonWriter& out, std::string_view text) {
  // PostgreSQL prints integers canonically: an optional '-', then digits without a leading zero.
  // Such a text of at most 18 digits is an int64 and already its own JSON form, as Int64() would
  // print it, so it is copied without a round trip through binary. Anything else is parsed.
  const std::size_t sign = (!text.empty() && text[0] == '-') ? 1 : 0;
  const std::size_t digits = text.size() - sign;
  if (digits >= 1 && digits <= 18 && (text[sign] != '0' || (digits == 1 && sign == 0)) &&
      all_digits(text.substr(sign))) {
    out.raw(text);
    return true;
  }
  const char* first = text.data();
  const char* last = text.data() + text.size();
  std::int64_t signed_value = 0;
  auto [end, error] = std::from_chars(first, last, signed_value);
  if (error == std::errc() && end == last) {
    out.int64(signed_value);
    return true;
  }
  std::uint64_t unsigned_value = 0;  // xid8 and values above INT64_MAX
  auto [uend, uerror] = std::from_chars(first, last, unsigned_value);
  if (uerror == std::errc() && uend == last) {
    out.uint64(unsigned_value);
    return true;
  }
  return write_unexpected(out, text);
}

bool write_float(JsonWriter& out, std::string_view text) {
  if (is_float_special(text)) {
    write_string(out, text);
    return true;
  }
  if (!is_json_number(text)) return write_unexpected(out, text);
  write_raw_number(out, text);
  return true;
}

bool write_numeric(JsonWriter& out, std::string_view text, ConverterOptions::Numeric mode) {
  if (is_float_special(text)) {
    write_string(out, text);
    return true;
  }
  if (!is_json_number(text)) return write_unexpected(out, text);
  if (mode == ConverterOptions::Numeric::kNumber) {
    write_raw_number(out, text);
  } else {
    write_string(out, text);
  }
  return true;
}

bool write_bytea(JsonWriter& out, std::string_view text, ConverterOptions::Bytea mode) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
    return write_unexpected(out, text);
  }
  const std::string_view hex = text.substr(2);
  for (char c : hex) {
    if (hex_value(c) < 0) return write_unexpected(out, text);
  }
  if (mode == ConverterOptions::Bytea::kHex) {
    write_string(out, hex);
    return true;
  }
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::size_t bytes = hex.size() / 2;
  std::string encoded;
  encoded.reserve((bytes + 2) / 3 * 4);
  auto byte_at = [&](std::size_t i) -> std::uint32_t {
    return static_cast<std::uint32_t>(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
  };
  std::size_t i = 0;
  for (; i + 3 <= bytes; i += 3) {
    const std::uint32_t v = (byte_at(i) << 16) | (byte_at(i + 1) << 8) | byte_at(i + 2);
    encoded += kAlphabet[(v >> 18) & 63];
    encoded += kAlphabet[(v >> 12) & 63];
    encoded += kAlphabet[(v >> 6) & 63];
    encoded += kAlphabet[v & 63];
  }
  if (bytes - i == 1) {
    const std::uint32_t v = byte_at(i) << 16;
    encoded += kAlphabet[(v >> 18) & 63];
    encoded += kAlphabet[(v >> 12) & 63];
    encoded += "==";
  } else if (bytes - i == 2) {
    const std::uint32_t v = (byte_at(i) << 16) | (byte_at(i + 1) << 8);
    encoded += kAlphabet[(v >> 18) & 63];
    encoded += kAlphabet[(v >> 12) & 63];
    encoded += kAlphabet[(v >> 6) & 63];
    encoded += '=';
  }
  write_string(out, encoded);
  return true;
}

bool write_integer_vector(JsonWriter& out, std::string_view text) {
  std::vector<std::string_view> items;
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find(' ', begin);
    if (end == std::string_view::npos) end = text.size();
    items.push_back(text.substr(begin, end - begin));
    begin = end + 1;
    if (end + 1 == text.size()) return write_unexpected(out, text);  // trailing space
  }
  for (std::string_view item : items) {
    std::int64_t value = 0;
    auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || error != std::errc() || end != item.data() + item.size()) {
      return write_unexpected(out, text);
    }
  }
  out.start_array();
  for (std::string_view item : items) write_integer(out, item);
  out.end_array();
  return true;
}

}  // namespace pgcdc::converter_detail
