// JsonWriter must write exactly what rapidjson::Writer<StringBuffer> (default flags) writes, the
// writer pgcdc used before: records keep their byte form across the change, and rapidjson is the
// independent reference here.
#include "connector/json_writer.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace pgcdc {
namespace {

std::string rapidjson_string(const std::string& text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string our_string(const std::string& text) {
  JsonWriter writer;
  writer.string(text);
  return writer.str();
}

TEST(JsonWriter, EscapesEveryByteValueAsRapidjsonDoes) {
  for (int c = 0; c < 256; ++c) {
    const std::string alone(1, static_cast<char>(c));
    EXPECT_EQ(our_string(alone), rapidjson_string(alone)) << "byte " << c;
    const std::string inside = "a" + alone + "b" + alone + alone;
    EXPECT_EQ(our_string(inside), rapidjson_string(inside)) << "byte " << c;
  }
}

TEST(JsonWriter, RandomStringsMatchRapidjson) {
  std::mt19937 random(20261124);
  // Mostly plain text with escapes sprinkled in, and long runs of escapes (the case rapidjson's
  // SIMD scan got wrong, see ValueConverter.LongRunsOfEscapedCharacters).
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int length = static_cast<int>(random() % 300);
    const bool escapes_only = round % 10 == 0;
    for (int i = 0; i < length; ++i) {
      const auto pick = random() % 100;
      if (escapes_only || pick < 10) {
        text.push_back(static_cast<char>(random() % 0x20));
      } else if (pick < 14) {
        text.push_back(pick % 2 ? '"' : '\\');
      } else if (pick < 20) {
        text.push_back(static_cast<char>(0x80 + random() % 0x80));
      } else {
        text.push_back(static_cast<char>(0x20 + random() % 0x5F));
      }
    }
    ASSERT_EQ(our_string(text), rapidjson_string(text)) << "round " << round;
  }
}

TEST(JsonWriter, IntegersAtTheirLimits) {
  for (std::int64_t value : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1},
                             std::int64_t{0}, std::int64_t{7},
                             std::numeric_limits<std::int64_t>::max()}) {
    JsonWriter ours;
    ours.int64(value);
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.Int64(value);
    EXPECT_EQ(ours.view(), buffer.GetString());
  }
  JsonWriter ours;
  ours.uint64(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(ours.view(), "18446744073709551615");
}

TEST(JsonWriter, NestedDocumentMatchesRapidjson) {
  JsonWriter writer;
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> reference(buffer);

  writer.start_object();
  reference.StartObject();
  writer.key("empty object");
  reference.Key("empty object");
  writer.start_object();
  reference.StartObject();
  writer.end_object();
  reference.EndObject();
  writer.json_key("\"empty array\"");
  reference.Key("empty array");
  writer.start_array();
  reference.StartArray();
  writer.end_array();
  reference.EndArray();
  writer.key("nested");
  reference.Key("nested");
  writer.start_array();
  reference.StartArray();
  for (int i = 0; i < 3; ++i) {
    writer.start_array();
    reference.StartArray();
    writer.int64(i);
    reference.Int64(i);
    writer.null();
    reference.Null();
    writer.start_object();
    reference.StartObject();
    writer.key("b");
    reference.Key("b");
    writer.boolean(i % 2 == 0);
    reference.Bool(i % 2 == 0);
    writer.key("q\"uote");
    reference.Key("q\"uote");
    writer.string("x\ny");
    reference.String("x\ny");
    writer.end_object();
    reference.EndObject();
    writer.end_array();
    reference.EndArray();
  }
  writer.end_array();
  reference.EndArray();
  writer.key("raw");
  reference.Key("raw");
  writer.raw("1.50");
  reference.RawValue("1.50", 4, rapidjson::kNumberType);
  writer.key("last");
  reference.Key("last");
  writer.uint64(42);
  reference.Uint64(42);
  writer.end_object();
  reference.EndObject();

  const std::string ours = writer.str();
  EXPECT_EQ(ours, std::string(buffer.GetString(), buffer.GetSize()));
  rapidjson::Document document;
  document.Parse(ours.data(), ours.size());
  EXPECT_FALSE(document.HasParseError()) << ours;
}

