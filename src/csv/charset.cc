#include "src/csv/charset.h"

#include <unicode/ucnv.h>
#include <unicode/ustring.h>

#include <memory>
#include <vector>

#include "events/text.h"

namespace portal {

namespace {

struct CloseConverter {
  void operator()(UConverter* c) const { ucnv_close(c); }
};
using Converter = std::unique_ptr<UConverter, CloseConverter>;

Converter open(const std::string& charset) {
  UErrorCode status = U_ZERO_ERROR;
  Converter c(ucnv_open(charset.c_str(), &status));
  if (U_FAILURE(status)) return nullptr;
  return c;
}

}  // namespace

std::optional<std::string> canonicalCharset(std::string_view charset) {
  // ICU takes an empty name as the platform's default: that names nothing here.
  if (trim(charset).empty()) return std::nullopt;
  const Converter c = open(std::string(trim(charset)));
  if (!c) return std::nullopt;
  UErrorCode status = U_ZERO_ERROR;
  const char* name = ucnv_getName(c.get(), &status);
  if (U_FAILURE(status) || name == nullptr) return std::nullopt;
  return std::string(name);
}

bool isUtf8Charset(std::string_view charset) {
  // (The names JSON requests send, without a converter opened for them.)
  if (const std::string lower = asciiLower(trim(charset));
      lower == "utf-8" || lower == "utf8" || lower == "us-ascii")
    return true;
  const auto name = canonicalCharset(charset);
  return name && (*name == "UTF-8" || *name == "US-ASCII");
}

bool knownCharset(const std::string& charset) { return canonicalCharset(charset).has_value(); }

std::string charsetOfFile(std::string_view bytes, const std::string& declared) {
  using namespace std::string_view_literals;
  if (bytes.starts_with("\xEF\xBB\xBF"sv)) return "UTF-8";
  // (UTF-32's little-endian mark begins as UTF-16's.)
  if (bytes.starts_with("\xFF\xFE\0\0"sv) || bytes.starts_with("\0\0\xFE\xFF"sv)) return "UTF-32";
  if (bytes.starts_with("\xFF\xFE"sv) || bytes.starts_with("\xFE\xFF"sv)) return "UTF-16";
  return declared;
}

std::optional<std::string> readAsUtf8(std::string_view bytes, const std::string& charset,
                                      const std::function<bool(std::string_view)>& sink) {
  Converter c = open(std::string(trim(charset)));
  if (!c) return std::string();  // (not knownCharset: nothing of it is read)
  UErrorCode status = U_ZERO_ERROR;
  // Stop at the first byte that is no character, rather than put U+FFFD (or the
  // charset's own substitute) in someone's name.
  ucnv_setToUCallBack(c.get(), UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &status);
  // Bytes of a legacy charset that read as a C1 control (U+0080 to U+009F) are ones
  // it leaves unassigned (windows-1252's 0x81, 0x8D, 0x8F, 0x90, 0x9D, EUC-KR's 0x80,
  // which ICU maps so) or a control no text of a sheet holds: named as such too, not
  // as a control character in a cell (a review). (In a Unicode charset such a
  // character is one: the cell's check refuses it.)
  UErrorCode nameStatus = U_ZERO_ERROR;
  const bool legacy = !std::string_view(ucnv_getName(c.get(), &nameStatus)).starts_with("UTF-");
  // A piece at a time, to UTF-16 first (as ICU converts), then to UTF-8; each unit's
  // offset is the byte of this piece it began at (-1: of the piece before).
  std::vector<UChar> units(1 << 16);
  std::vector<std::int32_t> offsets(units.size());
  std::string piece;
  enum class Handed { kOn, kStopped, kNoText };
  // The first `count` units to the sink as UTF-8. (A lone surrogate, which the
  // converters refuse already, is no text.)
  auto handOn = [&](std::size_t count) {
    UErrorCode utf8Status = U_ZERO_ERROR;
    std::int32_t length = 0;
    piece.resize(count * 3);
    u_strToUTF8(piece.data(), static_cast<std::int32_t>(piece.size()), &length, units.data(),
                static_cast<std::int32_t>(count), &utf8Status);
    if (U_FAILURE(utf8Status)) return Handed::kNoText;
    return sink(std::string_view(piece.data(), static_cast<std::size_t>(length)))
               ? Handed::kOn
               : Handed::kStopped;
  };
  std::size_t carried = 0;  // a lead surrogate whose pair comes with the next piece
  const char* source = bytes.data();
  const char* const end = source + bytes.size();
  while (true) {
    UChar* target = units.data() + carried;
    const char* const pieceStart = source;
    status = U_ZERO_ERROR;
    ucnv_toUnicode(c.get(), &target, units.data() + units.size(), &source, end,
                   offsets.data() + carried, true, &status);
    std::size_t n = static_cast<std::size_t>(target - units.data());
    for (std::size_t i = carried; legacy && i < n; ++i) {
      if (units[i] < 0x80 || units[i] > 0x9F || offsets[i] < 0) continue;
      const Handed before = handOn(i);  // the text before it, then its bytes
      if (before == Handed::kStopped) return std::nullopt;
      if (before == Handed::kNoText) return std::string();
      std::size_t next = i + 1;
      while (next < n && offsets[next] <= offsets[i]) ++next;
      const char* const bytesEnd = next < n ? pieceStart + offsets[next] : source;
      return std::string(pieceStart + offsets[i], bytesEnd);
    }
    carried = status == U_BUFFER_OVERFLOW_ERROR && n > 0 && U16_IS_LEAD(units[n - 1]) ? 1 : 0;
    n -= carried;
    if (const Handed handed = handOn(n); handed != Handed::kOn)
      return handed == Handed::kStopped ? std::nullopt : std::optional<std::string>("");
    if (carried == 1) units[0] = units[n];
    if (status == U_BUFFER_OVERFLOW_ERROR) continue;
    if (U_SUCCESS(status)) return std::nullopt;
    char bad[32];
    std::int8_t size = sizeof bad;
    UErrorCode invalidStatus = U_ZERO_ERROR;
    ucnv_getInvalidChars(c.get(), bad, &size, &invalidStatus);
    return U_SUCCESS(invalidStatus) ? std::string(bad, static_cast<std::size_t>(size))
                                    : std::string();
  }
}

}  // namespace portal
