#pragma once
// The value converter's grammars and the small text helpers they share. Internal to connector/:
// the interface is connector/value_converter.h. One file per grammar, so each of PostgreSQL's text
// formats can be read beside the output function it mirrors:
//   value_converter.cpp   which grammar a type takes (the built-in type table) and write_value
//   value_scalars.cpp     bool, integers, floats, numeric, bytea, int2vector / oidvector
//   value_json.cpp        json / jsonb, compacted
//   value_temporal.cpp    dates and times, as ISO 8601 or as epoch integers
//   value_array.cpp       arrays
//   value_range.cpp       ranges and multiranges
//   value_composite.cpp   composite types
//   value_hstore.cpp      hstore
// Every writer writes exactly one JSON value and returns false when the type or the text is not
// one it knows (see ValueConverter::write). The containers (arrays, ranges, composites) call
// write_value for the values they hold.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "connector/json_writer.h"
#include "connector/value_converter.h"

namespace pgcdc::converter_detail {

// ---- Text helpers shared by the grammars. Inline: they run once per character or per value.

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A loop, not std::all_of(..., is_digit): through a function pointer that was a call per character.
inline bool all_digits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The value of a hex digit, or -1.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline void write_string(JsonWriter& out, std::string_view text) {
  out.string(text);
}

// Text that is not what the type's output function prints: written as a string, and false.
inline bool write_unexpected(JsonWriter& out, std::string_view text) {
  write_string(out, text);
  return false;
}

// Whitespace as array_in, record_in and range_in see it (array_isspace, isspace in the C locale).
inline bool is_array_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

inline void skip_array_space(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && is_array_space(text[pos])) ++pos;
}

inline bool equals_null_ignoring_case(std::string_view s) {
  if (s.size() != 4) return false;
  constexpr std::string_view kNull = "null";
  for (std::size_t i = 0; i < 4; ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kNull[i]) return false;
  }
  return true;
}

// ---- Any type (value_converter.cpp).

bool write_value(JsonWriter& out, const ColumnType& type, std::string_view text,
                 const ConverterOptions& options);

// Whether values of `type` are ones the converter knows (an empty array of an unknown type still
// counts as unknown: the type is in use, its values would be strings).
bool is_known_type(const ColumnType& type);

// The character separating values of `element` in an array's text (pg_type.typdelim).
char delimiter_of(const ColumnType& element);

// ---- Scalars (value_scalars.cpp).

bool write_bool(JsonWriter& out, std::string_view text);
bool write_integer(JsonWriter& out, std::string_view text);
bool write_float(JsonWriter& out, std::string_view text);
bool write_numeric(JsonWriter& out, std::string_view text, ConverterOptions::Numeric mode);
bool write_bytea(JsonWriter& out, std::string_view text, ConverterOptions::Bytea mode);
// int2vector / oidvector: "1 2 3" (one space between), "" when empty -> [1,2,3].
bool write_integer_vector(JsonWriter& out, std::string_view text);

// ---- json and jsonb (value_json.cpp).

bool write_json(JsonWriter& out, std::string_view text, ConverterOptions::Json mode);

// ---- Dates and times (value_temporal.cpp).

bool write_date(JsonWriter& out, std::string_view text);
// timestamp, timestamptz and timetz; `date_part` is false for timetz.
bool write_date_time(JsonWriter& out, std::string_view text, bool date_part, bool with_offset);
bool write_date_epoch(JsonWriter& out, std::string_view text);
// timestamp and timestamptz ("YYYY-MM-DD HH:MM:SS[.f][+TZ][ BC]").
bool write_timestamp_epoch(JsonWriter& out, std::string_view text, bool with_offset, bool millis);
bool write_time_epoch(JsonWriter& out, std::string_view text, bool millis);

// ---- Composite types (value_composite.cpp).

// One field of a composite or one bound of a range (they are quoted alike), up to (not including)
// an unquoted character of `stops`. An empty field (a stop character at once) is NULL /
// unbounded: nullopt.
bool read_field(std::string_view text, std::size_t& pos, std::string_view stops,
                std::optional<std::string>& field);
bool write_composite(JsonWriter& out, std::string_view text, const CompositeType& composite,
                     const ConverterOptions& options);

// ---- Ranges and multiranges (value_range.cpp).

bool write_range(JsonWriter& out, std::string_view text, const ColumnType& subtype,
                 const ConverterOptions& options);
bool write_multirange(JsonWriter& out, std::string_view text, const ColumnType& subtype,
                      const ConverterOptions& options);

// ---- hstore (value_hstore.cpp).

bool write_hstore(JsonWriter& out, std::string_view text);

// ---- Arrays (value_array.cpp).

bool write_array(JsonWriter& out, std::string_view text, const ColumnType& element,
                 const ConverterOptions& options);

}  // namespace pgcdc::converter_detail
