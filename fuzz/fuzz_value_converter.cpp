// libFuzzer harness: ValueConverter::write (connector/value_converter.h), PostgreSQL text -> JSON.
//
// The converter's contract: for any text and any column type it writes exactly one JSON value and
// never reads outside the text. Checked here: the writer is complete after the call and its output
// is one JSON value (RFC 8259 grammar, checked by JsonChecker below: RapidJSON's reader refuses
// numbers beyond a double, such as 1e999, which the converter rightly keeps as PostgreSQL printed
// them). AddressSanitizer and UndefinedBehaviorSanitizer watch the parsing code.
//
// Input: byte 0 picks the column type from kinds() below (modulo its size), byte 1 the options
// (bit 0 numeric as number, bit 1 bytea as hex, bits 2-3 temporal: iso, epoch_micros,
// epoch_millis, bit 4 json as string); the rest is the value's text. The seed corpus
// (fuzz/corpus/value_converter) was written for this layout: if the table changes, seeds still
// work, they only exercise other types until regenerated.

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connector/pg_types.h"
#include "connector/value_converter.h"

namespace {

using pgcdc::ColumnType;
using pgcdc::CompositeType;
using Kind = ColumnType::Kind;
namespace t = pgcdc::pg_type;

ColumnType by_oid(std::uint32_t oid) {
  ColumnType type;
  type.oid = oid;
  return type;
}

ColumnType with_element(Kind kind, ColumnType element, std::uint32_t oid = 900000) {
  ColumnType type;
  type.oid = oid;
  type.kind = kind;
  type.element = std::make_shared<const ColumnType>(std::move(element));
  return type;
}

// Every type the converter knows: each OID of connector/pg_types.h (scalars, arrays, ranges,
// multiranges), then the types without a fixed OID that the catalog describes to it.
std::vector<ColumnType> make_kinds() {
  // clang-format off
  static constexpr std::uint32_t kOids[] = {
    t::kBool, t::kBytea, t::kChar, t::kName, t::kInt8, t::kInt2, t::kInt2Vector, t::kInt4,
    t::kRegproc, t::kText, t::kOid, t::kTid, t::kXid, t::kCid, t::kOidVector, t::kJson, t::kXml,
    t::kPoint, t::kLseg, t::kPath, t::kBox, t::kPolygon, t::kLine, t::kCidr, t::kFloat4,
    t::kFloat8, t::kCircle, t::kMacaddr8, t::kMoney, t::kMacaddr, t::kInet, t::kAclitem,
    t::kBpchar, t::kVarchar, t::kDate, t::kTime, t::kTimestamp, t::kTimestampTz, t::kInterval,
    t::kTimeTz, t::kBit, t::kVarbit, t::kNumeric, t::kRefcursor, t::kRegprocedure, t::kRegoper,
    t::kRegoperator, t::kRegclass, t::kRegtype, t::kRecord, t::kCstring, t::kUuid,
    t::kTxidSnapshot, t::kPgLsn, t::kTsvector, t::kTsquery, t::kGtsvector, t::kRegconfig,
    t::kRegdictionary, t::kJsonb, t::kInt4Range, t::kNumRange, t::kTsRange, t::kTstzRange,
    t::kDateRange, t::kInt8Range, t::kJsonpath, t::kRegnamespace, t::kRegrole, t::kRegcollation,
    t::kInt4Multirange, t::kNumMultirange, t::kTsMultirange, t::kTstzMultirange,
    t::kDateMultirange, t::kInt8Multirange, t::kPgSnapshot, t::kXid8, t::kXid8Array, t::kXmlArray,
    t::kJsonArray, t::kLineArray, t::kCidrArray, t::kCircleArray, t::kMacaddr8Array,
    t::kMoneyArray, t::kBoolArray, t::kByteaArray, t::kCharArray, t::kNameArray, t::kInt2Array,
    t::kInt2VectorArray, t::kInt4Array, t::kRegprocArray, t::kTextArray, t::kTidArray,
    t::kXidArray, t::kCidArray, t::kOidVectorArray, t::kBpcharArray, t::kVarcharArray,
    t::kInt8Array, t::kPointArray, t::kLsegArray, t::kPathArray, t::kBoxArray, t::kFloat4Array,
    t::kFloat8Array, t::kPolygonArray, t::kOidArray, t::kAclitemArray, t::kMacaddrArray,
    t::kInetArray, t::kTimestampArray, t::kDateArray, t::kTimeArray, t::kTimestampTzArray,
    t::kIntervalArray, t::kNumericArray, t::kCstringArray, t::kTimeTzArray, t::kBitArray,
    t::kVarbitArray, t::kRefcursorArray, t::kRegprocedureArray, t::kRegoperArray,
    t::kRegoperatorArray, t::kRegclassArray, t::kRegtypeArray, t::kRecordArray,
    t::kTxidSnapshotArray, t::kUuidArray, t::kPgLsnArray, t::kTsvectorArray, t::kGtsvectorArray,
    t::kTsqueryArray, t::kRegconfigArray, t::kRegdictionaryArray, t::kJsonbArray,
    t::kInt4RangeArray, t::kNumRangeArray, t::kTsRangeArray, t::kTstzRangeArray,
    t::kDateRangeArray, t::kInt8RangeArray, t::kJsonpathArray, t::kRegnamespaceArray,
    t::kRegroleArray, t::kRegcollationArray, t::kPgSnapshotArray, t::kInt4MultirangeArray,
    t::kNumMultirangeArray, t::kTsMultirangeArray, t::kTstzMultirangeArray,
    t::kDateMultirangeArray, t::kInt8MultirangeArray,
  };
  // clang-format on

  std::vector<ColumnType> kinds;
  for (std::uint32_t oid : kOids) kinds.push_back(by_oid(oid));

  // Unknown OIDs judged by category: citext-like strings, enums, something unknown.
  for (char category : {'S', 'E', 'U', '\0'}) {
    ColumnType type = by_oid(900001);
    type.category = category;
    kinds.push_back(type);
  }
  // Arrays declared by element_oid: of a built-in element, of an enum, of an unknown type.
  ColumnType array_of_int = by_oid(900002);
  array_of_int.element_oid = t::kInt4;
  array_of_int.category = 'A';
  kinds.push_back(array_of_int);
  ColumnType array_of_enum = by_oid(900003);
  array_of_enum.element_oid = 900004;
  array_of_enum.category = 'E';
  kinds.push_back(array_of_enum);
  ColumnType array_of_unknown = by_oid(900005);
  array_of_unknown.element_oid = 900006;
  kinds.push_back(array_of_unknown);

  // Explicit kinds, as TypeCache builds them for extension and user types.
  ColumnType hstore;
  hstore.oid = 900007;
  hstore.kind = Kind::kHstore;
  kinds.push_back(hstore);

  auto composite = std::make_shared<CompositeType>();
  composite->fields = {{"a", by_oid(t::kInt4)},           {"b c", by_oid(t::kText)},
                       {"doc", by_oid(t::kJsonb)},        {"arr", by_oid(t::kInt4Array)},
                       {"when", by_oid(t::kTimestampTz)}, {"store", hstore}};
  ColumnType composite_type;
  composite_type.oid = 900008;
  composite_type.kind = Kind::kComposite;
  composite_type.composite = composite;
  kinds.push_back(composite_type);

  auto nested = std::make_shared<CompositeType>();
  nested->fields = {{"inner", composite_type}, {"b", by_oid(t::kBox)}, {"n", by_oid(t::kNumeric)}};
  ColumnType nested_type;
  nested_type.oid = 900009;
  nested_type.kind = Kind::kComposite;
  nested_type.composite = nested;
  kinds.push_back(nested_type);

  for (std::uint32_t subtype :
       {t::kInt4, t::kInt8, t::kNumeric, t::kDate, t::kTimestamp, t::kTimestampTz, t::kText}) {
    kinds.push_back(with_element(Kind::kRange, by_oid(subtype)));
    kinds.push_back(with_element(Kind::kMultirange, by_oid(subtype)));
  }
  kinds.push_back(with_element(Kind::kArray, composite_type));
  kinds.push_back(with_element(Kind::kArray, hstore));
  kinds.push_back(with_element(Kind::kArray, with_element(Kind::kRange, by_oid(t::kDate))));
  ColumnType semicolon = by_oid(900010);
  semicolon.category = 'S';
  semicolon.delimiter = ';';
  kinds.push_back(with_element(Kind::kArray, semicolon));
  return kinds;
}

// Built once: the harness is a test program, the table is constant.
const std::vector<ColumnType>& kinds() {
  static const std::vector<ColumnType> table = make_kinds();
  return table;
}

// RFC 8259 syntax check of one complete JSON text (no depth limit, no UTF-8 validation: the
// converter passes PostgreSQL's UTF-8 through).
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : text_(text) {}

