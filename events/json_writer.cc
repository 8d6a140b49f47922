#include "events/json_writer.h"

#include "events/text.h"

#include <array>
#include <charconv>

namespace portal {

template <class Integer>
void JsonWriter::integer(Integer n) {
  char buf[24];
  const auto r = std::to_chars(buf + 1, buf + sizeof buf, n);
  separated(buf, static_cast<std::size_t>(r.ptr - (buf + 1)));
}

void JsonWriter::number(std::uint64_t n) { integer(n); }
void JsonWriter::number(std::int64_t n) { integer(n); }

void JsonWriter::plain(std::string_view text) {
  char buf[8];
  std::memcpy(buf + 1, text.data(), text.size());  // true, false, null
  separated(buf, text.size());
}

void JsonWriter::quoted(std::string_view s, bool isKey) {
  const bool separated = comma();
  // Keys, ids, timestamps, emails and sealed boxes: printable ASCII without quotes
  // or backslashes, short. Written with their comma, quotes and colon in one append.
  char buf[256];
  if (s.size() + 4 <= sizeof buf && plainJsonPrefix(s) == s.size()) {
    char* o = buf;
    if (separated) *o++ = ',';
    *o++ = '"';
    std::memcpy(o, s.data(), s.size());
    o += s.size();
    *o++ = '"';
    if (isKey) *o++ = ':';
    out_.append(buf, static_cast<std::size_t>(o - buf));
  } else {
    if (separated) out_.append(1, ',');
    appendString(s);
    if (isKey) out_.append(1, ':');
  }
  afterKey_ = isKey;
}

namespace {

// Length of the well-formed UTF-8 sequence starting at p (a byte >= 0x80), or 0.
std::size_t utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  char32_t c;
  return decodeUtf8(std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p)), c);
}

// 0: copy as is; 1: escape; 2: first byte of a multi-byte sequence.
constexpr auto kByteClass = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[c] = 2;
  return t;
}();

}  // namespace

void JsonWriter::appendString(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out_.append(1, '"');
  const auto* begin = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = begin + s.size();
  const unsigned char* run = begin;  // start of the bytes not yet copied
  for (const unsigned char* p = begin; p < end;) {
    p += plainJsonPrefix(std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p)));
    if (p == end) break;
    const std::uint8_t cls = kByteClass[*p];
    if (cls == 0) {
      ++p;
      continue;
    }
    if (cls == 2) {
      const std::size_t n = utf8SequenceLength(p, end);
      if (n == 0) {
        valid_ = false;
        ++p;
      } else {
        p += n;
      }
      continue;
    }
    out_.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    switch (*p) {
      case '"': out_.append("\\\""); break;
      case '\\': out_.append("\\\\"); break;
      case '\n': out_.append("\\n"); break;
      case '\r': out_.append("\\r"); break;
      case '\t': out_.append("\\t"); break;
      case '\b': out_.append("\\b"); break;
      case '\f': out_.append("\\f"); break;
      default:
        const char escape[6] = {'\\', 'u', '0', '0', kHex[*p >> 4], kHex[*p & 0xf]};
        out_.append(escape, sizeof escape);
    }
    run = ++p;
  }
  out_.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(end - run));
  out_.append(1, '"');
}

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const std::size_t n = utf8SequenceLength(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

}  // namespace portal
