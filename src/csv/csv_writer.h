#pragma once
// Writes CSV as spreadsheets read it: fields separated by `,` (or `;`), records ended
// by CRLF, a field quoted (inner quotes doubled) when it holds `,`, `;`, `"`, CR or
// LF, starts or ends with a space, or starts with a byte-order mark. Both separators
// are quoted whichever is in use, because a reader that takes the separator from the
// header (CsvReader, spreadsheets in many locales) would otherwise split a one-column
// header at the other; a leading byte-order mark would be taken for the file's own. A record of one
// empty field is written as "" so that it is not a blank line; so is a record of no fields.
//
// Formula safety (OWASP, "CSV Injection"): a cell that a spreadsheet would run as a
// formula, one starting with `=`, `+`, `-`, `@`, tab or CR (after any spaces or
// invisible characters, and in their full-width forms too), is written with a leading
// apostrophe, which the spreadsheet shows as text. This also changes negative numbers
// ("-5" becomes "'-5"); files meant for people, such as an import's error log, want
// that; a file meant for another program may switch it off.
//
// Appends to a caller's string, so the caller decides when to send or write the bytes
// (and may clear the string between records). Not thread-safe.

#include <initializer_list>
#include <string>
#include <string_view>

namespace portal {

// Whether a spreadsheet would run `cell` as a formula.
bool isFormulaCell(std::string_view cell);

// `cell` with a leading apostrophe when it is a formula cell; otherwise as it is.
std::string inertCell(std::string_view cell);

struct CsvWriterOptions {
  bool byteOrderMark = false;  // U+FEFF before the first record: Excel then reads UTF-8
  bool formulaSafe = true;     // formula cells are written inert (inertCell)
  char separator = ',';        // or ';', as spreadsheets in many locales write and read
};

class CsvWriter {
 public:
  explicit CsvWriter(CsvWriterOptions options = {}) : options_(options) {}

  // Appends one record and its CRLF to `out` (the byte-order mark first, if asked and
  // this is the first record). `fields` is any range of things convertible to
  // std::string_view: a vector of strings, an array of string_views.
  template <class Fields>
  void writeRecord(std::string& out, const Fields& fields) {
    begin(out);
    std::size_t n = 0;
    for (const auto& field : fields) {
      if (n++ > 0) out.push_back(options_.separator);
      appendField(out, std::string_view(field), options_.formulaSafe);
    }
    end(out, n, n == 1 ? std::string_view(*std::begin(fields)) : std::string_view());
  }
  void writeRecord(std::string& out, std::initializer_list<std::string_view> fields) {
    writeRecord<std::initializer_list<std::string_view>>(out, fields);
  }

  // Appends one field as it is written inside a record (quoted if need be), without a
  // separator.
  static void appendField(std::string& out, std::string_view field, bool formulaSafe);

 private:
  void begin(std::string& out);
  void end(std::string& out, std::size_t fieldCount, std::string_view onlyField);

  CsvWriterOptions options_;
  bool started_ = false;
};

}  // namespace portal
