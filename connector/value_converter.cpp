#include "connector/value_converter.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "connector/pg_types.h"

namespace pgcdc {
namespace {

// How a type's text output becomes JSON.
enum class TextFormat : std::uint8_t {
  kUnknown,        // not handled specifically: string, and write() returns false
  kString,         // the text as a JSON string
  kBool,           // t / f
  kInteger,        // exact signed or unsigned 64-bit integer
  kFloat,          // raw number; NaN / Infinity / -Infinity as strings
  kNumeric,        // string, or raw number with Numeric::kNumber
  kJson,           // embedded JSON, or string with Json::kString
  kBytea,          // \x hex -> base64 or bare hex
  kDate,           // BC -> astronomical year
  kTimestamp,      // space -> 'T', BC -> astronomical year
  kTimestampTz,    // as kTimestamp, +00 -> Z, +HH -> +HH:00
  kTimeTz,         // +HH -> +HH:00
  kTime,           // as printed, or micro/milliseconds since midnight with the epoch options
  kIntegerVector,  // int2vector, oidvector: "1 2 3" -> [1,2,3]
  kRange,          // built-in range: subtype from kBuiltinRanges
  kMultirange,     // built-in multirange: subtype from kBuiltinRanges
};

struct BuiltinType {
  std::uint32_t oid;
  std::uint32_t array_oid;  // pg_type.typarray
  TextFormat format;
  char delimiter;  // pg_type.typdelim: the element separator in the array's text form
};

namespace t = pg_type;

// Every built-in base type that has an array type, sorted by OID (checked below). Types listed as
// kUnknown are here so that builtin_array_element knows their arrays; give them a format to support
// them. Types whose text is their best JSON form (identifiers, network addresses, geometry, ...)
// are kString: known, and written as printed.
constexpr BuiltinType kBuiltinTypes[] = {
    {t::kBool, t::kBoolArray, TextFormat::kBool, ','},
    {t::kBytea, t::kByteaArray, TextFormat::kBytea, ','},
    {t::kChar, t::kCharArray, TextFormat::kString, ','},
    {t::kName, t::kNameArray, TextFormat::kString, ','},
    {t::kInt8, t::kInt8Array, TextFormat::kInteger, ','},
    {t::kInt2, t::kInt2Array, TextFormat::kInteger, ','},
    {t::kInt2Vector, t::kInt2VectorArray, TextFormat::kIntegerVector, ','},
    {t::kInt4, t::kInt4Array, TextFormat::kInteger, ','},
    {t::kRegproc, t::kRegprocArray, TextFormat::kString, ','},
    {t::kText, t::kTextArray, TextFormat::kString, ','},
    {t::kOid, t::kOidArray, TextFormat::kInteger, ','},
    {t::kTid, t::kTidArray, TextFormat::kString, ','},
    {t::kXid, t::kXidArray, TextFormat::kInteger, ','},
    {t::kCid, t::kCidArray, TextFormat::kInteger, ','},
    {t::kOidVector, t::kOidVectorArray, TextFormat::kIntegerVector, ','},
    {t::kJson, t::kJsonArray, TextFormat::kJson, ','},
    {t::kXml, t::kXmlArray, TextFormat::kString, ','},
    {t::kPoint, t::kPointArray, TextFormat::kString, ','},
    {t::kLseg, t::kLsegArray, TextFormat::kString, ','},
    {t::kPath, t::kPathArray, TextFormat::kString, ','},
    {t::kBox, t::kBoxArray, TextFormat::kString, ';'},  // the one built-in type not using ','
    {t::kPolygon, t::kPolygonArray, TextFormat::kString, ','},
    {t::kLine, t::kLineArray, TextFormat::kString, ','},
    {t::kCidr, t::kCidrArray, TextFormat::kString, ','},
    {t::kFloat4, t::kFloat4Array, TextFormat::kFloat, ','},
    {t::kFloat8, t::kFloat8Array, TextFormat::kFloat, ','},
    {t::kCircle, t::kCircleArray, TextFormat::kString, ','},
    {t::kMacaddr8, t::kMacaddr8Array, TextFormat::kString, ','},
    {t::kMoney, t::kMoneyArray, TextFormat::kString, ','},
    {t::kMacaddr, t::kMacaddrArray, TextFormat::kString, ','},
    {t::kInet, t::kInetArray, TextFormat::kString, ','},
    {t::kAclitem, t::kAclitemArray, TextFormat::kString, ','},
    {t::kBpchar, t::kBpcharArray, TextFormat::kString, ','},
    {t::kVarchar, t::kVarcharArray, TextFormat::kString, ','},
    {t::kDate, t::kDateArray, TextFormat::kDate, ','},
    {t::kTime, t::kTimeArray, TextFormat::kTime, ','},
    {t::kTimestamp, t::kTimestampArray, TextFormat::kTimestamp, ','},
    {t::kTimestampTz, t::kTimestampTzArray, TextFormat::kTimestampTz, ','},
    {t::kInterval, t::kIntervalArray, TextFormat::kString, ','},  // ISO 8601 with iso_8601 style
    {t::kTimeTz, t::kTimeTzArray, TextFormat::kTimeTz, ','},
    {t::kBit, t::kBitArray, TextFormat::kString, ','},
    {t::kVarbit, t::kVarbitArray, TextFormat::kString, ','},
    {t::kNumeric, t::kNumericArray, TextFormat::kNumeric, ','},
    {t::kRefcursor, t::kRefcursorArray, TextFormat::kString, ','},
    {t::kRegprocedure, t::kRegprocedureArray, TextFormat::kString, ','},
    {t::kRegoper, t::kRegoperArray, TextFormat::kString, ','},
    {t::kRegoperator, t::kRegoperatorArray, TextFormat::kString, ','},
    {t::kRegclass, t::kRegclassArray, TextFormat::kString, ','},
    {t::kRegtype, t::kRegtypeArray, TextFormat::kString, ','},
    {t::kRecord, t::kRecordArray, TextFormat::kUnknown, ','},
    {t::kCstring, t::kCstringArray, TextFormat::kUnknown, ','},
    {t::kUuid, t::kUuidArray, TextFormat::kString, ','},
    {t::kTxidSnapshot, t::kTxidSnapshotArray, TextFormat::kString, ','},
    {t::kPgLsn, t::kPgLsnArray, TextFormat::kString, ','},
    {t::kTsvector, t::kTsvectorArray, TextFormat::kString, ','},
    {t::kTsquery, t::kTsqueryArray, TextFormat::kString, ','},
    {t::kGtsvector, t::kGtsvectorArray, TextFormat::kUnknown, ','},
    {t::kRegconfig, t::kRegconfigArray, TextFormat::kString, ','},
    {t::kRegdictionary, t::kRegdictionaryArray, TextFormat::kString, ','},
    {t::kJsonb, t::kJsonbArray, TextFormat::kJson, ','},
    {t::kInt4Range, t::kInt4RangeArray, TextFormat::kRange, ','},
    {t::kNumRange, t::kNumRangeArray, TextFormat::kRange, ','},
    {t::kTsRange, t::kTsRangeArray, TextFormat::kRange, ','},
    {t::kTstzRange, t::kTstzRangeArray, TextFormat::kRange, ','},
    {t::kDateRange, t::kDateRangeArray, TextFormat::kRange, ','},
    {t::kInt8Range, t::kInt8RangeArray, TextFormat::kRange, ','},
    {t::kJsonpath, t::kJsonpathArray, TextFormat::kString, ','},
    {t::kRegnamespace, t::kRegnamespaceArray, TextFormat::kString, ','},
    {t::kRegrole, t::kRegroleArray, TextFormat::kString, ','},
    {t::kRegcollation, t::kRegcollationArray, TextFormat::kString, ','},
    {t::kInt4Multirange, t::kInt4MultirangeArray, TextFormat::kMultirange, ','},
    {t::kNumMultirange, t::kNumMultirangeArray, TextFormat::kMultirange, ','},
    {t::kTsMultirange, t::kTsMultirangeArray, TextFormat::kMultirange, ','},
    {t::kTstzMultirange, t::kTstzMultirangeArray, TextFormat::kMultirange, ','},
    {t::kDateMultirange, t::kDateMultirangeArray, TextFormat::kMultirange, ','},
    {t::kInt8Multirange, t::kInt8MultirangeArray, TextFormat::kMultirange, ','},
    {t::kPgSnapshot, t::kPgSnapshotArray, TextFormat::kString, ','},
    {t::kXid8, t::kXid8Array, TextFormat::kInteger, ','},
};

constexpr std::size_t kBuiltinCount = std::size(kBuiltinTypes);

static_assert(std::is_sorted(std::begin(kBuiltinTypes), std::end(kBuiltinTypes),
                             [](const BuiltinType& a, const BuiltinType& b) {
                               return a.oid < b.oid;
                             }),
              "kBuiltinTypes must stay sorted by OID");

// The same rows sorted by array OID, built at compile time.
constexpr std::array<BuiltinType, kBuiltinCount> sorted_by_array_oid() {
  std::array<BuiltinType, kBuiltinCount> rows{};
  std::copy(std::begin(kBuiltinTypes), std::end(kBuiltinTypes), rows.begin());
  std::sort(rows.begin(), rows.end(),
            [](const BuiltinType& a, const BuiltinType& b) { return a.array_oid < b.array_oid; });
  return rows;
}
constexpr std::array<BuiltinType, kBuiltinCount> kByArrayOid = sorted_by_array_oid();

// Built-in ranges and multiranges and their subtype (pg_range).
struct BuiltinRange {
  std::uint32_t range_oid;
  std::uint32_t multirange_oid;
  std::uint32_t subtype_oid;
};
constexpr BuiltinRange kBuiltinRanges[] = {
    {t::kInt4Range, t::kInt4Multirange, t::kInt4},
    {t::kNumRange, t::kNumMultirange, t::kNumeric},
    {t::kTsRange, t::kTsMultirange, t::kTimestamp},
    {t::kTstzRange, t::kTstzMultirange, t::kTimestampTz},
    {t::kDateRange, t::kDateMultirange, t::kDate},
    {t::kInt8Range, t::kInt8Multirange, t::kInt8},
};

// Built-in OIDs are all below this (checked below), so a value's type is found by indexing a table
// rather than by a binary search per value.
constexpr std::uint32_t kDirectOidLimit = 8192;
static_assert(kBuiltinCount < 255);

constexpr std::array<std::uint8_t, kDirectOidLimit> index_by_oid() {
  std::array<std::uint8_t, kDirectOidLimit> index{};  // position + 1; 0: not a built-in type
  for (std::size_t i = 0; i < kBuiltinCount; ++i) {
    index[kBuiltinTypes[i].oid] = static_cast<std::uint8_t>(i + 1);
  }
  return index;
}
static_assert(std::all_of(std::begin(kBuiltinTypes), std::end(kBuiltinTypes),
                          [](const BuiltinType& row) { return row.oid < kDirectOidLimit; }));
constexpr std::array<std::uint8_t, kDirectOidLimit> kIndexByOid = index_by_oid();

const BuiltinType* find_by_oid(std::uint32_t oid) {
  if (oid >= kDirectOidLimit) return nullptr;
  const std::uint8_t position = kIndexByOid[oid];
  return position == 0 ? nullptr : &kBuiltinTypes[position - 1];
}

const BuiltinType* find_by_array_oid(std::uint32_t array_oid) {
  if (array_oid == 0) return nullptr;
  const auto it = std::lower_bound(
      kByArrayOid.begin(), kByArrayOid.end(), array_oid,
      [](const BuiltinType& row, std::uint32_t key) { return row.array_oid < key; });
  return (it != kByArrayOid.end() && it->array_oid == array_oid) ? &*it : nullptr;
}

// Types without a fixed OID (extensions, user types), judged by pg_type.typcategory.
TextFormat format_for_category(char category) {
  switch (category) {
    case 'S':  // string types: citext, ...
    case 'E':  // enums: the label
      return TextFormat::kString;
    default:
      return TextFormat::kUnknown;
  }
}

// ---------------------------------------------------------------------------------------------
// Small text helpers.

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A loop, not std::all_of(..., is_digit): through a function pointer that was a call per character.
bool all_digits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

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

void write_string(JsonWriter& out, std::string_view text) {
  out.string(text);
}

// The caller has validated `text` with is_json_number.
void write_raw_number(JsonWriter& out, std::string_view text) {
  out.raw(text);
}

bool write_unexpected(JsonWriter& out, std::string_view text) {
  write_string(out, text);
  return false;
}

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
            if (pos_ + k >= text_.size() || hex_digit(text_[pos_ + k]) < 0) return false;
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

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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

// ---------------------------------------------------------------------------------------------
// Dates and times. With DateStyle=ISO PostgreSQL prints "YYYY-MM-DD[ HH:MM:SS[.f]][+TZ][ BC]" with
// at least four year digits.

// Output buffer for one date/time value; longer input is not a PostgreSQL date/time.
class DateTimeText {
 public:
  static constexpr std::size_t kCapacity = 64;
  bool append(std::string_view s) {
    if (s.size() > kCapacity - size_) return false;
    std::copy(s.begin(), s.end(), buffer_ + size_);
    size_ += s.size();
    return true;
  }
  bool append(char c) { return append(std::string_view(&c, 1)); }
  std::string_view view() const { return {buffer_, size_}; }

