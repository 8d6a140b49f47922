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

Utf8Text toUtf8(std::string_view bytes, const std::string& charset) {
  Utf8Text out;
  Converter c = open(std::string(trim(charset)));
  if (!c) {  // (not knownCharset: nothing of it is read)
    out.badBytes = std::string();
    return out;
  }
  UErrorCode status = U_ZERO_ERROR;
  // Stop at the first byte that is no character, rather than put U+FFFD (or the
  // charset's own substitute) in someone's name.
  ucnv_setToUCallBack(c.get(), UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &status);
  out.utf8.reserve(bytes.size() + bytes.size() / 4);
  // Converted a piece at a time (UTF-16 first, as ICU converts), so that a 64 MiB
  // file is not held a third time as UTF-16.
  std::vector<UChar> units(1 << 16);
  std::size_t carried = 0;  // a lead surrogate whose pair comes with the next piece
  const char* source = bytes.data();
  const char* const end = source + bytes.size();
  std::string piece;
  while (true) {
    UChar* target = units.data() + carried;
    status = U_ZERO_ERROR;
    ucnv_toUnicode(c.get(), &target, units.data() + units.size(), &source, end, nullptr, true,
                   &status);
    std::size_t n = static_cast<std::size_t>(target - units.data());
    carried = status == U_BUFFER_OVERFLOW_ERROR && n > 0 && U16_IS_LEAD(units[n - 1]) ? 1 : 0;
    n -= carried;
    UErrorCode utf8Status = U_ZERO_ERROR;
    std::int32_t length = 0;
    piece.resize(n * 3);
    u_strToUTF8(piece.data(), static_cast<std::int32_t>(piece.size()), &length, units.data(),
                static_cast<std::int32_t>(n), &utf8Status);
    if (U_FAILURE(utf8Status)) {  // (a lone surrogate, which the converters refuse already)
      out.badBytes = std::string();
      return out;
    }
    out.utf8.append(piece.data(), static_cast<std::size_t>(length));
    if (carried == 1) units[0] = units[n];
    if (status == U_BUFFER_OVERFLOW_ERROR) continue;
    if (U_FAILURE(status)) {
      char bad[32];
      std::int8_t size = sizeof bad;
      UErrorCode invalidStatus = U_ZERO_ERROR;
      ucnv_getInvalidChars(c.get(), bad, &size, &invalidStatus);
      out.badBytes = U_SUCCESS(invalidStatus) && size > 0
                         ? std::string(bad, static_cast<std::size_t>(size))
                         : std::string(source == end ? "" : std::string(source, 1));
    }
    return out;
  }
}

}  // namespace portal
