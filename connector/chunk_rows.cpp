#include "connector/chunk_rows.h"

#include <cstring>

namespace pgcdc {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_octal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

void ChunkRows::reset(std::size_t columns) {
  columns_ = columns;
  text_.clear();
  fields_.clear();
}

void ChunkRows::release_memory() {
  std::string().swap(text_);
  std::vector<Field>().swap(fields_);
}

void ChunkRows::add_line(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (columns_ == 0) throw pgoutput::DecodeError("a COPY row for a chunk of no columns");
  const std::size_t base = text_.size();
  const std::size_t first_field = fields_.size();
  text_.append(line);  // one copy per row; escapes are then undone in place
  char* const data = text_.data();
  const char* in = data + base;
  const char* const end = in + line.size();
  char* out = data + base;
  const bool escaped = std::memchr(in, '\\', line.size()) != nullptr;
  try {
    for (std::size_t column = 0; column < columns_; ++column) {
      if (column > 0) {
        if (in == end) {
          throw pgoutput::DecodeError("a COPY row has " + std::to_string(column) +
                                      " values where the chunk's query selects " +
                                      std::to_string(columns_));
        }
        ++in;  // the tab before this field
      }
      const char* tab = static_cast<const char*>(std::memchr(in, '\t', static_cast<std::size_t>(end - in)));
      const char* field_end = tab ? tab : end;
      if (!escaped) {  // the usual row: values are slices of the line as it came
        fields_.push_back({static_cast<std::uint64_t>(in - data),
                           static_cast<std::uint32_t>(field_end - in)});
      } else if (field_end - in == 2 && in[0] == '\\' && in[1] == 'N') {
        fields_.push_back({0, kNull});
      } else {
        char* written = unescape(in, field_end, out);
        fields_.push_back({static_cast<std::uint64_t>(out - data),
                           static_cast<std::uint32_t>(written - out)});
        out = written;
      }
      in = field_end;
    }
    if (in != end) {
      throw pgoutput::DecodeError("a COPY row has more values than the " +
                                  std::to_string(columns_) + " the chunk's query selects");
    }
  } catch (...) {
    text_.resize(base);
    fields_.resize(first_field);
    throw;
  }
  if (escaped) text_.resize(static_cast<std::size_t>(out - data));
}

char* ChunkRows::unescape(const char* in, const char* end, char* out) {
  while (in < end) {
    const char* backslash = static_cast<const char*>(std::memchr(in, '\\', static_cast<std::size_t>(end - in)));
    const char* plain_end = backslash ? backslash : end;
    std::memmove(out, in, static_cast<std::size_t>(plain_end - in));  // may overlap: in place
    out += plain_end - in;
    in = plain_end;
    if (!backslash) break;
    ++in;
    if (in == end) throw pgoutput::DecodeError("a COPY value ends in the middle of an escape");
    const char c = *in++;
    // COPY's text format (the rules COPY FROM reads): \b \f \n \r \t \v, up to three octal
    // digits, \x and up to two hex digits; a backslash before any other byte is that byte.
    switch (c) {
      case 'b': *out++ = '\b'; break;
      case 'f': *out++ = '\f'; break;
      case 'n': *out++ = '\n'; break;
      case 'r': *out++ = '\r'; break;
      case 't': *out++ = '\t'; break;
      case 'v': *out++ = '\v'; break;
      case 'x': {
        int value = -1;
        for (int digits = 0; digits < 2 && in < end && hex_digit(*in) >= 0; ++digits) {
          value = (value < 0 ? 0 : value * 16) + hex_digit(*in++);
        }
        *out++ = value < 0 ? 'x' : static_cast<char>(value);
        break;
      }
      default:
        if (is_octal(c)) {
          int value = c - '0';
          for (int digits = 1; digits < 3 && in < end && is_octal(*in); ++digits) {
            value = value * 8 + (*in++ - '0');
          }
          *out++ = static_cast<char>(value & 0xff);
        } else {
          *out++ = c;
        }
    }
  }
  return out;
}

void ChunkRows::fill(std::size_t row, pgoutput::Tuple& tuple) const {
  tuple.resize(columns_);
  const Field* field = fields_.data() + row * columns_;
  for (std::size_t column = 0; column < columns_; ++column, ++field) {
    if (field->length == kNull) {
      tuple[column] = {pgoutput::ValueKind::kNull, {}};
    } else {
      tuple[column] = {pgoutput::ValueKind::kText,
                       std::string_view(text_.data() + field->offset, field->length)};
    }
  }
}

}  // namespace pgcdc
