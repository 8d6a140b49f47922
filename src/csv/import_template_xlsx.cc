// The import template as a workbook, written with libxlsxwriter (Debian
// libxlsxwriter-dev), which writes files only: into a temporary one, read back.

#include <xlsxwriter.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "src/csv/user_import.h"

namespace portal {
namespace {

// Removes the temporary file however the writing ends.
struct TemporaryFile {
  std::string path;
  ~TemporaryFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

Result<std::string> importTemplateXlsx(const CountryList& countries) {
  const char* dir = std::getenv("TMPDIR");
  std::string pattern = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") +
                        "/portal-template-XXXXXX";
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) return makeError(ErrorCode::kIoError, "cannot create a temporary file in " + pattern);
  ::close(fd);
  TemporaryFile file{pattern};

  lxw_workbook* book = workbook_new(file.path.c_str());
  if (book == nullptr) return makeError(ErrorCode::kIoError, "cannot start the workbook");
  lxw_format* bold = workbook_add_format(book);
  format_set_bold(bold);
  lxw_format* text = workbook_add_format(book);
  format_set_num_format(text, "@");  // cells stay text: "0" stays 0, not a number

  lxw_worksheet* users = workbook_add_worksheet(book, "UsersAccounts");
  lxw_worksheet* list = workbook_add_worksheet(book, "Countries");

  worksheet_set_column(users, 0, 6, 26, text);
  for (lxw_col_t c = 0; c < kImportColumns.size(); ++c)
    worksheet_write_string(users, 0, c, std::string(kImportColumns[c]).c_str(), bold);
  for (std::size_t r = 0; r < kImportExamples.size(); ++r)
    for (std::size_t c = 0; c < kImportExamples[r].size(); ++c)
      worksheet_write_string(users, static_cast<lxw_row_t>(r + 1), static_cast<lxw_col_t>(c),
                             std::string(kImportExamples[r][c]).c_str(), text);
  worksheet_freeze_panes(users, 1, 0);

  worksheet_set_column(list, 0, 0, 44, nullptr);
  worksheet_set_column(list, 1, 1, 8, nullptr);
  worksheet_write_string(list, 0, 0, "Name", bold);
  worksheet_write_string(list, 0, 1, "Code", bold);
  const auto& all = countries.all();
  for (std::size_t i = 0; i < all.size(); ++i) {
    worksheet_write_string(list, static_cast<lxw_row_t>(i + 1), 0, all[i].name.c_str(), nullptr);
    worksheet_write_string(list, static_cast<lxw_row_t>(i + 1), 1, all[i].code.c_str(), nullptr);
  }
  worksheet_freeze_panes(list, 1, 0);

  // Lists to pick from, down to the 200,000 rows an import may hold.
  const lxw_row_t last = 200'000;
  char activeTitle[] = "Is Active";
  char activeMessage[] = "1 for an active user, 0 for an inactive one.";
  char* activeValues[] = {const_cast<char*>("1"), const_cast<char*>("0"), nullptr};
  lxw_data_validation active{};
  active.validate = LXW_VALIDATION_TYPE_LIST;
  active.value_list = activeValues;
  active.input_title = activeTitle;
  active.input_message = activeMessage;
  worksheet_data_validation_range(users, 1, 5, last, 5, &active);

  std::string range = "=Countries!$A$2:$A$" + std::to_string(all.size() + 1);
  char countryTitle[] = "Country";
  char countryMessage[] = "Optional: a name from the Countries sheet, or its two-letter code.";
  lxw_data_validation country{};
  country.validate = LXW_VALIDATION_TYPE_LIST_FORMULA;
  country.value_formula = range.data();
  country.input_title = countryTitle;
  country.input_message = countryMessage;
  country.error_type = LXW_VALIDATION_ERROR_TYPE_WARNING;  // a code is accepted too
  worksheet_data_validation_range(users, 1, 6, last, 6, &country);

  if (lxw_error e = workbook_close(book); e != LXW_NO_ERROR)
    return makeError(ErrorCode::kIoError,
                     std::string("cannot write the workbook: ") + lxw_strerror(e));
  std::ifstream in(file.path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return makeError(ErrorCode::kIoError, "cannot read the workbook back from " + file.path);
  return bytes.str();
}

}  // namespace portal
