#pragma once
// PostgreSQL text representation -> JSON value.
//
// The snapshot (SELECT on a normal connection) and the stream (pgoutput in text mode) both deliver
// each column as its type's text output; this one converter turns that text into JSON, so both
// paths give byte-identical JSON (design invariant 3). It relies on these session settings, which
// both connections set: DateStyle=ISO, MDY; IntervalStyle=iso_8601; TimeZone=UTC;
// extra_float_digits=1; bytea_output=hex; client_encoding=UTF8. (pgoutput runs the output functions
// in the walsender, so the replication connection must carry them too: checked against a real
// PostgreSQL 15 by tests/integration/types_test.cpp, where a SELECT and the stream give identical
// JSON for every type below.)
//
// docs/types.md is the user's reference: every type's JSON form, an example and the options.
// In short (defaults first; the [format] options are in config/config.h, FormatConfig):
//
//   type                      text in                        JSON out
//   ------------------------  -----------------------------  ------------------------------------
//   bool                      t / f                          true / false
//   int2, int4, int8, oid,    -9223372036854775808           the integer, exactly (from_chars
//   xid, cid, xid8                                           into int64/uint64, never a double)
//   int2vector, oidvector     1 2 3                          [1,2,3]
//   float4, float8            1.5e+20, -0, 1e-300            number with PostgreSQL's own digits
//                             NaN, Infinity, -Infinity       "NaN", "Infinity", "-Infinity"
//   numeric (string)          12.50, NaN                     "12.50", "NaN" (exact string)
//   numeric (number)          12.50, NaN                     12.50 (raw digits), "NaN"
//   money                     $12.50                         "$12.50" (lc_monetary's format)
//   text, varchar, name,      x                              "x"
//   "char", bpchar, citext    "ab    " (padding kept)        "ab    "
//   uuid, xml, inet, cidr,    as printed                     the same text as a string
//   macaddr, macaddr8, bit,
//   varbit, tsvector,
//   tsquery, pg_lsn, interval
//   (ISO 8601 with iso_8601),
//   point, lseg, path, box,
//   polygon, line, circle,
//   jsonpath, tid, reg*, ...
//   json, jsonb (embedded)    {"a": [1, 2.50]}               {"a":[1,2.50]}; only whitespace is
//                                                            dropped: numbers (1e999 too) and
//                                                            strings, escapes included, stay
//                                                            byte for byte
//   json, jsonb (string)      {"a": 1}                       "{\"a\": 1}"
//   bytea (base64)            \x0a0b                         "Cgs=" (base64)
//   bytea (hex)               \x0a0b                         "0a0b"
//   date (iso)                2024-01-31, infinity           "2024-01-31", "infinity"
//                             0044-03-15 BC                  "-0043-03-15" (ISO 8601 astronomical
//                                                            year: 1 BC is 0000)
//   timestamp (iso)           2024-01-31 12:34:56.789        "2024-01-31T12:34:56.789"
//   timestamptz (iso)         2024-01-31 12:34:56.789+00     "2024-01-31T12:34:56.789Z"
//   time (iso)                12:34:56.5                     "12:34:56.5"
//   timetz (every mode)       12:34:56+02, 12:00:00+00       "12:34:56+02:00", "12:00:00+00:00"
//   date (epoch_*)            1970-01-02                     1 (days since 1970-01-01)
//   timestamp[tz], time       1970-01-01 00:00:01+00         1000000 (micros) or 1000 (millis,
//   (epoch_micros/millis)                                    rounded down); infinity stays a string
//   arrays of any type        {{1,NULL},{3,4}}, {}           [[1,null],[3,4]], []
//                             [2:3]={1,2}                    [1,2]: lower bounds are dropped
//                             {"a,b","c\\d"}                 ["a,b","c\\d"]; elements converted
//                                                            by their own type; box uses ';'
//   ranges                    [1,5), (,"2024-01-01")         {"lower":1,"upper":5,"lower_inc":true,
//                                                            "upper_inc":false}; an unbounded side
//                                                            is null; bounds converted by the
//                                                            subtype; empty -> {"empty":true}
//   multiranges               {[1,3),[5,7)}                  [{range},{range}]
//   composite types           (1,"a b",)                     {"f1":1,"f2":"a b","f3":null}, by
//                                                            the attributes' own types, nested
//   hstore                    "a"=>"1", "b"=>NULL            {"a":"1","b":null}
//   enums (category 'E'),     as printed                     string
//   other category 'S' types
//   domains                   as their base type             as their base type
//   anything else             as printed                     string, and write() returns false
//
// Where the text is not what the type's output function prints (it cannot happen with the settings
// above, but the converter does not trust it), the text is written as a JSON string and write()
// returns false, so the caller counts it like an unknown type. A value is never invented.
//
// Years beyond 9999 stay as PostgreSQL prints them ("10000-01-01"); offsets with seconds (local
// mean time, "+05:53:28", impossible with TimeZone=UTC) stay as printed.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "connector/json_writer.h"

