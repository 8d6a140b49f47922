#include "src/csv/csv_writer.h"

#include "src/csv/csv_reader.h"

namespace portal {
namespace {

bool needsQuotes(std::string_view field) {
  if (field.empty()) return false;
  if (field.front() == ' ' || field.back() == ' ') return true;
  if (field.starts_with(kByteOrderMark)) return true;
  return field.find_first_of(",;\"\r\n") != std::string_view::npos;
}

}  // namespace

bool isFormulaCell(std::string_view cell) {
  // Past spaces and invisible characters before it (" =HYPERLINK(…)" went out as it
  // was: a reader that trims cells before it evaluates them would run it; a review),
  // and in their full-width forms, which some spreadsheets take for the ASCII ones.
  static constexpr std::string_view kBlanks[] = {
      " ",
      "\u00A0",  // no-break space
      "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006",
      "\u2007", "\u2008", "\u2009", "\u200A",            // the typographic spaces
      "\u200B", "\u200C", "\u200D", "\u200E", "\u200F",  // zero-width and direction marks
      "\u2028", "\u2029", "\u202F", "\u205F", "\u2060", "\u3000", "\uFEFF"};
  static constexpr std::string_view kTriggers[] = {"=",  "+",      "-",      "@",      "\t",
                                                   "\r", "\uFF1D", "\uFF0B", "\uFF0D", "\uFF20"};
  for (bool skipped = true; skipped && !cell.empty();) {
    skipped = false;
    for (std::string_view blank : kBlanks)
      if (cell.starts_with(blank)) {
        cell.remove_prefix(blank.size());
        skipped = true;
        break;
      }
  }
  for (std::string_view trigger : kTriggers)
    if (cell.starts_with(trigger)) return true;
  return false;
}

std::string inertCell(std::string_view cell) {
  if (isFormulaCell(cell)) return "'" + std::string(cell);
  return std::string(cell);
}

void CsvWriter::appendField(std::string& out, std::string_view field, bool formulaSafe) {
  const bool inert = formulaSafe && isFormulaCell(field);
  // Quoted as the field itself would be: an apostrophe in front of a leading space or
  // byte-order mark makes quotes needless, not wrong.
  const bool quoted = needsQuotes(field);
  if (quoted) out.push_back('"');
  if (inert) out.push_back('\'');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  if (quoted) out.push_back('"');
}

void CsvWriter::begin(std::string& out) {
  if (started_) return;
  started_ = true;
  if (options_.byteOrderMark) out.append(kByteOrderMark);
}

void CsvWriter::end(std::string& out, std::size_t fieldCount, std::string_view onlyField) {
  // One empty field (or none) would leave a blank line, which readers skip.
  if (fieldCount <= 1 && onlyField.empty()) out.append("\"\"");
  out.append("\r\n");
}

}  // namespace portal