 private:
  char buffer_[kCapacity];
  std::size_t size_ = 0;
};

// Appends the ISO 8601 form of a "YYYY-MM-DD" date, with BC years turned into astronomical years
// (1 BC = 0000, 44 BC = -0043). False when `date` is not of that shape.
bool append_iso_date(DateTimeText& out, std::string_view date, bool bc) {
  const std::size_t dash = date.find('-');
  if (dash == std::string_view::npos || dash < 4 || date.size() != dash + 6) return false;
  const std::string_view year = date.substr(0, dash);
  const std::string_view month_day = date.substr(dash);  // "-MM-DD"
  if (!all_digits(year)) return false;
  if (!is_digit(month_day[1]) || !is_digit(month_day[2]) || month_day[3] != '-' ||
      !is_digit(month_day[4]) || !is_digit(month_day[5])) {
    return false;
  }
  if (!bc) return out.append(date);
  std::uint32_t year_number = 0;
  auto [end, error] = std::from_chars(year.data(), year.data() + year.size(), year_number);
  if (error != std::errc() || end != year.data() + year.size() || year_number == 0) return false;
  const std::uint32_t astronomical = year_number - 1;
  char digits[16];
  auto [digits_end, digits_error] = std::to_chars(digits, digits + sizeof(digits), astronomical);
  if (digits_error != std::errc()) return false;
  const std::string_view number(digits, static_cast<std::size_t>(digits_end - digits));
  if (astronomical != 0 && !out.append('-')) return false;
  for (std::size_t pad = number.size(); pad < 4; ++pad) {
    if (!out.append('0')) return false;
  }
  return out.append(number) && out.append(month_day);
}

// The position of the first '+' or '-' (a UTC offset's sign), or npos. A plain loop:
// find_first_of with a set calls memchr once per character, which showed in profiles.
std::size_t find_sign(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+' || text[i] == '-') return i;
  }
  return std::string_view::npos;
}

bool is_infinity(std::string_view text) {
  return text == "infinity" || text == "-infinity";
}

// Splits off a trailing " BC".
bool strip_bc(std::string_view& text) {
  constexpr std::string_view kBc = " BC";
  if (text.size() >= kBc.size() && text.substr(text.size() - kBc.size()) == kBc) {
    text.remove_suffix(kBc.size());
    return true;
  }
  return false;
}

// Appends a time "HH:MM:SS[.f]" and, when `with_offset`, its UTC offset "+HH[:MM[:SS]]" written as
// ISO 8601: "+HH" becomes "+HH:00", and "+00" becomes "Z" when `utc_as_z`.
bool append_time(DateTimeText& out, std::string_view time, bool with_offset, bool utc_as_z) {
  if (time.size() < 8 || !is_digit(time[0]) || !is_digit(time[1]) || time[2] != ':') return false;
  if (!with_offset) {
    if (find_sign(time) != std::string_view::npos) return false;
    return out.append(time);
  }
  const std::size_t sign = find_sign(time);
  if (sign == std::string_view::npos) return false;
  const std::string_view clock = time.substr(0, sign);
  const std::string_view offset = time.substr(sign);  // "+HH", "+HH:MM" or "+HH:MM:SS"
  if (offset.size() != 3 && offset.size() != 6 && offset.size() != 9) return false;
  if (!out.append(clock)) return false;
  if (offset.size() == 3) {
    if (!is_digit(offset[1]) || !is_digit(offset[2])) return false;
    if (utc_as_z && offset == "+00") return out.append('Z');
    return out.append(offset) && out.append(":00");
  }
  return out.append(offset);
}

bool write_date(JsonWriter& out, std::string_view text) {
  if (is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view date = text;
  const bool bc = strip_bc(date);
  DateTimeText iso;
  if (!append_iso_date(iso, date, bc)) return write_unexpected(out, text);
  write_string(out, iso.view());
  return true;
}

// The usual text of a timestamp or timestamptz, "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]]" (a
// four-digit AD year), written without the general path's searches and bounded appends: most
// tables have a timestamp or two, and that path cost several hundred instructions per value.
// The output is the general path's for the same text (Z for +00, +HH becomes +HH:00). False,
// with nothing written, for any other shape (BC, infinity, five-digit years): the general path
// takes those.
bool write_common_timestamp(JsonWriter& out, std::string_view text, bool with_offset) {
  const char* s = text.data();
  const std::size_t n = text.size();
  if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') {
    return false;
  }
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!is_digit(s[i])) return false;
  }
  std::size_t pos = 19;
  if (pos < n && s[pos] == '.') {
    const std::size_t fraction = ++pos;
    while (pos < n && pos < fraction + 9 && is_digit(s[pos])) ++pos;
    if (pos == fraction) return false;
  }
  char iso[48];  // 19 + '.' + 9 digits + a 9-byte offset at most
  std::memcpy(iso, s, pos);
  iso[10] = 'T';
  std::size_t size = pos;
  const std::string_view offset = text.substr(pos);
  if (!with_offset) {
    if (!offset.empty()) return false;
  } else {
    if (offset.size() != 3 && offset.size() != 6 && offset.size() != 9) return false;
    if ((offset[0] != '+' && offset[0] != '-') || !is_digit(offset[1]) || !is_digit(offset[2])) {
      return false;
    }
    for (std::size_t i = 3; i < offset.size(); i += 3) {
      if (offset[i] != ':' || !is_digit(offset[i + 1]) || !is_digit(offset[i + 2])) return false;
    }
    if (offset == "+00") {
      iso[size++] = 'Z';
    } else {
      std::memcpy(iso + size, offset.data(), offset.size());
      size += offset.size();
      if (offset.size() == 3) {
        std::memcpy(iso + size, ":00", 3);
        size += 3;
      }
    }
  }
  out.plain_string(std::string_view(iso, size));  // digits, '-', ':', '.', 'T', '+', 'Z'
  return true;
}

