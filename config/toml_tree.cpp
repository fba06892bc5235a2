// TOML -> the document tree (config_tree.h), with toml++. Alone so that toml++, a large header
// library, is compiled in one file, and so that the TOML side of the format-neutral tree can be
// read without the JSON side.
#include <toml++/toml.h>

#include <string>

#include "config/config_tree.h"

namespace pgcdc::config_detail {
namespace {

Node from_toml(const toml::node& value) {
  Node node;
  node.line = static_cast<int>(value.source().begin.line);
  switch (value.type()) {
    case toml::node_type::table:
      node.type = Node::Type::kTable;
      for (const auto& [key, child] : *value.as_table()) {
        node.members.emplace_back(std::string(key.str()), from_toml(child));
      }
      break;
    case toml::node_type::array:
      node.type = Node::Type::kArray;
      for (const auto& child : *value.as_array()) node.items.push_back(from_toml(child));
      break;
    case toml::node_type::string:
      node.type = Node::Type::kString;
      node.string = value.as_string()->get();
      break;
    case toml::node_type::integer:
      node.type = Node::Type::kInteger;
      node.integer = value.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      node.type = Node::Type::kFloat;
      node.floating = value.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      node.type = Node::Type::kBool;
      node.boolean = value.as_boolean()->get();
      break;
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      node.type = Node::Type::kDateTime;
      break;
    case toml::node_type::none:
      node.type = Node::Type::kNull;
      break;
  }
  return node;
}

}  // namespace

Node parse_toml(const std::string& text) {
  try {
    toml::table document = toml::parse(text);
    Node root = from_toml(document);
    root.line = 0;  // errors about the whole document carry no line
    return root;
  } catch (const toml::parse_error& error) {
    syntax_error(error.source().begin.line, error.source().begin.column,
                 std::string(error.description()));
  }
}

}  // namespace pgcdc::config_detail
