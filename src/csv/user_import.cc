#include "src/csv/user_import.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "events/json_writer.h"
#include "events/text.h"
#include "src/csv/charset.h"
#include "src/csv/csv_reader.h"
#include "src/csv/csv_writer.h"
#include "src/domain/user_details.h"

namespace portal {
namespace {

enum Column : std::size_t { kGiven, kSurname, kEmail, kJob, kManager, kActive, kCountry, kNone };

// The NewUserDetails field each template column fills, in the columns' order.
constexpr std::array<std::string_view, 7> kFields = {
    "givenName", "surname", "email", "jobTitle", "managerEmail", "active", "country"};

// A template column's place in kImportColumns; its size for any other name.
std::size_t columnOrder(std::string_view column) {
  return static_cast<std::size_t>(std::find(kImportColumns.begin(), kImportColumns.end(), column) -
                                  kImportColumns.begin());
}

// A column as spreadsheets name it, by letters: 0 is "Column A", 26 "Column AA".
std::string nthColumn(std::size_t index) {
  std::string letters;
  for (std::size_t n = index + 1; n > 0; n = (n - 1) / 26)
    letters.insert(letters.begin(), static_cast<char>('A' + (n - 1) % 26));
  return "Column " + letters;
}

// The length of the line break (isLineBreak; CRLF is one) at the front of `text`
// (not empty), or 0.
std::size_t lineBreakAt(std::string_view text) {
  if (text.size() > 1 && text[0] == '\r' && text[1] == '\n') return 2;
  char32_t c = static_cast<unsigned char>(text[0]);
  const std::size_t n = c < 0x80 ? 1 : decodeUtf8(text, c);
  return n > 0 && isLineBreak(c) ? n : 0;
}

// `text` with each line break as one space; nullopt when it has none (most cells:
// found with one scan for the bytes a line break starts with).
std::optional<std::string> oneLine(std::string_view text) {
  std::size_t i = text.find_first_of("\r\n\xC2\xE2");  // the first bytes of isLineBreak's
  if (i == std::string_view::npos) return std::nullopt;
  std::optional<std::string> out;
  while (i < text.size()) {
    if (const std::size_t n = lineBreakAt(text.substr(i))) {
      if (!out) out = std::string(text.substr(0, i));
      out->push_back(' ');
      i += n;
    } else {
      if (out) out->push_back(text[i]);
      ++i;
    }
  }
  return out;
}

// A problem's message as a sentence: capitalized, with a full stop.
std::string sentence(std::string message) {
  if (!message.empty() && message[0] >= 'a' && message[0] <= 'z') message[0] -= 'a' - 'A';
  if (!message.empty() && message.back() != '.' && message.back() != '?') message += '.';
  return message;
}

bool isExampleEmail(std::string_view email) {
  const std::string key = emailKey(email);
  return std::any_of(kImportExamples.begin(), kImportExamples.end(),
                     [&](const auto& example) { return example[kEmail] == key; });
}

// A header cell as it is compared with the template's names: case set aside (as
// lookupKey does), and ASCII characters that are no letter or digit, so that "Managers email
// address", " Job  title" and "E-mail address" are the columns they mean (a review
// got two errors for each, one "missing" and one "not a column").
std::string columnKey(std::string_view cell) {
  std::string key = lookupKey(cell);
  std::erase_if(key, [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x80 && !((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z'));
  });
  return key;
}

// The template's column names as a header cell's columnKey() gives them, made once.
const std::array<std::string, kImportColumns.size()>& columnKeys() {
  static const auto keys = [] {
    std::array<std::string, kImportColumns.size()> k;
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = columnKey(kImportColumns[i]);
    return k;
  }();
  return keys;
}

// Whether a cell holds what a spreadsheet shows for a formula that failed (Excel's,
// LibreOffice's and Google Sheets' error values: `#N/A` from a VLOOKUP that found
// nothing, `Err:502`), which a file saved from it carries as text.
bool isSpreadsheetError(std::string_view cell) {
  if (cell.size() < 4 || (cell[0] != '#' && cell[0] != 'E' && cell[0] != 'e')) return false;
  static constexpr std::array<std::string_view, 17> kErrors = {
      "#n/a",   "#ref!",     "#name?",        "#value!",   "#div/0!", "#num!",
      "#null!", "#spill!",   "#calc!",        "#field!",   "#error!", "#blocked!",
      "#busy!", "#connect!", "#getting_data", "#unknown!", "#python!"};
  const std::string lower = asciiLower(cell);
  if (std::find(kErrors.begin(), kErrors.end(), lower) != kErrors.end()) return true;
  // LibreOffice: "Err:" and a number (Err:502, an invalid argument).
  return lower.size() > 4 && lower.size() <= 7 && lower.starts_with("err:") &&
         lower.find_first_not_of("0123456789", 4) == std::string::npos;
}

using Member = ImportReadOptions::Member;

class FileChecker {
 public:
  FileChecker(const CountryList& countries, const ImportReadOptions& options, ImportFile& out)
      : countries_(countries), options_(options), out_(out) {}

  // `separator`: the file's, as the reader found it.
  void record(CsvRecord& r, char separator) {
    separator_ = separator;
    if (out_.tooManyRows) return;
    r.row -= rowsHidden_;
    // A blank row: cells of white space of any script or invisible characters alone
    // (no-break spaces pasted from a web table), as a cell of them alone is blank.
    if (std::all_of(r.fields.begin(), r.fields.end(),
                    [](const std::string& f) { return trimText(f).empty(); }))
      return;
    if (!headerRow_) {
      // Excel reads it and does not show it: the header is its row 1, and the rows
      // are numbered as the administrator sees them there.
      if (isSeparatorLine(r)) {
        rowsHidden_ = 1;
        return;
      }
      return header(r);
    }
    if (isHeaderAgain(r)) {
      out_.warnings.push_back({r.row, "", "",
                               "The header row is here again (two files joined?); the row was "
                               "skipped."});
      return;
    }
    if (++out_.userRows > options_.maxRows) {
      out_.tooManyRows = true;
      return;
    }
    if (!rowsUnchecked_) return userRow(r);
    // A file whose first row was no header: its header further down (a title row
    // above it, as sheets made for printing have) is named in that error.
    if (headerLater_ && *headerLater_ < out_.errors.size() && namesColumns(r.fields) >= 2) {
      out_.errors[*headerLater_].message =
          "The first row is not the header row: the header row is row " + std::to_string(r.row) +
          "; delete the rows above it, so that the file begins with it.";
      headerLater_.reset();
    }
  }

  void readingStopped(const CsvProblem& p) {
    // A UTF-16 file said to be one: its bytes past ASCII are no UTF-8, and no row of
    // it was read as meant (an error for them would be a second, misleading one).
    if (utf16_) return;
    const std::size_t colon = p.message.find(": ");
    std::string what = colon == std::string::npos ? p.message : p.message.substr(colon + 2);
    const std::size_t row = p.row - std::min(p.row, rowsHidden_);
    if (p.line != row) what += " (line " + std::to_string(p.line) + " of the file)";
    out_.errors.push_back(
        {row, columnName(p.column == 0 ? 0 : p.column - 1), p.value, sentence(what)});
  }

  void finish() {
    out_.userRows -= noUserRows_;
    // A file the reader stopped in (invalid UTF-8, say) has its error already: it is
    // not also empty or without users.
    if (!headerRow_ && !out_.errors.empty()) return;
    if (!headerRow_) {
      out_.errors.push_back({1, "", "",
                             "The file is empty: it needs the header row and a row for each "
                             "user."});
      return;
    }
    if (out_.userRows == 0 && out_.errors.empty()) {
      out_.errors.push_back({*headerRow_ + 1, "", "",
                             "The file holds no users: add a row for each user below the "
                             "header row."});
      return;
    }
    for (const HeadlessReport& f : filledDown_)
      if (f.rowsBelow > 0)
        out_.errors[f.error].message = sentence(
            f.message + ", and so " +
            (f.rowsBelow == 1 ? std::string("does the row below it")
                              : "do the " + std::to_string(f.rowsBelow) + " rows below it") +
            " (to row " + std::to_string(f.lastRow) + "): delete them");
    for (const HeadlessReport& h : headlessReports_)
      if (h.rowsBelow > 0)
        out_.errors[h.error].message =
            sentence(h.message + "; " +
                     (h.rowsBelow == 1 ? std::string("1 more row below has")
                                       : std::to_string(h.rowsBelow) + " more rows below have") +
                     " values there too. Give the column a header of the template, or delete it");
    checkManagers();
  }

 private:
  // An error for values in columns without a header, and how many rows below it
  // have values in those columns too.
  struct HeadlessReport {
    std::size_t error;    // its index in out_.errors
    std::string message;  // as first made
    std::size_t rowsBelow = 0;
    std::size_t lastRow = 0;  // the last row counted (or the first, its own)
  };
  static constexpr std::size_t kNoReport = static_cast<std::size_t>(-1);
  static constexpr std::size_t kHeaderCellsShown = 20;

  // Whether a cell names a column of the template (as a header cell is read).
  static bool namesColumn(std::string_view cell) {
    return std::find(columnKeys().begin(), columnKeys().end(), columnKey(cell)) !=
           columnKeys().end();
  }

  // True when `cell`, cut at its tabs, names two columns of the template (one
  // column's name with a tab pasted at its edge is that column: a review).
  static bool namesColumnsBetweenTabs(std::string_view cell) {
    cell = trimText(cell);
    if (cell.find('\t') == std::string_view::npos) return false;
    int named = 0;
    for (std::size_t start = 0; start <= cell.size();) {
      const std::size_t tab = std::min(cell.find('\t', start), cell.size());
      named += namesColumn(cell.substr(start, tab - start));
      start = tab + 1;
    }
    return named >= 2;
  }

  // Excel's "sep=;" line before the header (files made for Excel, which reads it to
  // know the separator): the reader took its separator from it, and it is no header.
  static bool isSeparatorLine(const CsvRecord& r) {
    if (r.fields.size() != 2 || !r.fields[1].empty()) return false;
    return asciiLower(r.fields[0]) == "sep=";
  }

  // How many columns of the template a row's cells name.
  static std::size_t namesColumns(const std::vector<std::string>& fields) {
    return static_cast<std::size_t>(std::count_if(
        fields.begin(), fields.end(), [](const std::string& f) { return namesColumn(f); }));
  }

  // A row that names every column the header named, in the same places: the header
  // of a second file joined on. (No user is called "Email address" at that address.)
  bool isHeaderAgain(const CsvRecord& r) const {
    bool named = false;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == kNone) continue;
      if (i >= r.fields.size() || columnKey(r.fields[i]) != columnKeys()[columns_[i]]) return false;
      named = true;
    }
    return named;
  }

  void header(const CsvRecord& r) {
    headerRow_ = r.row;
    headerCells_ = r.fields;
    columns_.assign(r.fields.size(), kNone);
    const std::size_t errorsBefore = out_.errors.size();
    // UTF-16 without a byte-order mark: a NUL beside each ASCII character, which the
    // header's names were read through (a review got 25 errors of control characters).
    if (std::any_of(r.fields.begin(), r.fields.end(),
                    [](const std::string& f) { return f.find('\0') != std::string::npos; })) {
      error(r.row, "", "",
            "the file is UTF-16 (as Excel saves \"Unicode Text\"), not UTF-8; " +
                std::string(kSaveAsCsvUtf8));
      rowsUnchecked_ = utf16_ = true;
      return;
    }
    // A file separated by tabs (Excel's "Text (Tab delimited)"): the template's
    // columns in one cell with tabs between them. Said once, and no row is checked:
    // a review got seven columns "missing" before the one error that said why.
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      if (!namesColumnsBetweenTabs(r.fields[i])) continue;
      error(r.row, nthColumn(i), r.fields[i],
            "holds the template's columns separated by tabs: the file was saved as \"Text\" or "
            "\"Unicode Text\", not as comma-separated values; " +
                std::string(kSaveAsCsvUtf8));
      rowsUnchecked_ = true;
      return;
    }
    std::array<std::optional<std::size_t>, 7> seen;
    // The first kHeaderCellsShown cells that name no column, or one named before, each
    // get an error; the others one together, at the first of them (a review: a header
    // of 500,000 unknown names gave 500,000 errors and an 81 MB log, where a data row
    // of as many stray values gives one).
    std::size_t refusedCells = 0;
    std::optional<std::size_t> firstUnshown;
    auto refuseCell = [&](std::size_t i, std::string message) {
      if (++refusedCells <= kHeaderCellsShown)
        return error(r.row, nthColumn(i), r.fields[i], message);
      if (!firstUnshown) firstUnshown = i;
    };
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      const std::string_view name = r.fields[i];
      const std::string key = columnKey(name);
      // A column without a header: its cells must stay empty. (One headed by
      // punctuation alone, "#", is a header that names no column.)
      if (key.empty() && trimText(name).empty()) continue;
      std::size_t k = 0;
      while (k < kImportColumns.size() && columnKeys()[k] != key) ++k;
      if (k == kImportColumns.size()) {
        refuseCell(
            i, name.find('\t') != std::string_view::npos
                   ? "holds tabs: the file is separated by tabs (saved as \"Text\" or "
                     "\"Unicode Text\"), not by commas; " +
                         std::string(kSaveAsCsvUtf8)
                   : "is not a column of the template, whose columns are: " + templateColumns());
      } else if (seen[k]) {
        refuseCell(i, "repeats the column \"" + std::string(kImportColumns[k]) + "\" (" +
                          nthColumn(*seen[k]) + ")");
      } else {
        seen[k] = i;
        columns_[i] = static_cast<Column>(k);
      }
    }
    if (firstUnshown) {
      const std::size_t more = refusedCells - kHeaderCellsShown;
      error(r.row, nthColumn(*firstUnshown), r.fields[*firstUnshown],
            "is not a column of the template or repeats one" +
                (more == 1 ? std::string()
                           : ", and so are " + std::to_string(more - 1) +
                                 " more cells of the header row") +
                ": the header row holds the template's columns only, once each");
    }
    // Not one column of the template, nor tabs: a file without its header row, whose
    // first user was read as one (a review got 14 errors, none saying so). One error,
    // and no row is checked.
    if (std::none_of(seen.begin(), seen.end(), [](const auto& k) { return k.has_value(); }) &&
        std::none_of(r.fields.begin(), r.fields.end(),
                     [](const std::string& f) { return f.find('\t') != std::string::npos; })) {
      out_.errors.resize(errorsBefore);
      headerLater_ = out_.errors.size();
      out_.errors.push_back({r.row, "", "",
                             "The first row is not the header row: the file must begin with the "
                             "template's header row, whose columns are: " +
                                 templateColumns() + "."});
      rowsUnchecked_ = true;
      ++out_.userRows;  // the first user's row, read as the header
      return;
    }
    for (std::size_t k = 0; k < kImportColumns.size(); ++k) {
      present_[k] = seen[k].has_value();
      if (!seen[k])
        out_.errors.push_back({r.row, std::string(kImportColumns[k]), "",
                               "The column is missing from the header row."});
    }
  }