  // Position of the first error, or npos when `text` is exactly one JSON value.
  std::size_t check() {
    skip_space();
    if (!value()) return pos_;
    skip_space();
    return pos_ == text_.size() ? std::string_view::npos : pos_;
  }

 private:
  bool value() {
    if (pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }
  bool object() {
    ++pos_;
    skip_space();
    if (eat('}')) return true;
    do {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"' || !string()) return false;
      skip_space();
      if (!eat(':')) return false;
      skip_space();
      if (!value()) return false;
      skip_space();
    } while (eat(','));
    return eat('}');
  }
  bool array() {
    ++pos_;
    skip_space();
    if (eat(']')) return true;
    do {
      skip_space();
      if (!value()) return false;
      skip_space();
    } while (eat(','));
    return eat(']');
  }
  bool string() {
    ++pos_;
    while (pos_ < text_.size()) {
      unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (pos_ >= text_.size()) return false;
      char e = text_[pos_++];
      if (e == 'u') {
        for (int i = 0; i < 4; ++i) {
          if (pos_ >= text_.size() || !std::isxdigit(static_cast<unsigned char>(text_[pos_]))) {
            return false;
          }
          ++pos_;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }
  bool number() {
    eat('-');
    if (!eat('0') && !digits()) return false;  // no leading zeros: "01" stops after the 0
    if (eat('.') && !digits()) return false;
    if (eat('e') || eat('E')) {
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    return true;
  }
  bool digits() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

pgcdc::ConverterOptions options_from(std::uint8_t bits) {
  pgcdc::ConverterOptions options;
  using F = pgcdc::FormatConfig;
  options.numeric = (bits & 1) ? F::Numeric::kNumber : F::Numeric::kString;
  options.bytea = (bits & 2) ? F::Bytea::kHex : F::Bytea::kBase64;
  switch ((bits >> 2) & 3) {
    case 1:
      options.temporal = F::Temporal::kEpochMicros;
      break;
    case 2:
      options.temporal = F::Temporal::kEpochMillis;
      break;
    default:
      options.temporal = F::Temporal::kIso;
      break;
  }
  options.json = (bits & 16) ? F::Json::kString : F::Json::kEmbedded;
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const ColumnType& type = kinds()[data[0] % kinds().size()];
  const pgcdc::ValueConverter converter(options_from(data[1]));
  std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  pgcdc::JsonWriter writer;
  converter.write(writer, type, text);
  std::string_view json = writer.view();
  std::size_t error = JsonChecker(json).check();
  if (error != std::string_view::npos) {
    std::fprintf(stderr, "type #%u: output is not one JSON value (error at byte %zu): %.*s\n",
                 data[0], error, static_cast<int>(json.size()), json.data());
    std::abort();
  }
  return 0;
}
