#pragma once
// An import file in the character set its request's Content-Type names, when that is
// not UTF-8 (`text/csv; charset=windows-1252`, as a program that exports a
// spreadsheet's "CSV" of Windows says it): read into UTF-8 with ICU's converters.

#include <optional>
#include <string>
#include <string_view>

namespace portal {

// Whether `charset` names UTF-8 or its subset ASCII ("utf-8", "UTF8", "us-ascii"):
// a file in it is read as it is.
bool isUtf8Charset(std::string_view charset);

// Whether ICU has a converter for `charset`, an IANA name or alias ("windows-1252",
// "latin1", "ISO-8859-15", "UTF-16", "Shift_JIS").
bool knownCharset(const std::string& charset);

struct Utf8Text {
  std::string utf8;  // the text, up to `badBytes` when there are some
  // The first bytes that are no character of the charset (a byte that it leaves
  // unassigned, a sequence cut short): nothing past them is read.
  std::optional<std::string> badBytes;
};

// `bytes` read as `charset` (knownCharset), a byte-order mark of UTF-16 or UTF-32
// dropped.
Utf8Text toUtf8(std::string_view bytes, const std::string& charset);

}  // namespace portal