namespace pgcdc {

// The converter's options are the user's [format] choices: one definition, nothing to map.
using ConverterOptions = FormatConfig;

struct CompositeType;

// How a column's values are written; resolved once per column from the type OID and, for types
// without a fixed OID, from catalog facts (TypeCache in connector/catalog.h fills those in).
//
// Resolution order: a built-in type OID decides alone (the other fields are then ignored, so
// passing pg_type.typelem is harmless for name, point, int2vector, ...); then `kind`, when it is
// not kByOid and its facts are present; then a built-in array OID (its element is known);
// then element_oid != 0 declares an array of that element (for arrays of non-built-in types such
// as citext[] or an enum array); then category 'S' or 'E' means a string. For such an array,
// `category` should be the element type's typcategory ('A', the array's own, is accepted and then
// tells nothing about the elements). Pass a domain's base type.
struct ColumnType {
  enum class Kind : std::uint8_t {
    kByOid,       // decided by oid / element_oid / category (built-in types, strings, enums)
    kArray,       // `element` describes the elements, whatever their kind
    kRange,       // `element` is the range's subtype
    kMultirange,  // `element` is the subtype of its ranges
    kComposite,   // `composite` lists the attributes
    kHstore,      // the hstore extension's type (no fixed OID)
  };

  std::uint32_t oid = 0;
  std::uint32_t element_oid = 0;  // for arrays: element type (0 if not an array)
  char category = 0;              // pg_type.typcategory when known, else 0
  Kind kind = Kind::kByOid;
  char delimiter = ',';  // pg_type.typdelim: separates values of this type in an array's text
  std::shared_ptr<const ColumnType> element = nullptr;       // kArray, kRange, kMultirange
  std::shared_ptr<const CompositeType> composite = nullptr;  // kComposite
};

struct CompositeField {
  std::string name;
  ColumnType type;
};

// A composite type's attributes in attribute order, dropped ones left out (as record_out does).
struct CompositeType {
  std::vector<CompositeField> fields;
};

// Stateless after construction: one instance may be shared by threads.
class ValueConverter {
 public:
  explicit ValueConverter(ConverterOptions options = {});

  // Writes the JSON value of `text` (never null here; the caller writes null for SQL NULL). Always
  // writes exactly one JSON value.
  // Returns false when the type (or a type inside it: an array's elements, a composite's
  // attributes) is not one it knows specifically, or the text is not what the type's output
  // function prints; it then wrote that part as a JSON string, so the caller can count it.
  bool write(JsonWriter& out, const ColumnType& type, std::string_view text) const;

  const ConverterOptions& options() const { return options_; }

 private:
  ConverterOptions options_;
};

// Built-in array OID -> element OID (e.g. 1007 -> 23), 0 if not a built-in array type.
std::uint32_t builtin_array_element(std::uint32_t array_oid);

// Built-in range or multirange OID -> its subtype OID (e.g. 3904 -> 23, 4451 -> 23), else 0.
std::uint32_t builtin_range_subtype(std::uint32_t range_or_multirange_oid);

}  // namespace pgcdc
