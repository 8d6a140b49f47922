#pragma once
// The batch import's file: the template's columns, the reading and checking of a file
// a spreadsheet saved, the error log and the templates an administrator downloads.
//
// readUserImport() checks everything that the file alone can tell (API.md, "Batch
// import"): the header (a missing, unknown or repeated column), every cell of every
// row (an empty mandatory cell, a malformed email, a bad "Is Active", an unknown
// country, text too long or not text), the same email twice in the file, and, with
// a lookup into the pool, managers that are neither in the pool nor in the file
// (a warning). Values with spaces around them are trimmed, with a warning. Whether an
// email is in the pool already is decided by the command processor when it creates
// the users, atomically with every other command: issueOfProblem() turns what it
// refuses into the same {row, column, value, message} as the file's own errors.
//
// Rows are those a spreadsheet shows: the header is row 1. Blank rows (no cell, or
// only empty cells, as spreadsheets save formatted but unused rows) are skipped.
// Reading streams through the CSV reader: memory follows the rows kept, not copies
// of the file.

#include <array>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "src/domain/commands.h"
#include "src/domain/countries.h"
#include "src/domain/rejection.h"

namespace portal {

// The template's columns, in their order.
inline constexpr std::array<std::string_view, 7> kImportColumns = {
    "Given Name", "Surname", "Email address", "Job title", "Manager's email address",
    "Is Active", "Country"};

// The templates' example rows.
inline constexpr std::array<std::array<std::string_view, 7>, 2> kImportExamples = {{
    {"Ada", "Lovelace", "ada.lovelace@example.com", "Analyst", "charles.babbage@example.com",
     "1", "United Kingdom"},
    {"Charles", "Babbage", "charles.babbage@example.com", "Head of engineering",
     "charles.babbage@example.com", "1", "GB"},
}};

// One error or warning, as the API and the error log show it.
struct ImportIssue {
  std::size_t row = 0;
  std::string column;  // a template column, or "Column N" past the last one
  std::string value;   // the cell as the file holds it
  std::string message;
  bool operator==(const ImportIssue&) const = default;
};

// A row with no error, its cells as the file holds them (the processor trims).
struct ImportRow {
  std::size_t row = 0;
  NewUserDetails details;
};

struct ImportReadOptions {
  std::size_t maxRows = 200'000;  // rows below the header; past it reading stops (tooManyRows)
  // Whether a user with this email is in the pool, and active; unset: managers are
  // not checked.
  enum class Member { kNone, kActive, kDeactivated };
  std::function<Member(std::string_view email)> inPool;
  // The character set the file is in, as its request's Content-Type names it
  // (knownCharset); empty or UTF-8's: read as UTF-8.
  std::string charset;
};

struct ImportFile {
  std::vector<ImportRow> rows;  // the rows without an error, in file order
  std::size_t userRows = 0;     // rows of users read, with or without errors
  std::vector<ImportIssue> errors;
  std::vector<ImportIssue> warnings;
  bool tooManyRows = false;
  char separator = ',';  // the file's: its error log is written with it
};

ImportFile readUserImport(std::string_view bytes, const CountryList& countries,
                          const ImportReadOptions& options = {});

// The template column that holds a field of NewUserDetails ("email" -> "Email
// address"); the field itself when it is none of them.
std::string_view importColumnOf(std::string_view field);

// A problem the processor found with an import ("row N: field", message) as an
// issue, its value taken from `rows` (sorted by row, as readUserImport leaves them).
// A problem that names no row becomes an issue of row 0.
ImportIssue issueOfProblem(const FieldProblem& problem, const std::vector<ImportRow>& rows);

// Sorts issues by row, then by the order of the template's columns (stable).
void sortIssues(std::vector<ImportIssue>& issues);

// Whether a warning says a manager is no active user of the pool (kManagerNotInPool,
// kManagerDeactivated): for the rows the processor creates, its own replace the
// file's, which read a view that may be behind.
bool isManagerPoolWarning(const ImportIssue& warning);

// The error log: a byte-order mark, "Row, Column, Value, Message", the errors and
// then the warnings (their message starting "Warning: "), each group in row order;
// formula cells made inert.
// Written with `separator`, the uploaded file's: a spreadsheet that saved the file
// with `;` (its locale's list separator) opens the log in columns too.
std::string importLogCsv(const std::vector<ImportIssue>& errors,
                         const std::vector<ImportIssue>& warnings, char separator = ',');

// The templates: the header and two example rows. The CSV starts with a byte-order
// mark so that spreadsheets read it as UTF-8. The workbook has the sheet
// "UsersAccounts" (the columns, the examples, lists to pick "Is Active" and
// "Country" from) and the sheet "Countries" (every country's name and code).
std::string importTemplateCsv();
// The workbook is written through a temporary file (libxlsxwriter writes files);
// an error says why it could not be.
Result<std::string> importTemplateXlsx(const CountryList& countries);

}  // namespace portal
