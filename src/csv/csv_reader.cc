#include "src/csv/csv_reader.h"

#include <cstdio>

#include "events/text.h"

namespace portal {
namespace {

constexpr unsigned char kBom[3] = {0xEF, 0xBB, 0xBF};

std::string hexByte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

}  // namespace

std::string bytesNamed(std::string_view bytes) {
  std::string named = bytes.size() > 1 ? "bytes" : "byte";
  for (unsigned char b : bytes) named += " " + hexByte(b);
  return named;
}

CsvReader::CsvReader(CsvReaderOptions options) : options_(options) {}

std::size_t CsvReader::bufferCapacity() const {
  std::size_t total = 0;
  for (const std::string& f : record_.fields) total += f.capacity();
  return total;
}

Result<void> CsvReader::feed(std::string_view chunk, const CsvRecordSink& onRecord) {
  if (problem_ || finished_) return stoppedError();
  std::size_t i = 0;
  // The byte-order mark may arrive split over chunks; bytes that turn out not to be
  // one are read as the start of the file.
  while (!bomDecided_ && i < chunk.size()) {
    if (static_cast<unsigned char>(chunk[i]) == kBom[bomMatched_]) {
      ++i;
      if (++bomMatched_ == sizeof kBom) bomDecided_ = true;
    } else {
      bomDecided_ = true;
      for (std::uint8_t k = 0; k < bomMatched_; ++k)
        if (!step(static_cast<char>(kBom[k]), onRecord)) return stoppedError();
    }
  }
  for (; i < chunk.size(); ++i)
    if (!step(chunk[i], onRecord)) return stoppedError();
  return {};
}

Result<void> CsvReader::finish(const CsvRecordSink& onRecord) {
  if (problem_ || finished_) return stoppedError();
  if (!bomDecided_) {
    bomDecided_ = true;
    for (std::uint8_t k = 0; k < bomMatched_; ++k)
      if (!step(static_cast<char>(kBom[k]), onRecord)) return stoppedError();
  }
  const std::size_t column = state_ == State::kRecordStart ? 1 : fieldCount_;
  if (utf8Needed_ > 0) {
    fail(column, line_,
         "invalid UTF-8 (the file ends inside a character: " + bytesNamed(utf8Sequence_) + "); " +
             std::string(kSaveAsCsvUtf8));
    problem_->value = cellBeforeBrokenCharacter();
    return stoppedError();
  }
  switch (state_) {
    case State::kRecordStart:
      pendingBlanks_ = 0;  // trailing blank lines
      break;
    case State::kQuoted: {
      fail(fieldCount_, quoteLine_, "unterminated quote: the cell's closing quote is missing");
      // The cell's first line, to search the sheet for (the rest of the file ran into
      // it): a review saw an empty value.
      const std::string_view cell =
          field_ != nullptr ? std::string_view(*field_) : std::string_view();
      const std::size_t end = cell.find_first_of("\r\n");
      problem_->value =
          std::string(cell.substr(0, end)) + (end == std::string_view::npos ? "" : "\u2026");
      return stoppedError();
    }
    case State::kFieldStart:
    case State::kUnquoted:
    case State::kQuoteInQuoted:
      endRecord(onRecord);
      break;
  }
  finished_ = true;
  return {};
}

bool CsvReader::step(char c, const CsvRecordSink& onRecord) {
  const auto b = static_cast<unsigned char>(c);
  // A byte is checked as UTF-8 before its meaning is looked at, so a sequence cut
  // short by a separator is reported in the field it started in.
  if (!acceptUtf8(b)) {
    // The bytes of the broken character, from its first. A byte that cannot go on
    // one and starts a character of its own (0xE9 of Windows-1252's é before a
    // comma) is not said: "bytes 0xE9 0x2C" read as two bad bytes (a review).
    const bool ownStart = !utf8Sequence_.empty() && (b < 0x80 || b >= 0xC0);
    const std::string bytes = ownStart ? utf8Sequence_ : utf8Sequence_ + static_cast<char>(b);
    const std::size_t column = state_ == State::kRecordStart ? 1 : fieldCount_;
    // A UTF-16 byte-order mark (Excel's "Unicode Text"): said as such.
    if (line_ == 1 && state_ == State::kRecordStart && utf8Sequence_.empty() &&
        (b == 0xFF || b == 0xFE))
      return fail(column, line_,
                  "the file is UTF-16 (as Excel saves \"Unicode Text\"), not UTF-8; " +
                      std::string(kSaveAsCsvUtf8));
    fail(column, line_,
         "invalid UTF-8 (" + bytesNamed(bytes) + "); " + std::string(kSaveAsCsvUtf8));
    problem_->value = cellBeforeBrokenCharacter();
    return false;
  }
  const std::size_t byteLine = line_;
  byteLine_ = byteLine;
  if (c == '\r' || (c == '\n' && !previousWasCr_)) ++line_;
  previousWasCr_ = c == '\r';

  switch (state_) {
    case State::kRecordStart: {
      const bool lfOfCrlf = c == '\n' && swallowLf_;
      swallowLf_ = false;
      if (lfOfCrlf) return true;
      if (c == '\r' || c == '\n') {
        // A blank line; whether it is a record depends on what follows it.
        if (pendingBlanks_++ == 0) {
          firstBlankRow_ = row_ + 1;
          firstBlankLine_ = byteLine;
        }
        ++row_;
        swallowLf_ = c == '\r';
        return true;
      }
      beginRecord(byteLine, onRecord);
      [[fallthrough]];
    }
    case State::kFieldStart:
      if (c == '"') {
        state_ = State::kQuoted;
        quoteLine_ = byteLine;
        return true;
      }
      state_ = State::kUnquoted;
      return unquotedByte(c, onRecord);
    case State::kUnquoted:
      return unquotedByte(c, onRecord);
    case State::kQuoted:
      if (c == '"') {
        state_ = State::kQuoteInQuoted;
        return true;
      }
      return append(c);
    case State::kQuoteInQuoted:
      if (c == '"') {
        state_ = State::kQuoted;
        return append(c);
      }
      // The quote closed the quoted part; what follows up to the separator is kept.
      state_ = State::kUnquoted;
      return unquotedByte(c, onRecord);
  }
  return true;
}

bool CsvReader::unquotedByte(char c, const CsvRecordSink& onRecord) {
  if (isSeparator(c)) {
    if (!countByte()) return false;
    openField();
    state_ = State::kFieldStart;
    return true;
  }
  if (c == '\r' || c == '\n') {
    endRecord(onRecord);
    swallowLf_ = c == '\r';
    return true;
  }
  if (!append(c)) return false;
  // A byte-order mark that starts a record is where a second file was joined on: no
  // part of the first cell, and a quote after it opens a quoted cell (a review: the
  // joined file's `"Bo","Ray"` made a user called "Bo" with its quotes).
  if (fieldCount_ == 1 && field_->size() == kByteOrderMark.size() && *field_ == kByteOrderMark) {
    field_->clear();
    state_ = State::kFieldStart;
  }
  return true;
}

bool CsvReader::acceptUtf8(unsigned char b) {
  if (utf8Needed_ == 0) {
    if (b < 0x80) return true;
    utf8Sequence_.assign(1, static_cast<char>(b));
    // The ranges of RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
    if (b >= 0xC2 && b <= 0xDF) {
      utf8Needed_ = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      utf8Needed_ = 2;
      if (b == 0xE0) utf8Low_ = 0xA0;
      if (b == 0xED) utf8High_ = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      utf8Needed_ = 3;
      if (b == 0xF0) utf8Low_ = 0x90;
      if (b == 0xF4) utf8High_ = 0x8F;
    } else {
      utf8Sequence_.clear();
      return false;
    }
    return true;
  }
  if (b < utf8Low_ || b > utf8High_) return false;
  utf8Sequence_.push_back(static_cast<char>(b));
  --utf8Needed_;
  utf8Low_ = 0x80;
  utf8High_ = 0xBF;
  return true;
}

// The cell as far as it was read, the broken character as U+FFFD: "M\uFFFD" for
// Windows-1252's "Müller", which the administrator can find in the sheet.
std::string CsvReader::cellBeforeBrokenCharacter() const {
  std::string_view before;
  if (state_ != State::kRecordStart && field_ != nullptr) before = *field_;
  if (before.ends_with(utf8Sequence_))
    before.remove_suffix(utf8Sequence_.size());  // its first bytes
  return std::string(before) + "\uFFFD";
}

bool CsvReader::isSeparator(char c) {
  if (separator_ != '\0') return c == separator_;
  if (c != ',' && c != ';') return false;
  separator_ = c;
  return true;
}

bool CsvReader::countByte() {
  if (++recordBytes_ <= options_.maxRecordBytes) return true;
  // Inside quotes the line of the open quote, where the mistake most likely is.
  const bool quoted = state_ == State::kQuoted || state_ == State::kQuoteInQuoted;
  return fail(fieldCount_, quoted ? quoteLine_ : byteLine_,
              "the record is longer than " + std::to_string(options_.maxRecordBytes) +
                  " bytes (is a quote left open?)");
}

bool CsvReader::append(char c) {
  if (!countByte()) return false;
  field_->push_back(c);
  return true;
}

void CsvReader::openField() {
  if (fieldCount_ < record_.fields.size())
    record_.fields[fieldCount_].clear();
  else
    record_.fields.emplace_back();
  field_ = &record_.fields[fieldCount_];
  ++fieldCount_;
}

void CsvReader::beginRecord(std::size_t line, const CsvRecordSink& onRecord) {
  // The blank lines before this record are in the middle of the file after all.
  for (std::size_t k = 0; k < pendingBlanks_; ++k) {
    blank_.row = firstBlankRow_ + k;
    blank_.line = firstBlankLine_ + k;
    blank_.fields.clear();
    onRecord(blank_);
  }
  pendingBlanks_ = 0;
  ++row_;
  record_.row = row_;
  record_.line = line;
  fieldCount_ = 0;
  recordBytes_ = 0;
  openField();
}

void CsvReader::endRecord(const CsvRecordSink& onRecord) {
  // A line of nothing but spaces does not decide the separator: the header after it
  // does (the file check skips such a line as blank).
  if (separator_ == '\0' && !(fieldCount_ == 1 && trim(record_.fields[0]).empty())) separator_ = ',';
  record_.fields.resize(fieldCount_);
  state_ = State::kRecordStart;
  onRecord(record_);
  // The sink may have moved the fields out; the next record starts afresh either way.
  fieldCount_ = 0;
  field_ = nullptr;
}

bool CsvReader::fail(std::size_t column, std::size_t line, const std::string& what) {
  const std::size_t row = state_ == State::kRecordStart ? row_ + 1 : record_.row;
  std::string message = "row " + std::to_string(row) + ", column " + std::to_string(column);
  if (line != row) message += " (line " + std::to_string(line) + ")";
  message += ": " + what;
  problem_ = CsvProblem{row, column, line, std::move(message), {}};
  return false;
}

Error CsvReader::stoppedError() const {
  if (problem_) return makeError(ErrorCode::kInvalidArgument, problem_->message);
  return makeError(ErrorCode::kInvalidArgument, "the CSV reader was used after finish()");
}

Result<void> readCsv(std::string_view bytes, const CsvRecordSink& onRecord,
                     CsvReaderOptions options) {
  CsvReader reader(options);
  if (auto fed = reader.feed(bytes, onRecord); !fed) return fed;
  return reader.finish(onRecord);
}

}  // namespace portal
