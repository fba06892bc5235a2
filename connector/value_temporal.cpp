// Dates and times: date, time, timetz, timestamp and timestamptz, as ISO 8601 strings or (with
// [format] temporal = "epoch_*") as exact integers. One file because both forms read the same
// text and share its pieces: BC years, infinity, UTC offsets.
//
// With DateStyle=ISO PostgreSQL prints "YYYY-MM-DD[ HH:MM:SS[.f]][+TZ][ BC]" with at least four
// year digits.
//
// Epoch forms (temporal = epoch_micros / epoch_millis) are exact integers: a timestamp is
// microseconds since 1970-01-01T00:00:00Z (PostgreSQL's own resolution), a date is days since
// 1970-01-01, a time is microseconds since midnight; millis round down (towards -infinity, like
// java.time.Instant.toEpochMilli). 'infinity' and '-infinity' stay strings.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>

#include "connector/value_converter_internal.h"

namespace pgcdc::converter_detail {
namespace {

// Output buffer for one date/time value; longer input is not a PostgreSQL date/time.
class DateTimeText {
 public:
  static constexpr std::size_t kCapacity = 64;
  bool append(std::string_view s) {
    if (s.size() > kCapacity - size_) return false;
    std::copy(s.begin(), s.end(), buffer_ + size_);
    size_ += s.size();
    return true;
  }
  bool append(char c) { return append(std::string_view(&c, 1)); }
  std::string_view view() const { return {buffer_, size_}; }

