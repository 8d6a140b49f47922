#pragma once
// A streaming CSV reader (RFC 4180) for what spreadsheets write when they save
// "CSV UTF-8". Bytes are fed in chunks of any size; each complete record is handed to
// a callback as soon as its last byte has arrived. Memory is proportional to the
// longest record, not to the file: the reader keeps one record's fields and a few
// bytes of state.
//
// What it accepts:
// - A UTF-8 byte-order mark at the very start is skipped, and so is one that starts
//   a later record (a second file joined on): a quote after it opens a quoted field.
// - Lines end in CRLF, LF or a lone CR, mixed freely; each counts as one line break.
// - Quoted fields hold separators, doubled quotes ("") and line breaks, which are kept
//   as they are in the file (a CRLF inside a cell stays CRLF).
// - The separator is `,` or `;`: the first of them outside quotes in the first
//   non-blank record (the header) decides, and from then on only that one separates
//   (so with `;`, "1,5" is one field). `,` when the header holds neither.
// - A quote inside an unquoted field (O"Brien) is kept literally, as spreadsheets do,
//   instead of refusing the file; so is text after a closing quote ("ab"c reads abc).
// - Blank lines (no byte between two line breaks) at the end of the file are ignored.
//   Blank lines before a later record are reported as records with no fields, each
//   with its own row, so that row numbers stay those a spreadsheet shows; what to do
//   with them (skip them, or complain) is the caller's decision.
//
// Rows and columns are what a person sees in a spreadsheet: the row is the 1-based
// record number (the header is row 1, a blank line counts as a row), the column the
// 1-based field number. A record's `line` is the physical line of the file it starts
// on, which differs from the row once a cell has held a line break.
//
// Errors are values: invalid UTF-8 (row and column of the first bad byte), a quote
// still open at the end of input, a record longer than `maxRecordBytes`. The first
// error stops the reader: feed() and finish() return it again from then on, and
// problem() gives its row, column and line.
//
// Not thread-safe: one reader belongs to one thread at a time. Cheap to construct; one
// reader reads one file.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace portal {

// UTF-8's byte-order mark, which "CSV UTF-8" files start with.
inline constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// What a file that is not UTF-8 is told to do, in the words of the programs that
// save one: Excel's menu, and LibreOffice's dialogue, whose default character set
// is Windows-1252 (a review with LibreOffice 7.4 found "CSV UTF-8" in no menu of it).
inline constexpr std::string_view kSaveAsCsvUtf8 =
    "save the file as \"CSV UTF-8\" (in LibreOffice: Text CSV with the character set "
    "\"Unicode (UTF-8)\")";

// "byte 0xE9" or "bytes 0xE6 0x97": a broken character's bytes, as an error names them.
std::string bytesNamed(std::string_view bytes);

struct CsvRecord {
  std::size_t row = 0;              // 1-based record number; the header is row 1
  std::size_t line = 0;             // 1-based physical line of the file the record starts on
  std::vector<std::string> fields;  // empty for a blank line
};

// Where reading stopped, for people and for an import's error list.
struct CsvProblem {
  std::size_t row = 0;
  std::size_t column = 0;  // 1-based field number
  std::size_t line = 0;    // physical line of the offending byte (or of the open quote)
  std::string message;     // the same as the Error's: "row 3, column 2: invalid UTF-8 ..."
  // Invalid UTF-8: the cell's text before the broken character, then U+FFFD. An
  // unterminated quote: the cell's first line (and "…" when more of the file ran in).
  std::string value;
};

struct CsvReaderOptions {
  // A record whose fields and separators take more bytes than this is an error (the
  // quotes around fields and the line break at its end do not count).
  // Bounds memory when a stray quote would otherwise swallow the rest of the file.
  std::size_t maxRecordBytes = 1 << 20;
};

// Receives each record. The record belongs to the reader, which reuses its buffers for
// the next one: copy or move out (std::move(record.fields)) what must outlive the call.
using CsvRecordSink = std::function<void(CsvRecord&)>;

class CsvReader {
 public:
  explicit CsvReader(CsvReaderOptions options = {});
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads `chunk`, the next bytes of the file, calling `onRecord` for every record it
  // completes. An error (code kInvalidArgument) stops the reader.
  Result<void> feed(std::string_view chunk, const CsvRecordSink& onRecord);

  // The end of the file: hands over the last record if it has no line break after it,
  // drops trailing blank lines, and reports a quote left open or a UTF-8 sequence cut
  // short. Call it once, after the last feed(); the reader is then spent.
  Result<void> finish(const CsvRecordSink& onRecord);

  // The separator in use: ',' or ';', or '\0' while the header is still undecided.
  char separator() const { return separator_; }

  // The error that stopped the reader, if any.
  const std::optional<CsvProblem>& problem() const { return problem_; }

  // Bytes the reader holds for the record it is building (the capacity of its field
  // buffers), to check that memory follows the longest record and not the file.
  std::size_t bufferCapacity() const;

 private:
  enum class State : std::uint8_t {
    kRecordStart,    // no byte of the current record yet
    kFieldStart,     // after a separator
    kUnquoted,       // inside an unquoted field (or after a quoted part)
    kQuoted,         // inside quotes
    kQuoteInQuoted,  // a quote inside quotes: the closing one, or the first of ""
  };

  bool step(char c, const CsvRecordSink& onRecord);
  bool unquotedByte(char c, const CsvRecordSink& onRecord);
  bool acceptUtf8(unsigned char b);
  std::string cellBeforeBrokenCharacter() const;
  bool isSeparator(char c);
  bool countByte();
  bool append(char c);
  void openField();
  void beginRecord(std::size_t line, const CsvRecordSink& onRecord);
  void endRecord(const CsvRecordSink& onRecord);
  bool fail(std::size_t column, std::size_t line, const std::string& what);
  Error stoppedError() const;

  CsvReaderOptions options_;
  State state_ = State::kRecordStart;
  char separator_ = '\0';
  bool finished_ = false;

  std::uint8_t bomMatched_ = 0;  // bytes of EF BB BF seen at the start
  bool bomDecided_ = false;

  // UTF-8 validation: continuation bytes still expected and the range of the next one.
  std::uint8_t utf8Needed_ = 0;
  std::string utf8Sequence_;  // the bytes of the character being read, for an error
  unsigned char utf8Low_ = 0x80;
  unsigned char utf8High_ = 0xBF;

  std::size_t line_ = 1;           // physical line of the next byte
  bool previousWasCr_ = false;     // for counting CRLF as one line break
  bool swallowLf_ = false;         // the record ended on CR; an LF right after belongs to it
  std::size_t row_ = 0;            // records begun so far, blank ones included
  std::size_t pendingBlanks_ = 0;  // blank lines not yet known to be followed by a record
  std::size_t firstBlankRow_ = 0;
  std::size_t firstBlankLine_ = 0;
  std::size_t quoteLine_ = 0;  // where the open quote started

  CsvRecord record_;
  std::size_t fieldCount_ = 0;  // fields of record_ in use; the rest keep their buffers
  std::string* field_ = nullptr;
  std::size_t recordBytes_ = 0;  // fields and separators of the current record
  std::size_t byteLine_ = 1;     // physical line of the byte being read
  CsvRecord blank_;
  std::optional<CsvProblem> problem_;
};

// Reads a whole file held in memory: feed() once, then finish().
Result<void> readCsv(std::string_view bytes, const CsvRecordSink& onRecord,
                     CsvReaderOptions options = {});

}  // namespace portal
