#include "src/csv/csv_writer.h"

#include "events/text.h"
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
  // Also past white space and invisible characters before it (" =HYPERLINK(…)" went
  // out as it was: a reader that trims cells before it evaluates them would run it; a
  // review): whatever is drawn as nothing (variation selectors and tag characters
  // too, which trimText keeps for emoji: a review) and the C1 controls; and in their
  // full-width forms, which some spreadsheets take for the ASCII ones.
  static constexpr std::string_view kTriggers[] = {"=",  "+",      "-",      "@",      "\t",
                                                   "\r", "\uFF1D", "\uFF0B", "\uFF0D", "\uFF20"};
  auto startsWithTrigger = [](std::string_view s) {
    for (std::string_view trigger : kTriggers)
      if (s.starts_with(trigger)) return true;
    return false;
  };
  if (startsWithTrigger(cell)) return true;
  return startsWithTrigger(trimCodePoints(
      cell, [](char32_t c) { return drawnAsNothing(c) || (c >= 0x80 && c <= 0x9F); }));
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