  // A row that holds no user's details, said in one error rather than an "is
  // required" for each column (an end-to-end review got five for each):
  // - a row pasted from a file saved with the other separator, read whole into its
  //   first cell, or its first few when a value holds the file's separator
  //   (Ann;Lee;ann@… under a header of commas);
  // - a row without a name or an email, whose only values are in Job title,
  //   Manager's email address, Is Active or Country: a column filled down past the
  //   last user. A run of such rows, the same values row after row, is one error,
  //   on its first (finish()): a fill-down to row 1000 is one mistake.
  // True when the row was one of these.
  bool noUserOn(const CsvRecord& r) {
    std::array<bool, kImportColumns.size()> valued{};
    std::size_t values = 0, lastValued = 0;
    bool other = false;  // a value in a column that is none of the template's
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      if (trimText(r.fields[i]).empty()) continue;
      ++values;
      lastValued = i;
      const Column c = i < columns_.size() ? columns_[i] : kNone;
      if (c == kNone)
        other = true;
      else
        valued[c] = true;
      // A user's row (a name or an email, and more than three values) is neither kind:
      // its other cells are not read twice.
      if (values > 3 && (valued[kGiven] || valued[kSurname] || valued[kEmail])) {
        filling_ = false;
        return false;
      }
    }
    // The pasted row: read into its first cells alone (more than one when a value
    // holds the file's separator: "Head, Sales"), with the other separator between
    // its values and an email among them.
    if (values > 0 && values <= 3 && lastValued + 1 == values &&
        (separator_ == ',' || separator_ == ';')) {
      const char otherSeparator = separator_ == ',' ? ';' : ',';
      std::string whole;
      for (std::size_t i = 0; i <= lastValued; ++i)
        whole.append(i == 0 ? "" : std::string(1, separator_)).append(r.fields[i]);
      // (Five values at least: a row of three cells, "Ann, Marie;Lee, Jr., MD;ann@…"
      // in a file of semicolons, is a user's.)
      if (std::count(whole.begin(), whole.end(), otherSeparator) >= 4 &&
          whole.find('@') != std::string::npos) {
        filling_ = false;
        error(r.row, columnName(0), whole,
              std::string("holds the whole row: its values are separated by \"") + otherSeparator +
                  "\", and the header row's by \"" + separator_ +
                  "\" (a row pasted from a file saved another way?); separate them as the header "
                  "row's are");
        return true;
      }
      // The row in quotes as a whole ("Ann,Lee,ann@…" in a file of commas): one cell.
      if (values == 1 && std::count(whole.begin(), whole.end(), separator_) >= 4 &&
          whole.find('@') != std::string::npos) {
        filling_ = false;
        error(r.row, columnName(0), whole,
              "holds the whole row: the row is in quotes as a whole, so its values are read "
              "as one; take the quotes off the row (a quote around a value that holds a \"" +
                  std::string(1, separator_) + "\" is fine)");
        return true;
      }
    }
    // Only where the header names a user's own details (a header of other names,
    // "First Name", has its errors on the header row and its rows' values are values).
    const bool fillable = !other && (present_[kGiven] || present_[kSurname] || present_[kEmail]) &&
                          !valued[kGiven] && !valued[kSurname] && !valued[kEmail];
    if (!fillable) {
      filling_ = false;
      return false;
    }
    std::string signature;  // the row's values, trimmed, for a run of the same (a fill-down)
    for (std::size_t i = 0; i <= lastValued; ++i)
      if (const std::string_view value = trimText(r.fields[i]); !value.empty())
        signature.append(std::to_string(i)).append(":").append(value).push_back('\x1f');
    // No user: not counted as one read (finish()). It counts against the most rows
    // an import reads, which bounds what they cost (a review: runs of rows that
    // differ, each its own error, had no bound).
    ++noUserRows_;
    // A run is of the same values, row after row, as a fill-down makes them; a row of
    // others (a person's name shifted into Job title) is said apart (a review).
    if (filling_ && signature == fillSignature_) {
      ++filledDown_.back().rowsBelow;
      filledDown_.back().lastRow = r.row;
      return true;
    }
    std::vector<std::string_view> named;
    for (const Column c : {kJob, kManager, kActive, kCountry})
      if (valued[c]) named.push_back(kImportColumns[c]);
    filledDown_.push_back({out_.errors.size(),
                           "holds no user: only " + wordList(named, "and") +
                               (named.size() == 1 ? " has a value" : " have values") +
                               " (a column filled down past the last user?)",
                           0, r.row});
    filling_ = true;
    fillSignature_ = std::move(signature);
    error(r.row, "", "",
          filledDown_.back().message + "; delete the row, or fill in the user's name and email");
    return true;
  }

  void userRow(CsvRecord& r) {
    const std::size_t errorsBefore = out_.errors.size();
    if (noUserOn(r)) return;
    ImportRow row;
    row.row = r.row;
    std::array<const std::string*, 7> cells{};
    // The cells as typed, where one line was made of several: errors show these, which
    // the administrator can find in the sheet.
    std::array<std::string, 7> typed;
    // Values in columns without a header: each column is reported on the first row
    // that has a value in it, and the rows after it are counted there (finish()).
    std::vector<std::size_t> fresh;  // columns reported by this row
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      std::string& cell = r.fields[i];
      const Column c = i < columns_.size() ? columns_[i] : kNone;
      if (c == kNone) {
        // Unknown header columns are reported once, on the header row. (A cell of
        // white space of any script is blank, as everywhere: a no-break space too.)
        const bool underUnknownHeader =
            i < headerCells_.size() && !trimText(headerCells_[i]).empty();
        if (underUnknownHeader || trimText(cell).empty()) continue;
        if (i < headlessReportOf_.size() && headlessReportOf_[i] != kNoReport) {
          // A row counted once for each report its values fall under.
          HeadlessReport& h = headlessReports_[headlessReportOf_[i]];
          if (h.lastRow != r.row) {
            h.lastRow = r.row;
            ++h.rowsBelow;
          }
        } else {
          fresh.push_back(i);
        }
        continue;
      }
      // Names, titles, countries and `active` lose white space of any script and
      // invisible characters around them (trimText); emails ASCII spaces alone.
      const bool text = c == kGiven || c == kSurname || c == kJob || c == kCountry;
      if (auto joined = text ? oneLine(cell) : std::nullopt) {
        // A quote left open ("27" monitor) reads the rows after it into this cell, up
        // to the next quote: a line of the cell that reads as a row is such a row, not
        // a line typed with Alt+Enter. Refused, or those rows would
        // go missing and their people's details land in this person's (a review).
        if (rowInside(cell)) {
          error(r.row, std::string(kImportColumns[c]), cell,
                "runs over several lines of the file, and those after the first look like rows of "
                "their own: a quote in this row is not closed where it should be. Put the quotes "
                "right, or write a quote inside a value as two (\"\")");
          typed[c] = std::exchange(cell, std::move(*joined));
          cells[c] = &cell;
          continue;
        }
        // A cell of several lines (Alt+Enter in a spreadsheet): one line, as names
        // and titles are shown. (An email keeps its own rule, which refuses a line
        // break: it is not rewritten, nor said to be.)
        out_.warnings.push_back({r.row, std::string(kImportColumns[c]), cell,
                                 "The line breaks in the value were replaced by spaces."});
        typed[c] = std::exchange(cell, std::move(*joined));
      }
      cells[c] = &cell;
      // (A cell of spaces alone is blank: a required one gets its error, no warning.)
      // Judged on the cell as typed, whose line breaks at its edges have their own
      // warning already (the spaces that replaced them are not the sheet's).
      const std::string& shown = typed[c].empty() ? cell : typed[c];
      const std::string_view asTyped =
          text ? trimCodePoints(shown, isLineBreak) : std::string_view(shown);
      // (`Is Active` too: a 1 with a no-break space pasted after it is a 1.)
      if (const std::string_view t = text || c == kActive ? trimText(asTyped) : trim(asTyped);
          !t.empty() && t.size() != asTyped.size())
        // Said as what they were: a direction mark pasted with a name is no space
        // that the administrator could see (a review).
        out_.warnings.push_back(
            {r.row, std::string(kImportColumns[c]), shown,
             // (An email loses ASCII spaces alone.)
             !(text || c == kActive) || trimCodePoints(asTyped, isWhiteSpace).size() == t.size()
                 ? "The spaces around the value were removed."
                 : "The spaces and invisible characters (such as zero-width "
                   "spaces or direction marks) around the value were removed."});
    }
    // Values past the header's columns: one error for the row, however many there
    // are (a row of 500,000 stray values is one mistake, not 500,000), and none for
    // the rows below with values in the same columns (a notes column without a
    // header is one mistake, not one a row: a review got 1,000 errors for it).
    if (!fresh.empty()) {
      const std::size_t more = fresh.size() - 1;
      HeadlessReport report{out_.errors.size(),
                            more == 0 ? std::string("is in a column that has no header")
                            : more == 1
                                ? std::string("is in a column that has no header, and so is 1 "
                                              "more value on this row")
                                : "is in a column that has no header, and so are " +
                                      std::to_string(more) + " more values on this row"};
      report.lastRow = r.row;
      error(r.row, nthColumn(fresh.front()), r.fields[fresh.front()], report.message);
      headlessReportOf_.resize(std::max(headlessReportOf_.size(), fresh.back() + 1), kNoReport);
      for (std::size_t i : fresh) headlessReportOf_[i] = headlessReports_.size();
      headlessReports_.push_back(std::move(report));
    }
    auto cell = [&](Column c) -> const std::string& {
      static const std::string empty;
      return cells[c] != nullptr ? *cells[c] : empty;
    };
    // A cell's value as the sheet holds it, for an error.
    auto asTyped = [&](Column c) -> const std::string& {
      return typed[c].empty() ? cell(c) : typed[c];
    };
    NewUserDetails& d = row.details;
    d.givenName = cell(kGiven);
    d.surname = cell(kSurname);
    d.email = cell(kEmail);
    d.jobTitle = cell(kJob);
    d.managerEmail = cell(kManager);
    if (!trimText(cell(kCountry)).empty()) d.country = cell(kCountry);
    // A cell that holds a failed formula's error value (a sheet filled with VLOOKUP):
    // said so, in any column, and nothing else of it (no one is called #N/A: a
    // review imported such names silently, and an email or a country so was said to
    // be malformed).
    std::array<bool, 7> formulaFailed{};
    for (std::size_t k = 0; k < formulaFailed.size(); ++k) {
      const auto c = static_cast<Column>(k);
      formulaFailed[k] = present_[k] && isSpreadsheetError(trimText(cell(c)));
      if (formulaFailed[k])
        error(r.row, std::string(kImportColumns[k]), asTyped(c),
              "is a spreadsheet's error value, not a value: the formula behind this cell failed "
              "(a lookup found nothing?); put the value itself in the cell");
    }
    if (present_[kActive] && !formulaFailed[kActive]) {
      const std::string_view active = trimText(cell(kActive));
      // TRUE and FALSE too, in any case: what Google Sheets writes for a checkbox and
      // Excel or LibreOffice in English for a TRUE typed in (a review).
      const std::string word = asciiLower(active);
      if (active == "1" || word == "true") {
        d.active = true;
      } else if (active == "0" || word == "false") {
        d.active = false;
      } else {
        error(r.row, std::string(kImportColumns[kActive]), asTyped(kActive),
              active.empty() ? "is required: 1 for an active user, 0 for an inactive one"
                             : "must be 1 (active) or 0 (inactive), or TRUE or FALSE");
      }
    }
    // "which is what a spreadsheet writes for a letter" (or "letters") "that …".
    auto lostLetters = [](bool several) {
      return std::string(several ? "which is what a spreadsheet writes for letters"
                                 : "which is what a spreadsheet writes for a letter") +
             " that the file's character set cannot hold";
    };
    const std::string saveAgain = std::string(kSaveAsCsvUtf8) + " and import it again";
    ValidDetails valid;
    bool emailOk = present_[kEmail], managerOk = present_[kManager];
    for (const FieldProblem& p : validateDetails(d, countries_, valid)) {
      const std::string_view column = importColumnOf(p.field);
      const std::size_t k = columnOrder(column);
      if (k == kEmail) emailOk = false;
      if (k == kManager) managerOk = false;
      // (Reported on the header, or as an error value above.)
      if (k < kImportColumns.size() && (!present_[k] || formulaFailed[k])) continue;
      std::string message = p.message;
      // Österreich saved in Windows-1252's stead as "?sterreich" is no country: the
      // error says why, as a name's does (a known gap of the question marks' review).
      if (k == kCountry && cell(kCountry).find('?') != std::string_view::npos)
        message += "; it holds a question mark, " + lostLetters(false) + ": " + saveAgain;
      error(r.row, std::string(column), k < cells.size() ? asTyped(static_cast<Column>(k)) : "",
            message);
    }
    // Question marks where letters were: a sheet saved in a character set without
    // them writes 田中 as "??" and Nguyễn as "Nguy?n" (LibreOffice's default,
    // Windows-1252), a file of plain ASCII that the reading cannot tell from one
    // typed so (a review imported people called "??" without a word). A name of
    // question marks alone is no one's, nor is an address with one (m?ller@…: the
    // welcome mail would go to a stranger, or nowhere); one among letters, or in a
    // title ("Why?"), may be typed, and is a warning, as is one in a manager's address
    // (kept as an email). A cell refused already for what it holds is not also said
    // to have lost letters.
    std::array<bool, 7> refused{};
    for (std::size_t k = errorsBefore; k < out_.errors.size(); ++k)
      if (const std::size_t c = columnOrder(out_.errors[k].column); c < refused.size())
        refused[c] = true;
    const std::array<const std::string*, 7> validCell = {
        &valid.givenName, &valid.surname, &valid.email, &valid.jobTitle, &valid.managerEmail};
    for (const Column c : {kGiven, kSurname, kJob, kEmail, kManager}) {
      const std::string& v = *validCell[c];
      if (!present_[c] || refused[c] || v.find('?') == std::string::npos) continue;
      const bool several = std::count(v.begin(), v.end(), '?') > 1;
      if (c == kEmail)
        error(r.row, std::string(kImportColumns[c]), asTyped(c),
              "holds a question mark, " + lostLetters(false) + "; " + saveAgain +
                  " (an address that does hold a ? is created on its own)");
      else if ((c == kGiven || c == kSurname) &&
               trimCodePoints(v, [](char32_t ch) { return ch == '?' || isWhiteSpace(ch); }).empty())
        error(r.row, std::string(kImportColumns[c]), asTyped(c),
              "is question marks alone, " + lostLetters(true) + "; " + saveAgain);
      else
        out_.warnings.push_back(
            {r.row, std::string(kImportColumns[c]), asTyped(c),
             sentence(std::string(several ? "holds question marks, " : "holds a question mark, ") +
                      lostLetters(several) + ": if a letter is missing here, " + saveAgain)});
    }
    if (emailOk && isExampleEmail(valid.email)) {
      // The template's examples left in (an administrator who filled in the rows
      // below them) would make two people who do not exist, and mail them.
      error(r.row, std::string(kImportColumns[kEmail]), asTyped(kEmail),
            "Is the template's example: delete this row");
      // Still in this file for the other example's manager (no warning that it is not).
      emails_.try_emplace(emailKey(valid.email), r.row);
      emailOk = false;
    }
    if (emailOk) {
      auto [it, fresh] = emails_.try_emplace(emailKey(valid.email), r.row);
      if (!fresh)
        error(r.row, std::string(kImportColumns[kEmail]), asTyped(kEmail),
              "The same email is on row " + std::to_string(it->second) +
                  ": each user's email must be in the file once.");
      else if (!d.active)
        inactive_.insert(it->first);
    }
    // A row with errors gets its manager's warning too: fixing the error must not
    // reveal another thing to look at.
    if (managerOk) managers_.emplace_back(r.row, asTyped(kManager));
    if (out_.errors.size() != errorsBefore) {
      // The processor checks the pool for the rows kept; this row is not kept, so
      // its email is looked up here: the administrator gets the whole list at once.
      if (const auto member =
              emailOk && options_.inPool ? options_.inPool(valid.email) : Member::kNone;
          member != Member::kNone)
        error(r.row, std::string(kImportColumns[kEmail]), asTyped(kEmail),
              alreadyInPool(member == Member::kActive));
      return;
    }
    // Under a header that lacks a column, no row can be made: it is not kept, so
    // that the processor's check does not report the missing column on every row.
    if (std::find(present_.begin(), present_.end(), false) != present_.end()) return;
    out_.rows.push_back(std::move(row));
  }

  // Managers must be users of the pool, or of this file; others are kept as an
  // email, with a warning.
  void checkManagers() {
    if (!options_.inPool) return;
    std::unordered_map<std::string, Member> known;
    for (const auto& [row, typed] : managers_) {
      // (Shown as typed, as the command processor's warnings show it: a review got
      // the spaces around it in one answer and not in another.)
      const std::string email(trim(typed));
      const std::string key = emailKey(email);
      // One of this file's rows too: a user the file makes, unless the pool holds
      // that email already (that row is refused), as a deactivated user it warns of
      // (a review: the warning came only once the row was taken out).
      const bool inFile = emails_.count(key) != 0;
      auto [it, fresh] = known.try_emplace(key, Member::kNone);
      if (fresh) it->second = options_.inPool(email);
      if (it->second == Member::kNone && !inFile)
        out_.warnings.push_back(
            {row, std::string(kImportColumns[kManager]), typed, std::string(kManagerNotInPool)});
      // Named as a pool user is, but one who cannot approve or be reached (a review).
      else if (it->second == Member::kDeactivated)
        out_.warnings.push_back(
            {row, std::string(kImportColumns[kManager]), typed, std::string(kManagerDeactivated)});
      // (Not of a row that names itself: a review's inactive boss was warned of herself.)
      else if (it->second == Member::kNone && inactive_.count(key) != 0 && emails_.at(key) != row)
        out_.warnings.push_back({row, std::string(kImportColumns[kManager]), typed,
                                 std::string(kManagerInactiveInFile)});
    }
    sortIssues(out_.warnings);
  }

  // Whether a line of a cell of several lines reads as (part of) a row of the file:
  // two separators and an email's `@` (every row holds two emails). A title typed
  // over two lines ("Head of Sales⏎EMEA, North") holds neither.
  bool rowInside(std::string_view cell) const {
    if (separator_ == '\0') return false;
    std::size_t separators = 0;
    bool at = false;
    for (std::size_t i = 0; i <= cell.size();) {
      const std::size_t n = i < cell.size() ? lineBreakAt(cell.substr(i)) : 1;
      if (n != 0) {  // a line ends (or the cell)
        if (separators >= 2 && at) return true;
        separators = 0;
        at = false;
        i += n;
        continue;
      }
      separators += cell[i] == separator_ ? 1 : 0;
      at = at || cell[i] == '@';
      ++i;
    }
    return false;
  }

  void error(std::size_t row, std::string column, std::string value, std::string message) {
    out_.errors.push_back({row, std::move(column), std::move(value), sentence(std::move(message))});
  }

  std::string columnName(std::size_t index) const {
    if (index < columns_.size() && columns_[index] != kNone)
      return std::string(kImportColumns[columns_[index]]);
    return nthColumn(index);
  }

  static std::string templateColumns() {
    std::string all;
    for (std::string_view c : kImportColumns) all += (all.empty() ? "" : ", ") + std::string(c);
    return all;
  }

  const CountryList& countries_;
  const ImportReadOptions& options_;
  ImportFile& out_;
  char separator_ = '\0';
  std::size_t rowsHidden_ = 0;  // 1 after Excel's "sep=" line, which Excel does not show
  bool rowsUnchecked_ = false;  // no header (or one separated by tabs): rows are counted only
  bool utf16_ = false;          // UTF-16 without its byte-order mark (header())
  std::optional<std::size_t> headerRow_;
  std::vector<std::string> headerCells_;
  std::vector<Column> columns_;     // by field index
  std::array<bool, 7> present_{};   // which template columns the header has
  std::unordered_map<std::string, std::size_t> emails_;  // email key -> first row
  std::unordered_set<std::string> inactive_;             // keys of the file's rows with Is Active 0
  std::vector<std::pair<std::size_t, std::string>> managers_;  // row, the cell as typed
  std::optional<std::size_t> headerLater_;  // the "not the header row" error, while looked for
  std::vector<HeadlessReport> headlessReports_;
  std::vector<std::size_t> headlessReportOf_;  // by field index: its report, or kNoReport
  std::vector<HeadlessReport> filledDown_;     // runs of rows that hold no user (noUserOn)
  bool filling_ = false;                       // the row before was in filledDown_.back()
  std::string fillSignature_;                  // the values of filledDown_.back()'s rows
  std::size_t noUserRows_ = 0;                 // rows noUserOn found no user in: not in userRows
};


}  // namespace

