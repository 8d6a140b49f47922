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
  if (cell.empty()) return false;
  switch (cell.front()) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r':
      return true;
    default:
      return false;
  }
}

std::string inertCell(std::string_view cell) {
  if (isFormulaCell(cell)) return "'" + std::string(cell);
  return std::string(cell);
}

void CsvWriter::appendField(std::string& out, std::string_view field, bool formulaSafe) {
  const bool inert = formulaSafe && isFormulaCell(field);
  // An inert cell starts with neither a space nor a byte-order mark, so the apostrophe
  // does not change whether it needs quotes.
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