// timestamp, timestamptz and timetz; `date_part` is false for timetz.
bool write_date_time(JsonWriter& out, std::string_view text, bool date_part, bool with_offset) {
  if (date_part && write_common_timestamp(out, text, with_offset)) return true;
  if (date_part && is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view rest = text;
  DateTimeText iso;
  if (date_part) {
    const bool bc = strip_bc(rest);
    const std::size_t space = rest.find(' ');
    if (space == std::string_view::npos) return write_unexpected(out, text);
    if (!append_iso_date(iso, rest.substr(0, space), bc) || !iso.append('T')) {
      return write_unexpected(out, text);
    }
    rest = rest.substr(space + 1);
  }
  if (!append_time(iso, rest, with_offset, /*utc_as_z=*/date_part)) {
    return write_unexpected(out, text);
  }
  write_string(out, iso.view());
  return true;
}

// Whitespace as array_in, record_in and range_in see it (array_isspace, isspace in the C locale).
bool is_array_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool equals_null_ignoring_case(std::string_view s) {
  if (s.size() != 4) return false;
  constexpr std::string_view kNull = "null";
  for (std::size_t i = 0; i < 4; ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kNull[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Epoch forms of dates and times (temporal = epoch_micros / epoch_millis). Exact integers: a
// timestamp is microseconds since 1970-01-01T00:00:00Z (PostgreSQL's own resolution), a date is
// days since 1970-01-01, a time is microseconds since midnight; millis round down (towards
// -infinity, like java.time.Instant.toEpochMilli). 'infinity' and '-infinity' stay strings.

// Wide enough for every timestamp PostgreSQL can hold (294276 AD in microseconds since 1970 does
// not fit in 63 bits).
using WideInteger = __int128;

bool parse_unsigned(std::string_view digits, std::int64_t& value) {
  if (digits.empty() || digits.size() > 18 ||
      !all_digits(digits)) {
    return false;
  }
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return error == std::errc() && end == digits.data() + digits.size();
}

// Days from 1970-01-01 to the proleptic Gregorian date year-month-day, `year` astronomical (1 BC
// is 0): Howard Hinnant's days_from_civil. PostgreSQL's calendar is proleptic Gregorian too.
std::int64_t days_from_civil(std::int64_t year, std::int64_t month, std::int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const std::int64_t year_of_era = year - era * 400;
  const std::int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// "YYYY-MM-DD" (four or more year digits), BC when `bc` -> days since 1970-01-01.
bool parse_days(std::string_view date, bool bc, std::int64_t& days) {
  const std::size_t dash = date.find('-');
  if (dash == std::string_view::npos || dash < 4 || date.size() != dash + 6 ||
      date[dash + 3] != '-') {
    return false;
  }
  std::int64_t year = 0, month = 0, day = 0;
  if (!parse_unsigned(date.substr(0, dash), year) ||
      !parse_unsigned(date.substr(dash + 1, 2), month) ||
      !parse_unsigned(date.substr(dash + 4, 2), day)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  // PostgreSQL's dates end in 5874897 AD (timestamps in 294276 AD): a larger year is not what it
  // prints, and days_from_civil would overflow int64 on one (found by fuzz/fuzz_value_converter).
  if (year > 5874897) return false;
  if (bc) {
    if (year == 0) return false;
    year = 1 - year;
  }
  days = days_from_civil(year, month, day);
  return true;
}

// "HH:MM:SS[.f...]" (at most six fraction digits; 24:00:00 is allowed) -> microseconds.
bool parse_clock(std::string_view clock, std::int64_t& micros) {
  if (clock.size() < 8 || clock[2] != ':' || clock[5] != ':') return false;
  std::int64_t hours = 0, minutes = 0, seconds = 0, fraction = 0;
  if (!parse_unsigned(clock.substr(0, 2), hours) || !parse_unsigned(clock.substr(3, 2), minutes) ||
      !parse_unsigned(clock.substr(6, 2), seconds)) {
    return false;
  }
  if (clock.size() > 8) {
    const std::string_view digits = clock.substr(9);
    if (clock[8] != '.' || digits.size() > 6 || !parse_unsigned(digits, fraction)) return false;
    for (std::size_t pad = digits.size(); pad < 6; ++pad) fraction *= 10;
  }
  if (hours > 24 || minutes > 59 || seconds > 60) return false;
  micros = ((hours * 60 + minutes) * 60 + seconds) * 1000000 + fraction;
  return true;
}

// "+HH", "+HH:MM" or "+HH:MM:SS" -> seconds east of UTC.
bool parse_offset(std::string_view offset, std::int64_t& seconds) {
  if (offset.size() != 3 && offset.size() != 6 && offset.size() != 9) return false;
  if (offset[0] != '+' && offset[0] != '-') return false;
  std::int64_t parts[3] = {0, 0, 0};
  for (std::size_t part = 0; part * 3 + 3 <= offset.size(); ++part) {
    if (part > 0 && offset[part * 3] != ':') return false;
    if (!parse_unsigned(offset.substr(part * 3 + 1, 2), parts[part])) return false;
  }
  seconds = (parts[0] * 60 + parts[1]) * 60 + parts[2];
  if (offset[0] == '-') seconds = -seconds;
  return true;
}

WideInteger floor_divide(WideInteger value, WideInteger divisor) {
  WideInteger quotient = value / divisor;
  if (value % divisor != 0 && value < 0) --quotient;
  return quotient;
}

void write_wide_integer(JsonWriter& out, WideInteger value) {
  if (value >= std::numeric_limits<std::int64_t>::min() &&
      value <= std::numeric_limits<std::int64_t>::max()) {
    out.int64(static_cast<std::int64_t>(value));
    return;
  }
  char digits[48];
  std::size_t size = 0;
  const bool negative = value < 0;
  // Negative values are taken digit by digit without negating (the minimum has no positive twin).
  do {
    const int digit = static_cast<int>(value % 10);
    digits[size++] = static_cast<char>('0' + (digit < 0 ? -digit : digit));
    value /= 10;
  } while (value != 0);
  if (negative) digits[size++] = '-';
  std::reverse(digits, digits + size);
  out.raw(std::string_view(digits, size));
}

bool write_date_epoch(JsonWriter& out, std::string_view text) {
  if (is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view date = text;
  const bool bc = strip_bc(date);
  std::int64_t days = 0;
  if (!parse_days(date, bc, days)) return write_unexpected(out, text);
  out.int64(days);
  return true;
}

// timestamp and timestamptz ("YYYY-MM-DD HH:MM:SS[.f][+TZ][ BC]").
bool write_timestamp_epoch(JsonWriter& out, std::string_view text, bool with_offset, bool millis) {
  if (is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view rest = text;
  const bool bc = strip_bc(rest);
  const std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) return write_unexpected(out, text);
  std::int64_t days = 0;
  if (!parse_days(rest.substr(0, space), bc, days)) return write_unexpected(out, text);
  std::string_view clock = rest.substr(space + 1);
  std::int64_t offset_seconds = 0;
  if (with_offset) {
    const std::size_t sign = find_sign(clock);
    if (sign == std::string_view::npos || !parse_offset(clock.substr(sign), offset_seconds)) {
      return write_unexpected(out, text);
    }
    clock = clock.substr(0, sign);
  }
  std::int64_t clock_micros = 0;
  if (!parse_clock(clock, clock_micros)) return write_unexpected(out, text);
  WideInteger micros = static_cast<WideInteger>(days) * 86400 * 1000000 + clock_micros -
                       static_cast<WideInteger>(offset_seconds) * 1000000;
  write_wide_integer(out, millis ? floor_divide(micros, 1000) : micros);
  return true;
}

bool write_time_epoch(JsonWriter& out, std::string_view text, bool millis) {
  std::int64_t micros = 0;
  if (!parse_clock(text, micros)) return write_unexpected(out, text);
  out.int64(millis ? micros / 1000 : micros);
  return true;
}

// int2vector / oidvector: "1 2 3" (one space between), "" when empty -> [1,2,3].
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

bool write_scalar(JsonWriter& out, TextFormat format, std::string_view text,
                  const ConverterOptions& options) {
  using Temporal = ConverterOptions::Temporal;
  const bool iso = options.temporal == Temporal::kIso;
  const bool millis = options.temporal == Temporal::kEpochMillis;
  switch (format) {
    case TextFormat::kString:
      write_string(out, text);
      return true;
    case TextFormat::kBool:
      return write_bool(out, text);
    case TextFormat::kInteger:
      return write_integer(out, text);
    case TextFormat::kFloat:
      return write_float(out, text);
    case TextFormat::kNumeric:
      return write_numeric(out, text, options.numeric);
    case TextFormat::kJson:
      return write_json(out, text, options.json);
    case TextFormat::kBytea:
      return write_bytea(out, text, options.bytea);
    case TextFormat::kDate:
      return iso ? write_date(out, text) : write_date_epoch(out, text);
    case TextFormat::kTimestamp:
      if (!iso) return write_timestamp_epoch(out, text, /*with_offset=*/false, millis);
      return write_date_time(out, text, /*date_part=*/true, /*with_offset=*/false);
    case TextFormat::kTimestampTz:
      if (!iso) return write_timestamp_epoch(out, text, /*with_offset=*/true, millis);
      return write_date_time(out, text, /*date_part=*/true, /*with_offset=*/true);
    case TextFormat::kTime:
      if (!iso) return write_time_epoch(out, text, millis);
      write_string(out, text);
      return true;
    case TextFormat::kTimeTz:
      // Always ISO: one integer cannot hold both the time and its offset, and the offset is part
      // of the value ('12:00+01' and '11:00+00' are different timetz values).
      return write_date_time(out, text, /*date_part=*/false, /*with_offset=*/true);
    case TextFormat::kIntegerVector:
      return write_integer_vector(out, text);
    case TextFormat::kRange:       // handled by write_value, which knows the subtype
    case TextFormat::kMultirange:  // idem
    case TextFormat::kUnknown:
      break;
  }
  return write_unexpected(out, text);
}

// ---------------------------------------------------------------------------------------------
// Any type, by its ColumnType. Arrays, ranges, composites and hstore call back into it for the
// values they hold.

bool write_value(JsonWriter& out, const ColumnType& type, std::string_view text,
                 const ConverterOptions& options);

// Whether values of `type` are ones the converter knows (an empty array of an unknown type still
// counts as unknown: the type is in use, its values would be strings).
bool is_known_type(const ColumnType& type) {
  if (const BuiltinType* builtin = find_by_oid(type.oid)) {
    return builtin->format != TextFormat::kUnknown;
  }
  switch (type.kind) {
    case ColumnType::Kind::kArray:
    case ColumnType::Kind::kRange:
    case ColumnType::Kind::kMultirange:
      if (type.element) return is_known_type(*type.element);
      break;
    case ColumnType::Kind::kComposite:
      if (type.composite) {
        return std::all_of(type.composite->fields.begin(), type.composite->fields.end(),
                           [](const CompositeField& field) { return is_known_type(field.type); });
      }
      break;
    case ColumnType::Kind::kHstore:
      return true;
    case ColumnType::Kind::kByOid:
      break;
  }
  if (const BuiltinType* element = find_by_array_oid(type.oid)) {
    return element->format != TextFormat::kUnknown;
  }
  if (type.element_oid != 0) {
    if (const BuiltinType* element = find_by_oid(type.element_oid)) {
      return element->format != TextFormat::kUnknown;
    }
  }
  return format_for_category(type.category) != TextFormat::kUnknown;
}

// The character separating values of `element` in an array's text (pg_type.typdelim).
char delimiter_of(const ColumnType& element) {
  if (const BuiltinType* builtin = find_by_oid(element.oid)) return builtin->delimiter;
  return element.delimiter;
}

// Appends one character of a quoted-or-bare value the way record_in and range_parse_bound read
// them: a backslash takes the next character as is; a double quote opens or closes quoting, and
// inside quotes "" is one quote. Returns false at the end of the text. `pos` moves past what was
// read; `quoted` tracks the state.
bool read_quoted_char(std::string_view text, std::size_t& pos, bool& quoted, std::string& value) {
  if (pos >= text.size()) return false;
  const char c = text[pos++];
  if (c == '\\') {
    if (pos >= text.size()) return false;
    value += text[pos++];
  } else if (c == '"') {
    if (!quoted) {
      quoted = true;
    } else if (pos < text.size() && text[pos] == '"') {
      value += '"';
      ++pos;
    } else {
      quoted = false;
    }
  } else {
    value += c;
  }
  return true;
}

// One field of a composite or one bound of a range, up to (not including) an unquoted character
// of `stops`. An empty field (a stop character at once) is NULL / unbounded: nullopt.
bool read_field(std::string_view text, std::size_t& pos, std::string_view stops,
                std::optional<std::string>& field) {
  field.reset();
  if (pos < text.size() && stops.find(text[pos]) != std::string_view::npos) return true;
  std::string value;
  bool quoted = false;
  while (quoted || pos >= text.size() || stops.find(text[pos]) == std::string_view::npos) {
    if (!read_quoted_char(text, pos, quoted, value)) return false;
  }
  field = std::move(value);
  return true;
}

void skip_array_space(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && is_array_space(text[pos])) ++pos;
}

// ---------------------------------------------------------------------------------------------
// Composite types: record_out's text (src/backend/utils/adt/rowtypes.c).
//
//   (f1,f2,...)   one field per attribute that is not dropped; an empty field is NULL
//   "..."         a quoted field: record_out quotes empty strings and text holding '"', '\',
//                 '(', ')', ',' or whitespace, doubling '"' and '\' inside
// Read the way record_in reads it (a backslash also escapes outside quotes).

bool split_composite(std::string_view text, std::size_t count,
                     std::vector<std::optional<std::string>>& fields) {
  std::size_t pos = 0;
  skip_array_space(text, pos);
  if (pos >= text.size() || text[pos] != '(') return false;
  ++pos;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != ',') return false;
      ++pos;
    }
    std::optional<std::string> field;
    if (!read_field(text, pos, ",)", field)) return false;
    fields.push_back(std::move(field));
  }
  if (pos >= text.size() || text[pos] != ')') return false;
  ++pos;
  skip_array_space(text, pos);
  return pos == text.size();
}

bool write_composite(JsonWriter& out, std::string_view text, const CompositeType& composite,
                     const ConverterOptions& options) {
  std::vector<std::optional<std::string>> fields;
  fields.reserve(composite.fields.size());
  if (!split_composite(text, composite.fields.size(), fields)) return write_unexpected(out, text);
  bool known = true;
  out.start_object();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const CompositeField& field = composite.fields[i];
    out.key(field.name);
    if (fields[i]) {
      known &= write_value(out, field.type, *fields[i], options);
    } else {
      out.null();
    }
  }
  out.end_object();
  return known;
}

// ---------------------------------------------------------------------------------------------
// Ranges and multiranges: range_out and multirange_out (src/backend/utils/adt/rangetypes.c,
// multirangetypes.c).
//
//   empty                    the empty range
//   [lower,upper)            '[' / ']' inclusive, '(' / ')' exclusive; a missing bound is
//                            unbounded (and then always exclusive); bounds quoted like composite
//                            fields (range_bound_escape), read like range_parse_bound
//   {[1,3),[5,7)}            a multirange: its ranges in order, none empty; {} when it has none

struct RangeText {
  bool empty = false;
  bool lower_inclusive = false;
  bool upper_inclusive = false;
  std::optional<std::string> lower;  // nullopt: unbounded
  std::optional<std::string> upper;
};

bool parse_range(std::string_view text, std::size_t& pos, RangeText& range) {
  constexpr std::string_view kEmpty = "empty";
  if (text.substr(pos, kEmpty.size()) == kEmpty) {
    pos += kEmpty.size();
    range.empty = true;
    return true;
  }
  if (pos >= text.size() || (text[pos] != '[' && text[pos] != '(')) return false;
  range.lower_inclusive = text[pos] == '[';
  ++pos;
  if (!read_field(text, pos, ",)]", range.lower)) return false;
  if (pos >= text.size() || text[pos] != ',') return false;
  ++pos;
  if (!read_field(text, pos, ",)]", range.upper)) return false;
  if (pos >= text.size() || (text[pos] != ']' && text[pos] != ')')) return false;
  range.upper_inclusive = text[pos] == ']';
  ++pos;
  return true;
}

bool write_range_object(JsonWriter& out, const RangeText& range, const ColumnType& subtype,
                        const ConverterOptions& options) {
  bool known = true;
  out.start_object();
  if (range.empty) {
    out.json_key("\"empty\"");
    out.boolean(true);
  } else {
    out.json_key("\"lower\"");
    if (range.lower) {
      known &= write_value(out, subtype, *range.lower, options);
    } else {
      out.null();
    }
    out.json_key("\"upper\"");
    if (range.upper) {
      known &= write_value(out, subtype, *range.upper, options);
    } else {
      out.null();
    }
    out.json_key("\"lower_inc\"");
    out.boolean(range.lower_inclusive);
    out.json_key("\"upper_inc\"");
    out.boolean(range.upper_inclusive);
  }
  out.end_object();
  return known;
}

bool write_range(JsonWriter& out, std::string_view text, const ColumnType& subtype,
                 const ConverterOptions& options) {
  RangeText range;
  std::size_t pos = 0;
  if (!parse_range(text, pos, range) || pos != text.size()) return write_unexpected(out, text);
  return write_range_object(out, range, subtype, options);
}

bool write_multirange(JsonWriter& out, std::string_view text, const ColumnType& subtype,
                      const ConverterOptions& options) {
  std::vector<RangeText> ranges;
  std::size_t pos = 0;
  skip_array_space(text, pos);
  bool well_formed = pos < text.size() && text[pos] == '{';
  if (well_formed) {
    ++pos;
    skip_array_space(text, pos);
    if (pos < text.size() && text[pos] == '}') {
      ++pos;
    } else {
      while (well_formed) {
        skip_array_space(text, pos);
        RangeText range;
        well_formed = parse_range(text, pos, range);
        ranges.push_back(std::move(range));
        skip_array_space(text, pos);
        if (!well_formed || pos >= text.size()) {
          well_formed = false;
        } else if (text[pos] == '}') {
          ++pos;
          break;
        } else if (text[pos] == ',') {
          ++pos;
        } else {
          well_formed = false;
        }
      }
    }
    skip_array_space(text, pos);
  }
  if (!well_formed || pos != text.size()) return write_unexpected(out, text);
  bool known = true;
  out.start_array();
  for (const RangeText& range : ranges) known &= write_range_object(out, range, subtype, options);
  out.end_array();
  return known;
}

// ---------------------------------------------------------------------------------------------
// hstore: hstore_out's text (contrib/hstore/hstore_io.c): "key"=>"value" pairs joined by ", ",
// a NULL value as an unquoted NULL, '"' and '\' escaped with a backslash inside the quotes. Read
// the way hstore_in reads it (unquoted words too). Keys are unique and hstore keeps them in its
// own order (by length, then bytes), so the JSON object is the same for equal values.

// A quoted string or a bare word ending at whitespace, ',' or '=' (of "=>"). `quoted` tells which.
bool read_hstore_word(std::string_view text, std::size_t& pos, std::string& word, bool& quoted) {
  word.clear();
  quoted = pos < text.size() && text[pos] == '"';
  if (quoted) {
    ++pos;
    while (true) {
      if (pos >= text.size()) return false;
      char c = text[pos++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos >= text.size()) return false;
        c = text[pos++];
      }
      word += c;
    }
  }
  while (pos < text.size() && !is_array_space(text[pos]) && text[pos] != ',' && text[pos] != '=') {
    char c = text[pos++];
    if (c == '\\') {
      if (pos >= text.size()) return false;
      c = text[pos++];
    }
    word += c;
  }
  return !word.empty();
}

bool write_hstore(JsonWriter& out, std::string_view text) {
  std::vector<std::pair<std::string, std::optional<std::string>>> pairs;
  std::size_t pos = 0;
  skip_array_space(text, pos);
  bool well_formed = true;
  while (well_formed && pos < text.size()) {
    std::string key, value;
    bool key_quoted = false, value_quoted = false;
    well_formed = read_hstore_word(text, pos, key, key_quoted);
    skip_array_space(text, pos);
    well_formed = well_formed && text.substr(pos, 2) == "=>";
    pos += 2;
    skip_array_space(text, pos);
    well_formed = well_formed && read_hstore_word(text, pos, value, value_quoted);
    if (!well_formed) break;
    if (!value_quoted && equals_null_ignoring_case(value)) {
      pairs.emplace_back(std::move(key), std::nullopt);
    } else {
      pairs.emplace_back(std::move(key), std::move(value));
    }
    skip_array_space(text, pos);
    if (pos < text.size()) {
      well_formed = text[pos] == ',';
      ++pos;
      skip_array_space(text, pos);
      well_formed = well_formed && pos < text.size();  // no trailing comma
    }
  }
  if (!well_formed) return write_unexpected(out, text);
  out.start_object();
  for (const auto& [key, value] : pairs) {
    out.key(key);
    if (value) {
      write_string(out, *value);
    } else {
      out.null();
    }
  }
  out.end_object();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Arrays: PostgreSQL's array text format (array_in / array_out in
// src/backend/utils/adt/arrayfuncs.c).
//
//   [lb:ub][lb:ub]=        optional dimension decoration, printed when a lower bound is not 1
//   {elem,elem,...}        one dimension; nested braces for more (at most 6)
//   "..."                  quoted element; \" and \\ escapes (array_out quotes empty strings, NULL,
//                          and text with the delimiter, braces, quotes, backslashes or whitespace)
//   NULL                   unquoted, any case: SQL NULL
// Unquoted elements may also hold backslash escapes and lose unescaped leading/trailing whitespace.

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

bool write_array(JsonWriter& out, std::string_view text, const ColumnType& element,
                 const ConverterOptions& options) {
  const char delimiter = delimiter_of(element);
  ArrayParser validator(text, delimiter, element, options, nullptr);
  if (!validator.parse()) return write_unexpected(out, text);
  ArrayParser writer(text, delimiter, element, options, &out);
  writer.parse();
  return writer.all_known() && is_known_type(element);
}

ColumnType builtin_type(std::uint32_t oid) {
  ColumnType type;
  type.oid = oid;
  return type;
}

bool write_value(JsonWriter& out, const ColumnType& type, std::string_view text,
                 const ConverterOptions& options) {
  // Built-in OIDs first: their form is fixed (int2vector is category A, yet not an array).
  if (const BuiltinType* builtin = find_by_oid(type.oid)) {
    if (builtin->format == TextFormat::kRange) {
      return write_range(out, text, builtin_type(builtin_range_subtype(type.oid)), options);
    }
    if (builtin->format == TextFormat::kMultirange) {
      return write_multirange(out, text, builtin_type(builtin_range_subtype(type.oid)), options);
    }
    return write_scalar(out, builtin->format, text, options);
  }
  switch (type.kind) {
    case ColumnType::Kind::kArray:
      if (type.element) return write_array(out, text, *type.element, options);
      break;
    case ColumnType::Kind::kRange:
      if (type.element) return write_range(out, text, *type.element, options);
      break;
    case ColumnType::Kind::kMultirange:
      if (type.element) return write_multirange(out, text, *type.element, options);
      break;
    case ColumnType::Kind::kComposite:
      if (type.composite) return write_composite(out, text, *type.composite, options);
      break;
    case ColumnType::Kind::kHstore:
      return write_hstore(out, text);
    case ColumnType::Kind::kByOid:
      break;
  }
  if (const BuiltinType* element = find_by_array_oid(type.oid)) {
    return write_array(out, text, builtin_type(element->oid), options);
  }
  if (type.element_oid != 0) {
    // An array declared by its element alone. A non-built-in element type uses ',' unless it was
    // created with a DELIMITER of its own, which only a resolved `element` (kArray) carries; such
    // an array then fails to parse and is written as a string.
    ColumnType element = builtin_type(type.element_oid);
    element.category = type.category;
    return write_array(out, text, element, options);
  }
  return write_scalar(out, format_for_category(type.category), text, options);
}

}  // namespace

ValueConverter::ValueConverter(ConverterOptions options) : options_(options) {}

bool ValueConverter::write(JsonWriter& out, const ColumnType& type, std::string_view text) const {
  return write_value(out, type, text, options_);
}

std::uint32_t builtin_array_element(std::uint32_t array_oid) {
  const BuiltinType* element = find_by_array_oid(array_oid);
  return element != nullptr ? element->oid : 0;
}

std::uint32_t builtin_range_subtype(std::uint32_t range_or_multirange_oid) {
  for (const BuiltinRange& range : kBuiltinRanges) {
    if (range.range_oid == range_or_multirange_oid ||
        range.multirange_oid == range_or_multirange_oid) {
      return range.subtype_oid;
    }
  }
  return 0;
}

}  // namespace pgcdc