ImportFile readUserImport(std::string_view bytes, const CountryList& countries,
                          const ImportReadOptions& options) {
  ImportFile out;
  // The charset the file is read in: its byte-order mark's (a UTF-16 or UTF-32 file
  // with its mark is read as that, whatever the request says), else the one its
  // request names (charsetOfFile); UTF-8 when it names none.
  const std::string charset = charsetOfFile(bytes, options.charset);
  const bool converted = !charset.empty() && !isUtf8Charset(charset);
  // A UTF-8 file said to be in another charset (a client that names one whatever it
  // sends): read as that, its letters past ASCII would become others unseen (Müller
  // as MÃ¼ller in ISO-8859-1). No file in a legacy charset with letters past ASCII
  // is valid UTF-8 but by a rare chance.
  if (converted && isValidUtf8(bytes) &&
      std::any_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b >= 0x80; })) {
    out.errors.push_back(
        {1, "", "",
         sentence("the file is UTF-8, not " + charset +
                  " as the request's Content-Type says (its bytes past ASCII are UTF-8's); "
                  "send it with charset=utf-8, and nothing was created")});
    return out;
  }
  FileChecker checker(countries, options, out);
  CsvReader reader;
  const CsvRecordSink sink = [&](CsvRecord& r) { checker.record(r, reader.separator()); };
  bool read = true;
  std::optional<std::string> notInCharset;
  if (converted) {
    // Read a piece at a time into the reader, which stops it where it stops. At a
    // byte that is no character of the charset, one that is none of UTF-8 (0xC0,
    // never the start of UTF-16's mark) stops the reader there, at its row and column.
    notInCharset = readAsUtf8(bytes, charset, [&](std::string_view piece) {
      read = reader.feed(piece, sink).ok();
      return read && !out.tooManyRows;
    });
    if (notInCharset && read) read = reader.feed("\xC0", sink).ok();
  } else {
    read = reader.feed(bytes, sink).ok();
  }
  if (read) read = reader.finish(sink).ok();
  if (!read && reader.problem()) {
    CsvProblem stop = *reader.problem();
    if (notInCharset && stop.message.find("invalid UTF-8") != std::string::npos)
      stop.message =
          ": " + (notInCharset->empty() ? std::string("a byte") : bytesNamed(*notInCharset)) +
          (notInCharset->size() > 1 ? " are" : " is") + " no character of " + charset +
          (charset == options.charset ? ", the character set the request's Content-Type names"
                                      : ", which the file's byte-order mark says it is in") +
          "; send the file in the character set it is in, or " + std::string(kSaveAsCsvUtf8) +
          " and send it as UTF-8";
    checker.readingStopped(stop);
  }
  if (!out.tooManyRows) checker.finish();
  sortIssues(out.errors);
  if (reader.separator() != '\0') out.separator = reader.separator();
  return out;
}

