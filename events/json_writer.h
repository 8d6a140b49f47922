#pragma once
// A small, fast JSON text writer for the hot write path (an nlohmann DOM costs
// several microseconds an event). It validates UTF-8 as it escapes: invalid text is
// refused rather than stored where no reader could parse it back.
//
// Not thread-safe; one writer per output.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace portal {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Each piece goes out in one append with the comma before it: std::string's
  // push_back is a call (GCC does not inline it), and an event took about 130 of them,
  // a tenth of the command processor's time.
  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }
  void key(std::string_view k) { quoted(k, true); }
  void string(std::string_view s) { quoted(s, false); }
  void boolean(bool b) { plain(b ? std::string_view("true") : std::string_view("false")); }
  void null() { plain("null"); }
  void number(std::uint64_t n);
  void number(std::int64_t n);
  // Appends `json`, which the caller vouches is one valid JSON value (e.g. from
  // another JsonWriter), as the next value.
  void raw(std::string_view json) {
    if (comma()) out_.append(1, ',');
    out_.append(json);
  }

  // False once any string given was not valid UTF-8.
  bool valid() const { return valid_; }

 private:
  // Whether the next value needs a comma before it; the value is then written.
  bool comma() {
    const bool needed = !afterKey_ && !first_;
    afterKey_ = false;
    first_ = false;
    return needed;
  }
  // Appends the `n` bytes after buf[0], with the comma before them (in buf[0]) when
  // one is due, in one append.
  void separated(char* buf, std::size_t n) {
    buf[0] = ',';
    if (comma())
      out_.append(buf, n + 1);
    else
      out_.append(buf + 1, n);
  }
  void open(char bracket) {
    char buf[2] = {',', bracket};
    separated(buf, 1);
    first_ = true;
  }
  void close(char bracket) {
    out_.append(&bracket, 1);
    first_ = false;
  }
  // A number with its comma, in one append.
  template <class Integer>
  void integer(Integer n);
  void plain(std::string_view text);
  void quoted(std::string_view s, bool isKey);
  void appendString(std::string_view s);

  std::string& out_;
  bool first_ = true;
  bool afterKey_ = false;
  bool valid_ = true;
};

// How many of the first bytes of `s` JSON carries as they are in a string:
// printable ASCII other than '"' and '\\'. Sixteen bytes a step (SSE2, which every
// x86-64 has), then eight: names, emails and sealed boxes are mostly such bytes, and
// the writer and the reader both scan them.
inline std::size_t plainJsonPrefix(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  std::size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    // Compared as signed bytes, those past ASCII are negative: below 0x20 too.
    const __m128i stop = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                   _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    if (const int mask = _mm_movemask_epi8(stop); mask != 0)
      return i + static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(mask)));
  }
#endif
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, sizeof w);
    const std::uint64_t quote = w ^ (kOnes * '"');
    const std::uint64_t backslash = w ^ (kOnes * '\\');
    // The high bit of a byte is set where the byte is below 0x20, a quote, a
    // backslash or past ASCII; borrows can only mark bytes after such a byte, so the
    // lowest mark is the first byte to stop at (the words are read little-endian).
    const std::uint64_t marks = (((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote) |
                                 ((backslash - kOnes) & ~backslash) | w) &
                                kHighs;
    if (marks != 0) {
      if constexpr (std::endian::native == std::endian::little)
        return i + static_cast<std::size_t>(std::countr_zero(marks) / 8);
      else
        break;
    }
  }
  for (; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
  }
  return i;
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF).
bool isValidUtf8(std::string_view s);

}  // namespace portal
