#include "tests/torture/schema.h"

#include <cstdio>

namespace pgcdc::torture {
namespace {

const char* const kTextPieces[] = {"a", "B", "é", "Z z", "ü", "ab", "Ab", " x", "ß", "Ä-", "o o"};
const char* const kRegions[] = {"eu", "us", "ap"};

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string uuid_literal(std::mt19937_64& random) {
  char text[48];
  const std::uint64_t a = random(), b = random();
  std::snprintf(text, sizeof text, "'%08x-%04x-%04x-%04x-%012llx'::uuid",
                static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                static_cast<unsigned>(a & 0xffff), static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return text;
}

std::string text_key(std::uint64_t n, std::mt19937_64& random) {
  std::string text;
  const int pieces = 1 + static_cast<int>(random() % 3);
  for (int i = 0; i < pieces; ++i) text += kTextPieces[random() % std::size(kTextPieces)];
  return quoted(text + std::to_string(n));  // unique by the counter
}

int range_bucket(std::mt19937_64& random) {
  return static_cast<int>(random() % 30);
}

}  // namespace

const char* kind_name(KeyKind kind) {
  switch (kind) {
    case KeyKind::kInt:
      return "int";
    case KeyKind::kBigint:
      return "bigint";
    case KeyKind::kText:
      return "text";
    case KeyKind::kUuid:
      return "uuid";
    case KeyKind::kNumeric:
      return "numeric";
    case KeyKind::kTimestamptz:
      return "timestamptz";
    case KeyKind::kComposite2:
      return "composite2";
    case KeyKind::kComposite3:
      return "composite3";
    case KeyKind::kListPartitioned:
      return "list-partitioned";
    case KeyKind::kRangePartitioned:
      return "range-partitioned";
    case KeyKind::kFullIdentity:
      return "full-identity";
  }
  return "?";
}

std::string TableShape::config_entry() const {
  if (kind == KeyKind::kFullIdentity) return "{name = '" + name + "', key = ['rk']}";
  return "'public." + name + "'";
}

std::vector<TableShape> draw_schema(std::mt19937_64& random, const std::string& prefix) {
  const int count = 4 + static_cast<int>(random() % 5);
  std::vector<TableShape> tables;
  for (int i = 0; i < count; ++i) {
    TableShape table;
    table.name = prefix + "_" + std::to_string(i);
    table.sql_name = table.name;
    table.kind = static_cast<KeyKind>(random() % 11);
    table.toast = random() % 4 == 0;
    table.nullable = random() % 2 == 0;
    switch (table.kind) {
      case KeyKind::kInt:
      case KeyKind::kBigint:
        table.key_columns = {"id"};
        break;
      case KeyKind::kText:
        table.key_columns = {"k"};
        break;
      case KeyKind::kUuid:
        table.key_columns = {"u"};
        break;
      case KeyKind::kNumeric:
        table.key_columns = {"n"};
        break;
      case KeyKind::kTimestamptz:
        table.key_columns = {"ts"};
        break;
      case KeyKind::kComposite2:
        table.key_columns = {"a", "b"};
        break;
      case KeyKind::kComposite3:
        table.key_columns = {"a", "b", "c"};
        break;
      case KeyKind::kListPartitioned:
        table.key_columns = {"id", "region"};
        break;
      case KeyKind::kRangePartitioned:
        table.key_columns = {"id", "bucket"};
        break;
      case KeyKind::kFullIdentity:
        table.key_columns = {"rk"};
        break;
    }
    tables.push_back(std::move(table));
  }
  return tables;
}

std::vector<std::string> new_key(TableShape& table, std::mt19937_64& random) {
  const std::uint64_t n = table.next_key++;
  switch (table.kind) {
    case KeyKind::kInt:
      return {std::to_string(n)};
    case KeyKind::kBigint:
      return {std::to_string(9000000000ULL + n * 7)};
    case KeyKind::kText:
      return {text_key(n, random)};
    case KeyKind::kUuid:
      return {uuid_literal(random)};
    case KeyKind::kNumeric:
      return {quoted(std::to_string(n) + "." + std::to_string(random() % 10000))};
    case KeyKind::kTimestamptz:
      return {"(timestamptz '2020-01-01 00:00:00+00' + interval '1 millisecond' * " +
              std::to_string(n * 37) + ")"};
    case KeyKind::kComposite2:
      return {text_key(random() % 50, random), std::to_string(n)};
    case KeyKind::kComposite3:
      return {std::to_string(random() % 20), text_key(n, random), uuid_literal(random)};
    case KeyKind::kListPartitioned:
      return {std::to_string(n), quoted(kRegions[random() % std::size(kRegions)])};
    case KeyKind::kRangePartitioned:
      return {std::to_string(n), std::to_string(range_bucket(random))};
    case KeyKind::kFullIdentity:
      return {text_key(n, random)};
  }
  return {};
}

std::vector<std::string> moved_key(const TableShape& table, const std::vector<std::string>& key,
                                   std::mt19937_64& random) {
  std::vector<std::string> moved = key;
  if (table.kind == KeyKind::kListPartitioned) {
    moved[1] = quoted(kRegions[random() % std::size(kRegions)]);
  } else if (table.kind == KeyKind::kRangePartitioned) {
    moved[1] = std::to_string(range_bucket(random));
  }
  return moved;
}

std::string key_condition(const TableShape& table, const std::vector<std::string>& key) {
  std::string columns, values;
  for (std::size_t i = 0; i < key.size(); ++i) {
    columns += (i ? ", " : "") + table.key_columns[i];
    values += (i ? ", " : "") + key[i];
  }
  return "(" + columns + ") = (" + values + ")";
}

RowValues draw_values(const TableShape& table, const std::string& sequence,
                      std::mt19937_64& random) {
  RowValues row;
  auto add = [&](const std::string& column, const std::string& value) {
    row.columns.push_back(column);
    row.values.push_back(value);
  };
  add("v", "nextval('" + sequence + "')");
  add("t", quoted("t" + std::to_string(random() % 100000)));
  if (table.toast && random() % 3 == 0) {
    // md5 chains do not compress: the value is stored out of line (TOAST).
    add("big", "(SELECT string_agg(md5(" + std::to_string(random() % 1000000) +
                   " || '-' || g), '') FROM generate_series(1, " +
                   std::to_string(100 + random() % 300) + ") g)");
  }
  if (table.nullable) {
    auto maybe = [&](const std::string& column, const std::string& value) {
      add(column, random() % 3 == 0 ? "NULL" : value);
    };
    maybe("n_int", std::to_string(static_cast<int>(random() % 2000000) - 1000000));
    maybe("n_txt", quoted("é\"\\\t" + std::to_string(random() % 100)));
    maybe("n_ts", "now()");
    maybe("n_num", quoted(std::to_string(random() % 100000) + ".125"));
    maybe("n_json",
          quoted("{\"a\": [1, {\"b\": null}], \"n\": " + std::to_string(random() % 100) + "}"));
    maybe("n_bool", random() % 2 ? "true" : "false");
    maybe("n_arr", "ARRAY[1, NULL, " + std::to_string(random() % 100) + "]");
    maybe("n_date", "current_date");
    maybe("n_bytea", "'\\x00ff10'::bytea");
  }
  for (const auto& column : table.added_columns) {
    if (random() % 2) add(column, std::to_string(random() % 1000));
  }
  return row;
}

std::vector<std::vector<std::string>> create_table(PgConnection& db, TableShape& table,
                                                   const std::string& sequence, int rows,
                                                   std::mt19937_64& random) {
  std::string columns;
  switch (table.kind) {
    case KeyKind::kInt:
      columns = "id int NOT NULL";
      break;
    case KeyKind::kBigint:
      columns = "id bigint NOT NULL";
      break;
    case KeyKind::kText:
      columns = "k text NOT NULL";
      break;
    case KeyKind::kUuid:
      columns = "u uuid NOT NULL";
      break;
    case KeyKind::kNumeric:
      columns = "n numeric(20,4) NOT NULL";
      break;
    case KeyKind::kTimestamptz:
      columns = "ts timestamptz NOT NULL";
      break;
    case KeyKind::kComposite2:
      columns = "a text NOT NULL, b int NOT NULL";
      break;
    case KeyKind::kComposite3:
      columns = "a int NOT NULL, b text NOT NULL, c uuid NOT NULL";
      break;
    case KeyKind::kListPartitioned:
      columns = "id int NOT NULL, region text NOT NULL";
      break;
    case KeyKind::kRangePartitioned:
      columns = "id int NOT NULL, bucket int NOT NULL";
      break;
    case KeyKind::kFullIdentity:
      columns = "rk text NOT NULL";
      break;
  }
  columns += ", v bigint NOT NULL, t text";
  if (table.toast) columns += ", big text";
  if (table.nullable) {
    columns +=
        ", n_int int, n_txt text, n_ts timestamptz, n_num numeric(12,3), n_json jsonb, "
        "n_bool boolean, n_arr int[], n_date date, n_bytea bytea";
  }
  std::string key_list;
  for (const auto& column : table.key_columns) key_list += (key_list.empty() ? "" : ", ") + column;
  if (table.kind != KeyKind::kFullIdentity) columns += ", PRIMARY KEY (" + key_list + ")";
  std::string sql = "CREATE TABLE " + table.name + " (" + columns + ")";
  if (table.kind == KeyKind::kListPartitioned) sql += " PARTITION BY LIST (region)";
  if (table.kind == KeyKind::kRangePartitioned) sql += " PARTITION BY RANGE (bucket)";
  db.exec(sql);
  if (table.kind == KeyKind::kListPartitioned) {
    for (const char* region : kRegions) {
      db.exec("CREATE TABLE " + table.name + "_" + region + " PARTITION OF " + table.name +
              " FOR VALUES IN ('" + region + "')");
    }
  }
  if (table.kind == KeyKind::kRangePartitioned) {
    for (int low = 0; low < 30; low += 10) {
      db.exec("CREATE TABLE " + table.name + "_" + std::to_string(low) + " PARTITION OF " +
              table.name + " FOR VALUES FROM (" + std::to_string(low) + ") TO (" +
              std::to_string(low + 10) + ")");
    }
  }
  if (table.kind == KeyKind::kFullIdentity)
    db.exec("ALTER TABLE " + table.name + " REPLICA IDENTITY FULL");

  std::vector<std::vector<std::string>> keys;
  for (int done = 0; done < rows;) {
    const int batch = std::min(500, rows - done);
    std::string insert;
    std::vector<std::string> insert_columns;
    for (int i = 0; i < batch; ++i) {
      std::vector<std::string> key = new_key(table, random);
      RowValues values = draw_values(table, sequence, random);
      // One column list for the whole statement: every row sets every column.
      std::string row = "(";
      for (std::size_t k = 0; k < key.size(); ++k) row += (k ? ", " : "") + key[k];
      if (i == 0) {
        insert_columns = table.key_columns;
        insert_columns.insert(insert_columns.end(), values.columns.begin(), values.columns.end());
      }
      // Columns drawn as absent for this row are written as NULL to keep the list fixed.
      for (std::size_t c = table.key_columns.size(); c < insert_columns.size(); ++c) {
        const std::string& column = insert_columns[c];
        std::string value = "NULL";
        for (std::size_t j = 0; j < values.columns.size(); ++j) {
          if (values.columns[j] == column) value = values.values[j];
        }
        row += ", " + value;
      }
      insert += (i ? ", " : "") + row + ")";
      keys.push_back(std::move(key));
    }
    std::string column_list;
    for (const auto& column : insert_columns)
      column_list += (column_list.empty() ? "" : ", ") + column;
    db.exec("INSERT INTO " + table.name + " (" + column_list + ") VALUES " + insert);
    done += batch;
  }
  return keys;
}

}  // namespace pgcdc::torture