std::string_view importColumnOf(std::string_view field) {
  for (std::size_t k = 0; k < kFields.size(); ++k)
    if (kFields[k] == field) return kImportColumns[k];
  return field;
}

ImportIssue issueOfProblem(const FieldProblem& problem, const std::vector<ImportRow>& rows) {
  ImportIssue issue;
  std::string_view field = problem.field;
  issue.message = sentence(problem.message);
  if (field.substr(0, 4) == "row ") {
    const std::size_t colon = field.find(": ");
    std::size_t row = 0;
    if (colon != std::string_view::npos) {
      std::from_chars(field.data() + 4, field.data() + colon, row);
      field.remove_prefix(colon + 2);
    }
    issue.row = row;
  }
  issue.column = std::string(importColumnOf(field));
  auto it = std::lower_bound(rows.begin(), rows.end(), issue.row,
                             [](const ImportRow& r, std::size_t n) { return r.row < n; });
  if (it != rows.end() && it->row == issue.row) {
    const NewUserDetails& d = it->details;
    if (field == "email") issue.value = d.email;
    else if (field == "givenName") issue.value = d.givenName;
    else if (field == "surname") issue.value = d.surname;
    else if (field == "jobTitle") issue.value = d.jobTitle;
    else if (field == "managerEmail") issue.value = d.managerEmail;
    else if (field == "country") issue.value = d.country.value_or("");
  }
  return issue;
}

