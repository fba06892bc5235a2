#include "connector/value_converter.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <string>

#include "connector/pg_types.h"

namespace pgcdc {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// How a type's text output becomes JSON.
enum class TextFormat : std::uint8_t {
  kUnknown,      // not handled specifically: string, and write() returns false
  kString,       // the text as a JSON string
  kBool,         // t / f
  kInteger,      // exact signed or unsigned 64-bit integer
  kFloat,        // raw number; NaN / Infinity / -Infinity as strings
  kNumeric,      // string, or raw number with Numeric::kNumber
  kJson,         // embedded JSON, or string with Json::kString
  kBytea,        // \x hex -> base64 or bare hex
  kDate,         // BC -> astronomical year
  kTimestamp,    // space -> 'T', BC -> astronomical year
  kTimestampTz,  // as kTimestamp, +00 -> Z, +HH -> +HH:00
  kTimeTz,       // +HH -> +HH:00
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
// them.
constexpr BuiltinType kBuiltinTypes[] = {
    {t::kBool, t::kBoolArray, TextFormat::kBool, ','},
    {t::kBytea, t::kByteaArray, TextFormat::kBytea, ','},
    {t::kChar, t::kCharArray, TextFormat::kString, ','},
    {t::kName, t::kNameArray, TextFormat::kString, ','},
    {t::kInt8, t::kInt8Array, TextFormat::kInteger, ','},
    {t::kInt2, t::kInt2Array, TextFormat::kInteger, ','},
    {t::kInt2Vector, t::kInt2VectorArray, TextFormat::kUnknown, ','},
    {t::kInt4, t::kInt4Array, TextFormat::kInteger, ','},
    {t::kRegproc, t::kRegprocArray, TextFormat::kUnknown, ','},
    {t::kText, t::kTextArray, TextFormat::kString, ','},
    {t::kOid, t::kOidArray, TextFormat::kInteger, ','},
    {t::kTid, t::kTidArray, TextFormat::kUnknown, ','},
    {t::kXid, t::kXidArray, TextFormat::kInteger, ','},
    {t::kCid, t::kCidArray, TextFormat::kInteger, ','},
    {t::kOidVector, t::kOidVectorArray, TextFormat::kUnknown, ','},
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
    {t::kAclitem, t::kAclitemArray, TextFormat::kUnknown, ','},
    {t::kBpchar, t::kBpcharArray, TextFormat::kString, ','},
    {t::kVarchar, t::kVarcharArray, TextFormat::kString, ','},
    {t::kDate, t::kDateArray, TextFormat::kDate, ','},
    {t::kTime, t::kTimeArray, TextFormat::kString, ','},
    {t::kTimestamp, t::kTimestampArray, TextFormat::kTimestamp, ','},
    {t::kTimestampTz, t::kTimestampTzArray, TextFormat::kTimestampTz, ','},
    {t::kInterval, t::kIntervalArray, TextFormat::kString, ','},  // ISO 8601 with iso_8601 style
    {t::kTimeTz, t::kTimeTzArray, TextFormat::kTimeTz, ','},
    {t::kBit, t::kBitArray, TextFormat::kString, ','},
    {t::kVarbit, t::kVarbitArray, TextFormat::kString, ','},
    {t::kNumeric, t::kNumericArray, TextFormat::kNumeric, ','},
    {t::kRefcursor, t::kRefcursorArray, TextFormat::kUnknown, ','},
    {t::kRegprocedure, t::kRegprocedureArray, TextFormat::kUnknown, ','},
    {t::kRegoper, t::kRegoperArray, TextFormat::kUnknown, ','},
    {t::kRegoperator, t::kRegoperatorArray, TextFormat::kUnknown, ','},
    {t::kRegclass, t::kRegclassArray, TextFormat::kUnknown, ','},
    {t::kRegtype, t::kRegtypeArray, TextFormat::kUnknown, ','},
    {t::kRecord, t::kRecordArray, TextFormat::kUnknown, ','},
    {t::kCstring, t::kCstringArray, TextFormat::kUnknown, ','},
    {t::kUuid, t::kUuidArray, TextFormat::kString, ','},
    {t::kTxidSnapshot, t::kTxidSnapshotArray, TextFormat::kUnknown, ','},
    {t::kPgLsn, t::kPgLsnArray, TextFormat::kString, ','},
    {t::kTsvector, t::kTsvectorArray, TextFormat::kString, ','},
    {t::kTsquery, t::kTsqueryArray, TextFormat::kString, ','},
    {t::kGtsvector, t::kGtsvectorArray, TextFormat::kUnknown, ','},
    {t::kRegconfig, t::kRegconfigArray, TextFormat::kUnknown, ','},
    {t::kRegdictionary, t::kRegdictionaryArray, TextFormat::kUnknown, ','},
    {t::kJsonb, t::kJsonbArray, TextFormat::kJson, ','},
    {t::kInt4Range, t::kInt4RangeArray, TextFormat::kUnknown, ','},
    {t::kNumRange, t::kNumRangeArray, TextFormat::kUnknown, ','},
    {t::kTsRange, t::kTsRangeArray, TextFormat::kUnknown, ','},
    {t::kTstzRange, t::kTstzRangeArray, TextFormat::kUnknown, ','},
    {t::kDateRange, t::kDateRangeArray, TextFormat::kUnknown, ','},
    {t::kInt8Range, t::kInt8RangeArray, TextFormat::kUnknown, ','},
    {t::kJsonpath, t::kJsonpathArray, TextFormat::kUnknown, ','},
    {t::kRegnamespace, t::kRegnamespaceArray, TextFormat::kUnknown, ','},
    {t::kRegrole, t::kRegroleArray, TextFormat::kUnknown, ','},
    {t::kRegcollation, t::kRegcollationArray, TextFormat::kUnknown, ','},
    {t::kInt4Multirange, t::kInt4MultirangeArray, TextFormat::kUnknown, ','},
    {t::kNumMultirange, t::kNumMultirangeArray, TextFormat::kUnknown, ','},
    {t::kTsMultirange, t::kTsMultirangeArray, TextFormat::kUnknown, ','},
    {t::kTstzMultirange, t::kTstzMultirangeArray, TextFormat::kUnknown, ','},
    {t::kDateMultirange, t::kDateMultirangeArray, TextFormat::kUnknown, ','},
    {t::kInt8Multirange, t::kInt8MultirangeArray, TextFormat::kUnknown, ','},
    {t::kPgSnapshot, t::kPgSnapshotArray, TextFormat::kUnknown, ','},
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

const BuiltinType* find_by_oid(std::uint32_t oid) {
  const auto* it =
      std::lower_bound(std::begin(kBuiltinTypes), std::end(kBuiltinTypes), oid,
                       [](const BuiltinType& row, std::uint32_t key) { return row.oid < key; });
  return (it != std::end(kBuiltinTypes) && it->oid == oid) ? it : nullptr;
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
  out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// Writer::RawNumber of RapidJSON 1.1.0 quotes its argument (it writes a string), so raw numbers go
// through RawValue. The caller has validated `text` with is_json_number.
void write_raw_number(JsonWriter& out, std::string_view text) {
  out.RawValue(text.data(), text.size(), rapidjson::kNumberType);
}

bool write_unexpected(JsonWriter& out, std::string_view text) {
  write_string(out, text);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Scalars.

bool write_bool(JsonWriter& out, std::string_view text) {
  if (text != "t" && text != "f") return write_unexpected(out, text);
  out.Bool(text == "t");
  return true;
}

bool write_integer(JsonWriter& out, std::string_view text) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  std::int64_t signed_value = 0;
  auto [end, error] = std::from_chars(first, last, signed_value);
  if (error == std::errc() && end == last) {
    out.Int64(signed_value);
    return true;
  }
  std::uint64_t unsigned_value = 0;  // xid8 and values above INT64_MAX
  auto [uend, uerror] = std::from_chars(first, last, unsigned_value);
  if (uerror == std::errc() && uend == last) {
    out.Uint64(unsigned_value);
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
  bool run(std::string& out, rapidjson::Type& root_type) {
    skip_space();
    if (at_end()) return false;
    root_type = type_of(text_[pos_]);
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
  static rapidjson::Type type_of(char first) {
    switch (first) {
      case '{':
        return rapidjson::kObjectType;
      case '[':
        return rapidjson::kArrayType;
      case '"':
        return rapidjson::kStringType;
      case 't':
        return rapidjson::kTrueType;
      case 'f':
        return rapidjson::kFalseType;
      case 'n':
        return rapidjson::kNullType;
      default:
        return rapidjson::kNumberType;
    }
  }

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
  rapidjson::Type root_type = rapidjson::kNullType;
  if (!JsonCompactor(text).run(compact, root_type)) return write_unexpected(out, text);
  out.RawValue(compact.data(), compact.size(), root_type);
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
  if (!std::all_of(year.begin(), year.end(), is_digit)) return false;
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
    if (time.find_first_of("+-") != std::string_view::npos) return false;
    return out.append(time);
  }
  const std::size_t sign = time.find_first_of("+-");
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

// timestamp, timestamptz and timetz; `date_part` is false for timetz.
bool write_date_time(JsonWriter& out, std::string_view text, bool date_part, bool with_offset) {
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

bool write_scalar(JsonWriter& out, TextFormat format, std::string_view text,
                  const ConverterOptions& options) {
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
      return write_date(out, text);
    case TextFormat::kTimestamp:
      return write_date_time(out, text, /*date_part=*/true, /*with_offset=*/false);
    case TextFormat::kTimestampTz:
      return write_date_time(out, text, /*date_part=*/true, /*with_offset=*/true);
    case TextFormat::kTimeTz:
      return write_date_time(out, text, /*date_part=*/false, /*with_offset=*/true);
    case TextFormat::kUnknown:
      break;
  }
  return write_unexpected(out, text);
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

// Recursive-descent parser. Run once with `out == nullptr` to validate, then again to write, so a
// malformed array leaves nothing half-written.
class ArrayParser {
 public:
  ArrayParser(std::string_view text, char delimiter, TextFormat element_format,
              const ConverterOptions& options, JsonWriter* out)
      : text_(text),
        delimiter_(delimiter),
        element_format_(element_format),
        options_(options),
        out_(out) {}

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
    if (out_ != nullptr) out_->StartArray();
    skip_space();
    if (peek() == '}') {
      ++pos_;
      if (out_ != nullptr) out_->EndArray();
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
        if (out_ != nullptr) out_->EndArray();
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
        out_->Null();
      } else {
        emit(raw, escaped);
      }
    }
    return true;
  }

  void emit(std::string_view raw, bool escaped) {
    if (!escaped) {
      all_known_ &= write_scalar(*out_, element_format_, raw, options_);
      return;
    }
    std::string unescaped;
    unescaped.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
      unescaped += raw[i];
    }
    all_known_ &= write_scalar(*out_, element_format_, unescaped, options_);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  char delimiter_;
  TextFormat element_format_;
  const ConverterOptions& options_;
  JsonWriter* out_;
  bool all_known_ = true;
};

bool write_array(JsonWriter& out, std::string_view text, TextFormat element_format, char delimiter,
                 const ConverterOptions& options) {
  ArrayParser validator(text, delimiter, element_format, options, nullptr);
  if (!validator.parse()) return write_unexpected(out, text);
  ArrayParser writer(text, delimiter, element_format, options, &out);
  writer.parse();
  return writer.all_known() && element_format != TextFormat::kUnknown;
}

}  // namespace

ValueConverter::ValueConverter(ConverterOptions options) : options_(options) {}

bool ValueConverter::write(JsonWriter& out, const ColumnType& type, std::string_view text) const {
  if (const BuiltinType* builtin = find_by_oid(type.oid)) {
    return write_scalar(out, builtin->format, text, options_);
  }
  if (const BuiltinType* element = find_by_array_oid(type.oid)) {
    return write_array(out, text, element->format, element->delimiter, options_);
  }
  if (type.element_oid != 0) {
    if (const BuiltinType* element = find_by_oid(type.element_oid)) {
      return write_array(out, text, element->format, element->delimiter, options_);
    }
    // Every non-built-in element type uses ',' unless created with a DELIMITER of its own, which
    // the caller does not pass; such an array then fails to parse and is written as a string.
    return write_array(out, text, format_for_category(type.category), ',', options_);
  }
  return write_scalar(out, format_for_category(type.category), text, options_);
}

std::uint32_t builtin_array_element(std::uint32_t array_oid) {
  const BuiltinType* element = find_by_array_oid(array_oid);
  return element != nullptr ? element->oid : 0;
}

}  // namespace pgcdc
