#pragma once
// Where the values of one tuple go: the same for a snapshot row and a streamed change of a table
// (make_row_layout in record_builder.h builds it).
#include <string>
#include <vector>

#include "connector/value_converter.h"

namespace pgcdc {

struct RowLayout {
  std::vector<std::string> names;       // tuple columns, in tuple order
  std::vector<std::string> json_names;  // the same, as JSON strings (quoted, escaped) once
  std::vector<ColumnType> types;        // same order
  std::vector<int> output_indexes;      // tuple positions of `after` members, in output order
  std::vector<int> key_indexes;         // tuple positions of key members, in key order
};

}  // namespace pgcdc