 private:
  char buffer_[kCapacity];
  std::size_t size_ = 0;
};

// Appends the ISO 8601 form of a "YYYY-MM-DD" date, with BC years turned into astronomical years
// (1 BC = 0000, 44 BC = -0043). False when `date` is not of that shape.
bool append_iso_date(DateTimeText& out, std::string_view date, bool bc) {
  const std::size_t dash = date.find('-');
  if (dash == std::string_view::npos || dash < 4 || date.size() != dash + 6) return false;
  const std::string_view year = date.substr(0, dash);
  const std::string_view month_day = date.substr(dash);  // "-MM-DD"
  if (!all_digits(year)) return false;
  if (!is_digit(month_day[1]) || !is_digit(month_day[2]) || month_day[3] != '-' ||
      !is_digit(month_day[4]) || !is_digit(month_day[5])) {
    return false;
  }
  if (!bc) return out.append(date);
  std::uint32_t year_number = 0;
  auto [end, error] = std::from_chars(year.data(), year.data() + year.size(), year_number);
  if (error != std::errc() || end != year.data() + year.size() || year_number == 0) return false;
  const std::uint32_t astronomical = year_number - 1;
  char digits[16];
  auto [digits_end, digits_error] = std::to_chars(digits, digits + sizeof(digits), astronomical);
  if (digits_error != std::errc()) return false;
  const std::string_view number(digits, static_cast<std::size_t>(digits_end - digits));
  if (astronomical != 0 && !out.append('-')) return false;
  for (std::size_t pad = number.size(); pad < 4; ++pad) {
    if (!out.append('0')) return false;
  }
  return out.append(number) && out.append(month_day);
}

// The position of the first '+' or '-' (a UTC offset's sign), or npos. A plain loop:
// find_first_of with a set calls memchr once per character, which showed in profiles.
std::size_t find_sign(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+' || text[i] == '-') return i;
  }
  return std::string_view::npos;
}

bool is_infinity(std::string_view text) {
  return text == "infinity" || text == "-infinity";
}

// Splits off a trailing " BC".
bool strip_bc(std::string_view& text) {
  constexpr std::string_view kBc = " BC";
  if (text.size() >= kBc.size() && text.substr(text.size() - kBc.size()) == kBc) {
    text.remove_suffix(kBc.size());
    return true;
  }
  return false;
}

// Appends a time "HH:MM:SS[.f]" and, when `with_offset`, its UTC offset "+HH[:MM[:SS]]" written as
// ISO 8601: "+HH" becomes "+HH:00", and "+00" becomes "Z" when `utc_as_z`.
bool append_time(DateTimeText& out, std::string_view time, bool with_offset, bool utc_as_z) {
  if (time.size() < 8 || !is_digit(time[0]) || !is_digit(time[1]) || time[2] != ':') return false;
  if (!with_offset) {
    if (find_sign(time) != std::string_view::npos) return false;
    return out.append(time);
  }
  const std::size_t sign = find_sign(time);
  if (sign == std::string_view::npos) return false;
  const std::string_view clock = time.substr(0, sign);
  const std::string_view offset = time.substr(sign);  // "+HH", "+HH:MM" or "+HH:MM:SS"
  if (offset.size() != 3 && offset.size() != 6 && offset.size() != 9) return false;
  if (!out.append(clock)) return false;
  if (offset.size() == 3) {
    if (!is_digit(offset[1]) || !is_digit(offset[2])) return false;
    if (utc_as_z && offset == "+00") return out.append('Z');
    return out.append(offset) && out.append(":00");
  }
  return out.append(offset);
}

// Wide enough for every timestamp PostgreSQL can hold (294276 AD in microseconds since 1970 does
// not fit in 63 bits).
using WideInteger = __int128;

bool parse_unsigned(std::string_view digits, std::int64_t& value) {
  if (digits.empty() || digits.size() > 18 || !all_digits(digits)) {
    return false;
  }
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return error == std::errc() && end == digits.data() + digits.size();
}

// Days from 1970-01-01 to the proleptic Gregorian date year-month-day, `year` astronomical (1 BC
// is 0): Howard Hinnant's days_from_civil. PostgreSQL's calendar is proleptic Gregorian too.
std::int64_t days_from_civil(std::int64_t year, std::int64_t month, std::int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const std::int64_t year_of_era = year - era * 400;
  const std::int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// "YYYY-MM-DD" (four or more year digits), BC when `bc` -> days since 1970-01-01.
bool parse_days(std::string_view date, bool bc, std::int64_t& days) {
  const std::size_t dash = date.find('-');
  if (dash == std::string_view::npos || dash < 4 || date.size() != dash + 6 ||
      date[dash + 3] != '-') {
    return false;
  }
  std::int64_t year = 0, month = 0, day = 0;
  if (!parse_unsigned(date.substr(0, dash), year) ||
      !parse_unsigned(date.substr(dash + 1, 2), month) ||
      !parse_unsigned(date.substr(dash + 4, 2), day)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  // PostgreSQL's dates end in 5874897 AD (timestamps in 294276 AD): a larger year is not what it
  // prints, and days_from_civil would overflow int64 on one (found by fuzz/fuzz_value_converter).
  if (year > 5874897) return false;
  if (bc) {
    if (year == 0) return false;
    year = 1 - year;
  }
  days = days_from_civil(year, month, day);
  return true;
}

// "HH:MM:SS[.f...]" (at most six fraction digits; 24:00:00 is allowed) -> microseconds.
bool parse_clock(std::string_view clock, std::int64_t& micros) {
  if (clock.size() < 8 || clock[2] != ':' || clock[5] != ':') return false;
  std::int64_t hours = 0, minutes = 0, seconds = 0, fraction = 0;
  if (!parse_unsigned(clock.substr(0, 2), hours) || !parse_unsigned(clock.substr(3, 2), minutes) ||
      !parse_unsigned(clock.substr(6, 2), seconds)) {
    return false;
  }
  if (clock.size() > 8) {
    const std::string_view digits = clock.substr(9);
    if (clock[8] != '.' || digits.size() > 6 || !parse_unsigned(digits, fraction)) return false;
    for (std::size_t pad = digits.size(); pad < 6; ++pad) fraction *= 10;
  }
  if (hours > 24 || minutes > 59 || seconds > 60) return false;
  micros = ((hours * 60 + minutes) * 60 + seconds) * 1000000 + fraction;
  return true;
}

// "+HH", "+HH:MM" or "+HH:MM:SS" -> seconds east of UTC.
bool parse_offset(std::string_view offset, std::int64_t& seconds) {
  if (offset.size() != 3 && offset.size() != 6 && offset.size() != 9) return false;
  if (offset[0] != '+' && offset[0] != '-') return false;
  std::int64_t parts[3] = {0, 0, 0};
  for (std::size_t part = 0; part * 3 + 3 <= offset.size(); ++part) {
    if (part > 0 && offset[part * 3] != ':') return false;
    if (!parse_unsigned(offset.substr(part * 3 + 1, 2), parts[part])) return false;
  }
  seconds = (parts[0] * 60 + parts[1]) * 60 + parts[2];
  if (offset[0] == '-') seconds = -seconds;
  return true;
}

WideInteger floor_divide(WideInteger value, WideInteger divisor) {
  WideInteger quotient = value / divisor;
  if (value % divisor != 0 && value < 0) --quotient;
  return quotient;
}

void write_wide_integer(JsonWriter& out, WideInteger value) {
  if (value >= std::numeric_limits<std::int64_t>::min() &&
      value <= std::numeric_limits<std::int64_t>::max()) {
    out.int64(static_cast<std::int64_t>(value));
    return;
  }
  char digits[48];
  std::size_t size = 0;
  const bool negative = value < 0;
  // Negative values are taken digit by digit without negating (the minimum has no positive twin).
  do {
    const int digit = static_cast<int>(value % 10);
    digits[size++] = static_cast<char>('0' + (digit < 0 ? -digit : digit));
    value /= 10;
  } while (value != 0);
  if (negative) digits[size++] = '-';
  std::reverse(digits, digits + size);
  out.raw(std::string_view(digits, size));
}

}  // namespace

bool write_date(JsonWriter& out, std::string_view text) {
  if (is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view date = text;
  const bool bc = strip_bc(date);
  DateTimeText iso;
  if (!append_iso_date(iso, date, bc)) return write_unexpected(out, text);
  write_string(out, iso.view());
  return true;
}

// The usual text of a timestamp or timestamptz, "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]]" (a
// four-digit AD year), written without the general path's searches and bounded appends: most
// tables have a timestamp or two, and that path cost several hundred instructions per value.
// The output is the general path's for the same text (Z for +00, +HH becomes +HH:00). False,
// with nothing written, for any other shape (BC, infinity, five-digit years): the general path
// takes those.
bool write_common_timestamp(JsonWriter& out, std::string_view text, bool with_offset) {
  const char* s = text.data();
  const std::size_t n = text.size();
  if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') {
    return false;
  }
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!is_digit(s[i])) return false;
  }
  std::size_t pos = 19;
  if (pos < n && s[pos] == '.') {
    const std::size_t fraction = ++pos;
    while (pos < n && pos < fraction + 9 && is_digit(s[pos])) ++pos;
    if (pos == fraction) return false;
  }
  char iso[48];  // 19 + '.' + 9 digits + a 9-byte offset at most
  std::memcpy(iso, s, pos);
  iso[10] = 'T';
  std::size_t size = pos;
  const std::string_view offset = text.substr(pos);
  if (!with_offset) {
    if (!offset.empty()) return false;
  } else {
    if (offset.size() != 3 && offset.size() != 6 && offset.size() != 9) return false;
    if ((offset[0] != '+' && offset[0] != '-') || !is_digit(offset[1]) || !is_digit(offset[2])) {
      return false;
    }
    for (std::size_t i = 3; i < offset.size(); i += 3) {
      if (offset[i] != ':' || !is_digit(offset[i + 1]) || !is_digit(offset[i + 2])) return false;
    }
    if (offset == "+00") {
      iso[size++] = 'Z';
    } else {
      std::memcpy(iso + size, offset.data(), offset.size());
      size += offset.size();
      if (offset.size() == 3) {
        std::memcpy(iso + size, ":00", 3);
        size += 3;
      }
    }
  }
  out.plain_string(std::string_view(iso, size));  // digits, '-', ':', '.', 'T', '+', 'Z'
  return true;
}

