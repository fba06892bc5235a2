// hstore: the extension's text read into a JSON object of strings. Alone because hstore is an
// extension type with a grammar of its own (no fixed OID: TypeCache marks it as kHstore).
//
// hstore_out's text (contrib/hstore/hstore_io.c): "key"=>"value" pairs joined by ", ",
// a NULL value as an unquoted NULL, '"' and '\' escaped with a backslash inside the quotes. Read
// the way hstore_in reads it (unquoted words too). Keys are unique and hstore keeps them in its
// own order (by length, then bytes), so the JSON object is the same for equal values.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

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

}  // namespace

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

}  // namespace pgcdc::converter_detail
