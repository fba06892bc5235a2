// Which grammar a column's values take, and the converter's entry point. The built-in type table
// lives here, with the dispatch that reads it: write_value picks a grammar by OID, then by the
// catalog facts of ColumnType, and the grammars themselves live in one file each
// (value_converter_internal.h lists them).
#include "connector/value_converter.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "connector/pg_types.h"
#include "connector/value_converter_internal.h"

namespace pgcdc {
namespace converter_detail {
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

}  // namespace

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

char delimiter_of(const ColumnType& element) {
  if (const BuiltinType* builtin = find_by_oid(element.oid)) return builtin->delimiter;
  return element.delimiter;
}

namespace {

ColumnType builtin_type(std::uint32_t oid) {
  ColumnType type;
  type.oid = oid;
  return type;
}

}  // namespace

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

}  // namespace converter_detail

ValueConverter::ValueConverter(ConverterOptions options) : options_(options) {}

bool ValueConverter::write(JsonWriter& out, const ColumnType& type, std::string_view text) const {
  return converter_detail::write_value(out, type, text, options_);
}

std::uint32_t builtin_array_element(std::uint32_t array_oid) {
  const converter_detail::BuiltinType* element = converter_detail::find_by_array_oid(array_oid);
  return element != nullptr ? element->oid : 0;
}

std::uint32_t builtin_range_subtype(std::uint32_t range_or_multirange_oid) {
  for (const converter_detail::BuiltinRange& range : converter_detail::kBuiltinRanges) {
    if (range.range_oid == range_or_multirange_oid ||
        range.multirange_oid == range_or_multirange_oid) {
      return range.subtype_oid;
    }
  }
  return 0;
}

}  // namespace pgcdc
