#include "events/timestamp.h"

#include <algorithm>
#include <string>

namespace portal {
namespace {

// Howard Hinnant's days-from-civil and civil-from-days (proleptic Gregorian).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kSecondsPerDay = 86'400;

}  // namespace

std::string formatRfc3339(Timestamp t) {
  std::int64_t secs = t.micros / kMicrosPerSecond;
  std::int64_t frac = t.micros % kMicrosPerSecond;
  if (frac < 0) {
    frac += kMicrosPerSecond;
    --secs;
  }
  std::int64_t days = secs / kSecondsPerDay;
  std::int64_t rem = secs % kSecondsPerDay;
  if (rem < 0) {
    rem += kSecondsPerDay;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  civilFromDays(days, y, m, d);
  if (y < 0 || y > 9999) {  // outside RFC 3339's four-digit years: clamp, never overflow
    return y < 0 ? "0000-01-01T00:00:00.000000Z" : "9999-12-31T23:59:59.999999Z";
  }
  std::string out = "0000-00-00T00:00:00.000000Z";
  auto put = [&](std::size_t at, std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) out[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  put(5, m, 2);
  put(8, d, 2);
  put(11, rem / 3600, 2);
  put(14, rem / 60 % 60, 2);
  put(17, rem % 60, 2);
  put(20, frac, 6);
  return out;
}

namespace {

// `finer` is set when digits past the sixth of the fraction are not all zero: the
// time lies after the microsecond returned.
std::optional<Timestamp> parseTime(std::string_view s, bool& finer) {
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  std::int64_t micros = 0;
  std::int64_t offsetSeconds = 0;
  if (s.size() > 10) {
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) ||
        s.size() < 19 || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
        !digits(s, 17, 2, se))
      return std::nullopt;
    if (h > 23 || mi > 59 || se > 60) return std::nullopt;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 6) micros = micros * 10 + (s[pos] - '0');
        else if (s[pos] != '0')
          finer = true;
        ++n;
        ++pos;
      }
      if (n == 0) return std::nullopt;
      for (int i = n; i < 6; ++i) micros *= 10;
    }
    if (pos >= s.size()) return std::nullopt;
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh, om;
      if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
        return std::nullopt;
      offsetSeconds = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
      pos += 6;
    } else {
      return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;
    // A leap second (:60) is the last second of a UTC day, 23:59:60Z, in whatever
    // offset it is written: in any other minute it is a typing error.
    if (se == 60 && ((h * 60 + mi - offsetSeconds / 60) % 1440 + 1440) % 1440 != 1439)
      return std::nullopt;
  }
  const std::int64_t days = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  // Reject dates such as 2026-02-30 that daysFromCivil would silently roll over.
  std::int64_t cy;
  unsigned cm, cd;
  civilFromDays(days, cy, cm, cd);
  if (cy != y || static_cast<int>(cm) != mo || static_cast<int>(cd) != d) return std::nullopt;
  const std::int64_t secs = days * kSecondsPerDay + h * 3600 + mi * 60 + se - offsetSeconds;
  return Timestamp{secs * kMicrosPerSecond + micros};
}

}  // namespace

std::optional<Timestamp> parseRfc3339(std::string_view text) {
  bool finer = false;
  return parseTime(text, finer);
}

std::optional<Timestamp> parseRangeStart(std::string_view text) {
  bool finer = false;
  auto t = parseTime(text, finer);
  if (t && finer) t->micros += 1;
  return t;
}

std::optional<Timestamp> parseRangeEnd(std::string_view text) {
  auto t = parseRfc3339(text);
  constexpr std::int64_t kDayMicros = 86'400'000'000;
  if (t && text.size() == 10) t->micros += kDayMicros - 1;
  return t;
}

namespace {
// The digits of a time's fraction past the microsecond, as typed ("" for none).
std::string subMicroDigits(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos) return "";
  const auto end = std::min(text.find_first_not_of("0123456789", dot + 1), text.size());
  return end - dot - 1 > 6 ? std::string(text.substr(dot + 7, end - dot - 7)) : "";
}
}  // namespace

bool laterAsTyped(Timestamp a, std::string_view aText, Timestamp b, std::string_view bText) {
  // (A date alone as `b` is its day's last moment, every digit past it 9s.)
  constexpr std::size_t kDateAlone = 10;
  if (a.micros != b.micros || bText.size() == kDateAlone) return a.micros > b.micros;
  std::string x = subMicroDigits(aText), y = subMicroDigits(bText);
  x.resize(std::max(x.size(), y.size()), '0');
  y.resize(x.size(), '0');
  return x > y;
}

}  // namespace portal