TEST(JsonWriter, EveryByteValueAtEveryPositionOfALongRunMatchesRapidjson) {
  // The scan looks at 16 bytes at a time, then byte by byte at the tail: a byte to escape must be
  // found in every lane of a block, in the tail, and after an earlier escape.
  const std::string plain = "The quick brown fox jumps over the lazy dog, again!";  // 51 bytes
  for (int c = 0; c < 256; ++c) {
    for (std::size_t position = 0; position < plain.size(); ++position) {
      std::string text = plain;
      text[position] = static_cast<char>(c);
      ASSERT_EQ(our_string(text), rapidjson_string(text)) << "byte " << c << " at " << position;
      text[plain.size() - 1 - position] = static_cast<char>(c);
      ASSERT_EQ(our_string(text), rapidjson_string(text)) << "byte " << c << " twice, " << position;
    }
  }
}

TEST(JsonWriter, EveryShortLengthIsCopiedWhole) {
  // Copies of up to 16 bytes are inline and overlap (8+8, 4+4, bytewise): every length, as a
  // string, a plain string, a name and a raw value, in one document so offsets vary too.
  std::string expected = "{";
  JsonWriter writer;
  writer.start_object();
  for (std::size_t length = 0; length <= 40; ++length) {
    std::string text;
    for (std::size_t i = 0; i < length; ++i) text.push_back(static_cast<char>('a' + (i * 7 + length) % 26));
    const std::string name = "\"" + text + "\"";
    writer.json_key(name);
    writer.string(text);
    writer.key(text + "_plain");
    writer.plain_string(text);
    writer.key(text + "_raw");
    writer.raw(length == 0 ? "0" : std::to_string(length) + std::string(length, '0'));
    if (length > 0) expected += ",";
    expected += name + ":" + rapidjson_string(text) + ",\"" + text + "_plain\":" + rapidjson_string(text) +
                ",\"" + text + "_raw\":" + (length == 0 ? "0" : std::to_string(length) + std::string(length, '0'));
  }
  writer.end_object();
  EXPECT_EQ(writer.str(), expected + "}");
}

TEST(JsonWriter, AHugeStringTakesAboutItsSizeAndClearGivesItBack) {
  const std::size_t size = 4u << 20;
  std::string text(size, 'x');
  text[size / 2] = '\n';  // one escape: grows by its own few bytes, not six per byte
  text[size - 1] = '"';
  JsonWriter writer;
  writer.string(text);
  ASSERT_EQ(writer.view().size(), size + 2 + 2);
  EXPECT_EQ(writer.str(), rapidjson_string(text));
  // What it needs and an eighth, not the next power of two and never the 6x worst case.
  EXPECT_LE(writer.capacity(), size + size / 8 + 4096);
  writer.clear();
  EXPECT_EQ(writer.capacity(), 0u);  // above kKeptCapacity: given back
  writer.string("small");
  writer.clear();
  EXPECT_GT(writer.capacity(), 0u);  // small buffers are kept for the next document
  EXPECT_LE(writer.capacity(), JsonWriter::kKeptCapacity);
}

TEST(JsonWriter, ClearStartsAFreshDocumentAndGrowthKeepsWhatWasWritten) {
  JsonWriter writer;
  writer.start_array();
  const std::string long_text(5000, 'x');  // beyond the first buffer: grows mid-document
  writer.string(long_text);
  writer.int64(1);
  writer.end_array();
  EXPECT_EQ(writer.str(), "[\"" + long_text + "\",1]");

  writer.clear();
  writer.string("a");  // a fresh document: no comma after the previous one
  EXPECT_EQ(writer.view(), "\"a\"");
  std::string out = "old content";
  writer.copy_to(out);
  EXPECT_EQ(out, "\"a\"");
}

TEST(JsonWriter, MoveToCopiesASmallDocumentAndHandsAWideOneOver) {
  JsonWriter writer;
  writer.string("small");
  std::string out;
  out.reserve(100);
  const char* kept = out.data();
  writer.move_to(out);
  EXPECT_EQ(out, "\"small\"");
  EXPECT_EQ(out.data(), kept);  // copied into the (recycled) string's own capacity
  EXPECT_EQ(writer.view(), "\"small\"");  // and still there, as after copy_to

  const std::string wide(3u << 20, 'w');
  writer.clear();
  writer.start_object();
  writer.key("v");
  writer.string(wide);
  writer.end_object();
  const std::string_view written = writer.view();
  const char* buffer = written.data();
  writer.move_to(out);
  EXPECT_EQ(out, "{\"v\":\"" + wide + "\"}");
  EXPECT_EQ(out.data(), buffer);  // the writer's buffer itself: no second copy of the row
  EXPECT_EQ(writer.capacity(), 0u);
  EXPECT_EQ(writer.size(), 0u);
  writer.string("next");  // a fresh document
  EXPECT_EQ(writer.view(), "\"next\"");
}

}  // namespace
}  // namespace pgcdc