bool isManagerPoolWarning(const ImportIssue& warning) {
  return warning.column == kImportColumns[kManager] &&
         (warning.message == kManagerNotInPool || warning.message == kManagerDeactivated);
}

void sortIssues(std::vector<ImportIssue>& issues) {
  std::stable_sort(issues.begin(), issues.end(), [](const ImportIssue& a, const ImportIssue& b) {
    if (a.row != b.row) return a.row < b.row;
    return columnOrder(a.column) < columnOrder(b.column);
  });
}

namespace {

// `value` with each control character but a tab or a line break as its picture
// (U+2400 to U+2421: "␀" for NUL): a cell refused for holding one shows where, and
// no reader of the log stops at a NUL (a review found it written raw).
std::string withControlPictures(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      const unsigned picture = c == 0x7f ? 0x2421 : 0x2400 + c;
      out += static_cast<char>(0xE0 | (picture >> 12));
      out += static_cast<char>(0x80 | ((picture >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (picture & 0x3F));
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

std::string importLogCsv(const std::vector<ImportIssue>& errors,
                         const std::vector<ImportIssue>& warnings, char separator) {
  std::string out;
  CsvWriter writer(
      CsvWriterOptions{.byteOrderMark = true, .formulaSafe = true, .separator = separator});
  writer.writeRecord(out, {"Row", "Column", "Value", "Message"});
  for (const auto* list : {&errors, &warnings}) {
    const std::string prefix = list == &warnings ? "Warning: " : "";
    for (const ImportIssue& i : *list) {
      const std::string row = i.row == 0 ? "" : std::to_string(i.row);
      const std::string message = prefix + i.message;
      const std::string value = withControlPictures(i.value);
      writer.writeRecord(out, {std::string_view(row), std::string_view(i.column),
                               std::string_view(value), std::string_view(message)});
    }
  }
  return out;
}

std::string importTemplateCsv() {
  std::string out;
  CsvWriter writer(CsvWriterOptions{.byteOrderMark = true, .formulaSafe = true});
  writer.writeRecord(out, kImportColumns);
  for (const auto& example : kImportExamples) writer.writeRecord(out, example);
  return out;
}

}  // namespace portal
