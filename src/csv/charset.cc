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

bool isUtf8Charset(std::string_view charset) {
  const std::string name = asciiLower(trim(charset));
  return name == "utf-8" || name == "utf8" || name == "us-ascii";
}

bool knownCharset(const std::string& charset) {
  // ICU takes an empty name as the platform's default: that names nothing here.
  return !trim(charset).empty() && open(std::string(trim(charset))) != nullptr;
}

std::string charsetOfFile(std::string_view bytes, const std::string& declared) {
  using namespace std::string_view_literals;
  if (bytes.starts_with("\xEF\xBB\xBF"sv)) return "UTF-8";
  // (UTF-32's little-endian mark begins as UTF-16's: the declared charset decides it.)
  if ((bytes.starts_with("\xFF\xFE"sv) && !bytes.starts_with("\xFF\xFE\0\0"sv)) ||
      bytes.starts_with("\xFE\xFF"sv))
    return "UTF-16";
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
  // A byte of a charset of one byte a character that reads as a C1 control (U+0080 to
  // U+009F) is one it leaves unassigned (windows-1252's 0x81, 0x8D, 0x8F, 0x90, 0x9D,
  // which ICU maps so) or a control no text of a sheet holds: named as such too, not
  // as a control character in a cell (a review).
  const bool oneByte = ucnv_getMaxCharSize(c.get()) == 1;
  // A piece at a time, to UTF-16 first (as ICU converts), then to UTF-8.
  std::vector<UChar> units(1 << 16);
  std::vector<std::int32_t> offsets(oneByte ? units.size() : 0);
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
                   oneByte ? offsets.data() : nullptr, true, &status);
    std::size_t n = static_cast<std::size_t>(target - units.data());
    for (std::size_t i = 0; oneByte && i < n; ++i)
      if (units[i] >= 0x80 && units[i] <= 0x9F && offsets[i] >= 0) {
        const Handed before = handOn(i);  // the text before it, then the byte
        if (before == Handed::kStopped) return std::nullopt;
        return before == Handed::kOn ? std::string(1, pieceStart[offsets[i]]) : std::string();
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
