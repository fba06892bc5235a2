#pragma once
// PostgreSQL text representation -> JSON value.
//
// The snapshot (SELECT on a normal connection) and the stream (pgoutput in text mode) both deliver
// each column as its type's text output; this one converter turns that text into JSON, so both
// paths give byte-identical JSON (design invariant 3). It relies on these session settings, which
// both connections set: DateStyle=ISO, MDY; IntervalStyle=iso_8601; TimeZone=UTC;
// extra_float_digits=1; bytea_output=hex; client_encoding=UTF8. (pgoutput runs the output functions
// in the walsender, so the replication connection must carry them too: checked against a real
// PostgreSQL 15, a SELECT and the stream then give identical JSON for every type in this table.)
//
// Mapping (the table kBuiltinTypes in value_converter.cpp; add a row there to extend it):
//
//   type                      text in                        JSON out
//   ------------------------  -----------------------------  ------------------------------------
//   bool                      t / f                          true / false
//   int2, int4, int8, oid,    -9223372036854775808           the integer, exactly (from_chars
//   xid, cid, xid8                                           into int64/uint64, never a double)
//   float4, float8            1.5e+20, -0, 1e-300            number with PostgreSQL's own digits
//                             NaN, Infinity, -Infinity       "NaN", "Infinity", "-Infinity"
//   numeric (default)         12.50, NaN                     "12.50", "NaN" (exact string)
//   numeric (kNumber)         12.50, NaN                     12.50 (raw digits), "NaN"
//   money                     $12.50                         "$12.50"
//   text, varchar, name,      x                              "x"
//   "char", bpchar            "ab    " (padding kept)        "ab    "
//   uuid, xml, inet, cidr,    as printed                     the same text as a string
//   macaddr, macaddr8, bit,
//   varbit, tsvector,
//   tsquery, pg_lsn, time,
//   interval (ISO 8601 with
//   iso_8601), point, lseg,
//   path, box, polygon,
//   line, circle
//   json, jsonb (default)     {"a": [1, 2.50]}               {"a":[1,2.50]} embedded; only
//                                                            whitespace is dropped: numbers (1e999
//                                                            too) and strings, escapes included,
//                                                            stay byte for byte
//   json, jsonb (kString)     {"a": 1}                       "{\"a\": 1}"
//   bytea (default)           \x0a0b                         "Cgs=" (base64)
//   bytea (kHex)              \x0a0b                         "0a0b"
//   date                      2024-01-31, infinity           "2024-01-31", "infinity"
//                             0044-03-15 BC                  "-0043-03-15" (ISO 8601 astronomical
//                                                            year: 1 BC is 0000)
//   timestamp                 2024-01-31 12:34:56.789        "2024-01-31T12:34:56.789"
//   timestamptz               2024-01-31 12:34:56.789+00     "2024-01-31T12:34:56.789Z"
//                             ...+05:30 / ...-05             "...+05:30" / "...-05:00" (cannot
//                                                            happen with TimeZone=UTC)
//   timetz                    12:34:56+02, 12:00:00+00       "12:34:56+02:00", "12:00:00+00:00"
//   arrays of any type        {{1,NULL},{3,4}}, {}           [[1,null],[3,4]], []
//   (built-in or declared     [2:3]={1,2}                    [1,2]: lower bounds are dropped
//   via element_oid)          {"a,b","c\\d"}                 ["a,b","c\\d"]; elements converted
//                                                            by their own type; box uses ';'
//   citext etc. (category     as printed                     string (counts as known)
//   'S'), enums ('E')
//   anything else (ranges,    as printed                     string, and write() returns false
//   reg*, tid, hstore, ...)
//
// Where the text is not what the type's output function prints (it cannot happen with the settings
// above, but the converter does not trust it), the text is written as a JSON string and write()
// returns false, so the caller counts it like an unknown type. A value is never invented.
//
// Years beyond 9999 stay as PostgreSQL prints them ("10000-01-01"); offsets with seconds (local
// mean time, "+05:53:28", impossible with TimeZone=UTC) stay as printed.
#include <cstdint>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pgcdc {

struct ConverterOptions {
  enum class Numeric { kString, kNumber } numeric = Numeric::kString;
  enum class Bytea { kBase64, kHex } bytea = Bytea::kBase64;
  enum class Json { kEmbedded, kString } json = Json::kEmbedded;
};

// How a column's values are written; resolved once per column from the type OID (and, for types
// not built in, from catalog facts the caller supplies).
//
// Resolution order: a built-in type OID decides alone (element_oid and category are then ignored,
// so passing pg_type.typelem is harmless for name, point, int2vector, ...); then a built-in array
// OID (its element is known); then element_oid != 0 declares an array of that element (for arrays
// of non-built-in types such as citext[] or an enum array); then category 'S' or 'E' means a
// string. For such an array, `category` should be the element type's typcategory ('A', the
// array's own, is accepted and then tells nothing about the elements). Pass a domain's base type.
struct ColumnType {
  std::uint32_t oid = 0;
  std::uint32_t element_oid = 0;  // for arrays: element type (0 if not an array)
  char category = 0;              // pg_type.typcategory when known, else 0
};

// Stateless after construction: one instance may be shared by threads.
class ValueConverter {
 public:
  explicit ValueConverter(ConverterOptions options = {});

  // Writes the JSON value of `text` (never null here; the caller writes null for SQL NULL) using a
  // rapidjson::Writer<rapidjson::StringBuffer>. Always writes exactly one JSON value.
  // Returns false when the type is not one it knows specifically (then it wrote the text as a JSON
  // string) so the caller can count unknown types.
  bool write(rapidjson::Writer<rapidjson::StringBuffer>& out, const ColumnType& type,
             std::string_view text) const;

 private:
  ConverterOptions options_;
};

// Built-in array OID -> element OID (e.g. 1007 -> 23), 0 if not a built-in array type.
std::uint32_t builtin_array_element(std::uint32_t array_oid);

}  // namespace pgcdc
