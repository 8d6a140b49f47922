#pragma once
// An import file in the character set its request's Content-Type names, when that is
// not UTF-8 (`text/csv; charset=windows-1252`, as a program that exports a
// spreadsheet's "CSV" of Windows says it): read into UTF-8 with ICU's converters.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace portal {

// ICU's name for the converter of `charset` ("UTF-8" for "utf8" and
// "unicode-1-1-utf-8", "ISO-8859-1" for "latin1"); nullopt when ICU has none.
std::optional<std::string> canonicalCharset(std::string_view charset);

// Whether `charset` names UTF-8 or its subset ASCII, by any of their names: a file in
// it is read as it is.
bool isUtf8Charset(std::string_view charset);

// Whether ICU has a converter for `charset`, an IANA name or alias ("windows-1252",
// "latin1", "ISO-8859-15", "UTF-16", "Shift_JIS").
bool knownCharset(const std::string& charset);

// The charset a file sent as `declared` is read in: its byte-order mark's when it has
// one (UTF-8's, UTF-16's or UTF-32's, either way round), as browsers decode (WHATWG
// Encoding, "BOM sniff"), else `declared`.
std::string charsetOfFile(std::string_view bytes, const std::string& declared);

// Reads `bytes` as `charset` (knownCharset; ICU's UTF-16 and UTF-32 drop a
// byte-order mark, UTF-16LE and the like keep it as U+FEFF, which the CSV reader
// skips), handing its text to `sink` as UTF-8 a piece at a time (at most 64 Ki
// characters: a 64 MiB file is not held again whole) for as long as `sink` returns
// true. Returns the first bytes that are no character of the charset (a byte it
// leaves unassigned, a sequence cut short; empty when ICU cannot name them), nothing
// of the text past them handed on; nullopt when every byte read was one.
std::optional<std::string> readAsUtf8(std::string_view bytes, const std::string& charset,
                                      const std::function<bool(std::string_view)>& sink);

}  // namespace portal
