#include "core/source_offset.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

namespace pgcdc {

std::string offset_to_json(const SourceOffset& offset) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  writer.StartObject();
  writer.Key("lsn");
  writer.String(format_lsn(offset.lsn).c_str());
  writer.Key("snapshot");
  writer.StartObject();
  for (const auto& [table, progress] : *offset.snapshot) {
    writer.Key(table.c_str(), static_cast<rapidjson::SizeType>(table.size()));
    writer.StartObject();
    writer.Key("done");
    writer.Bool(progress.done);
    writer.Key("rows");
    writer.Uint64(progress.rows);
    if (!progress.publication.empty()) {
      writer.Key("publication");
      writer.String(progress.publication.c_str(),
                    static_cast<rapidjson::SizeType>(progress.publication.size()));
    }
    if (!progress.partitions.empty()) {
      writer.Key("partitions");
      writer.String(progress.partitions.c_str(),
                    static_cast<rapidjson::SizeType>(progress.partitions.size()));
    }
    if (progress.last_key) {
      writer.Key("last_key");
      writer.StartArray();
      for (const auto& value : *progress.last_key) {
        writer.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
      }
      writer.EndArray();
    }
    writer.EndObject();
  }
  writer.EndObject();
  writer.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

SourceOffset offset_from_json(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) throw std::runtime_error("offset is not a JSON object");
  SourceOffset offset;
  if (!doc.HasMember("lsn") || !doc["lsn"].IsString()) {
    throw std::runtime_error("offset lacks the string member 'lsn'");
  }
  auto lsn = parse_lsn(doc["lsn"].GetString());
  if (!lsn) throw std::runtime_error("offset member 'lsn' is not of the form X/X");
  offset.lsn = *lsn;
  auto progress = std::make_shared<SnapshotProgress>();
  if (doc.HasMember("snapshot")) {
    const auto& tables = doc["snapshot"];
    if (!tables.IsObject()) throw std::runtime_error("offset member 'snapshot' is not an object");
    for (auto it = tables.MemberBegin(); it != tables.MemberEnd(); ++it) {
      const auto& t = it->value;
      std::string name = it->name.GetString();
      if (!t.IsObject() || !t.HasMember("done") || !t["done"].IsBool() || !t.HasMember("rows") ||
          !t["rows"].IsUint64()) {
        throw std::runtime_error("offset snapshot entry '" + name + "' is malformed");
      }
      TableSnapshotProgress p;
      p.done = t["done"].GetBool();
      p.rows = t["rows"].GetUint64();
      if (t.HasMember("publication")) {
        if (!t["publication"].IsString()) {
          throw std::runtime_error("offset snapshot entry '" + name + "' has a bad publication");
        }
        p.publication.assign(t["publication"].GetString(), t["publication"].GetStringLength());
      }
      if (t.HasMember("partitions")) {
        if (!t["partitions"].IsString()) {
          throw std::runtime_error("offset snapshot entry '" + name + "' has bad partitions");
        }
        p.partitions.assign(t["partitions"].GetString(), t["partitions"].GetStringLength());
      }
      if (t.HasMember("last_key")) {
        if (!t["last_key"].IsArray()) {
          throw std::runtime_error("offset snapshot entry '" + name + "' has a bad last_key");
        }
        std::vector<std::string> key;
        for (const auto& v : t["last_key"].GetArray()) {
          if (!v.IsString()) {
            throw std::runtime_error("offset snapshot entry '" + name + "' has a bad last_key");
          }
          key.emplace_back(v.GetString(), v.GetStringLength());
        }
        p.last_key = std::move(key);
      }
      (*progress)[name] = std::move(p);
    }
  }
  offset.snapshot = std::move(progress);
  return offset;
}

}  // namespace pgcdc
