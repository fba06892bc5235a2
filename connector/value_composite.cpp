// Composite types: record_out's text (src/backend/utils/adt/rowtypes.c) read into a JSON object,
// each attribute converted by its own type. A grammar of its own, so a file of its own; its
// quoted-field reader is also how range bounds are read (range_parse_bound quotes like
// record_in), so value_range.cpp shares read_field from here.
//
//   (f1,f2,...)   one field per attribute that is not dropped; an empty field is NULL
//   "..."         a quoted field: record_out quotes empty strings and text holding '"', '\',
//                 '(', ')', ',' or whitespace, doubling '"' and '\' inside
// Read the way record_in reads it (a backslash also escapes outside quotes).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace pgcdc::converter_detail