bool write_date_time(JsonWriter& out, std::string_view text, bool date_part, bool with_offset) {
  if (date_part && write_common_timestamp(out, text, with_offset)) return true;
  if (date_part && is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view rest = text;
  DateTimeText iso;
  if (date_part) {
    const bool bc = strip_bc(rest);
    const std::size_t space = rest.find(' ');
    if (space == std::string_view::npos) return write_unexpected(out, text);
    if (!append_iso_date(iso, rest.substr(0, space), bc) || !iso.append('T')) {
      return write_unexpected(out, text);
    }
    rest = rest.substr(space + 1);
  }
  if (!append_time(iso, rest, with_offset, /*utc_as_z=*/date_part)) {
    return write_unexpected(out, text);
  }
  write_string(out, iso.view());
  return true;
}

bool write_date_epoch(JsonWriter& out, std::string_view text) {
  if (is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view date = text;
  const bool bc = strip_bc(date);
  std::int64_t days = 0;
  if (!parse_days(date, bc, days)) return write_unexpected(out, text);
  out.int64(days);
  return true;
}

bool write_timestamp_epoch(JsonWriter& out, std::string_view text, bool with_offset, bool millis) {
  if (is_infinity(text)) {
    write_string(out, text);
    return true;
  }
  std::string_view rest = text;
  const bool bc = strip_bc(rest);
  const std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) return write_unexpected(out, text);
  std::int64_t days = 0;
  if (!parse_days(rest.substr(0, space), bc, days)) return write_unexpected(out, text);
  std::string_view clock = rest.substr(space + 1);
  std::int64_t offset_seconds = 0;
  if (with_offset) {
    const std::size_t sign = find_sign(clock);
    if (sign == std::string_view::npos || !parse_offset(clock.substr(sign), offset_seconds)) {
      return write_unexpected(out, text);
    }
    clock = clock.substr(0, sign);
  }
  std::int64_t clock_micros = 0;
  if (!parse_clock(clock, clock_micros)) return write_unexpected(out, text);
  WideInteger micros = static_cast<WideInteger>(days) * 86400 * 1000000 + clock_micros -
                       static_cast<WideInteger>(offset_seconds) * 1000000;
  write_wide_integer(out, millis ? floor_divide(micros, 1000) : micros);
  return true;
}

bool write_time_epoch(JsonWriter& out, std::string_view text, bool millis) {
  std::int64_t micros = 0;
  if (!parse_clock(text, micros)) return write_unexpected(out, text);
  out.int64(millis ? micros / 1000 : micros);
  return true;
}

}  // namespace pgcdc::converter_detail
