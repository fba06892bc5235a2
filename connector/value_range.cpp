// Ranges and multiranges: range_out's and multirange_out's text (src/backend/utils/adt/
// rangetypes.c, multirangetypes.c) read into JSON objects whose bounds are converted by the
// subtype. A grammar of its own, so a file of its own; bounds are read like composite fields
// (read_field, value_composite.cpp).
//
//   empty                    the empty range
//   [lower,upper)            '[' / ']' inclusive, '(' / ')' exclusive; a missing bound is
//                            unbounded (and then always exclusive); bounds quoted like composite
//                            fields (range_bound_escape), read like range_parse_bound
//   {[1,3),[5,7)}            a multirange: its ranges in order, none empty; {} when it has none
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

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

}  // namespace

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

}  // namespace pgcdc::converter_detail
