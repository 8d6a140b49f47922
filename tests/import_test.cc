// Batch import of users: the file's checks on their own, then the endpoints end to end
// on a real server, with files as spreadsheets save them (tests/data/import).

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <latch>
#include <thread>

#include "events/text.h"
#include "src/app/import_logs.h"
#include "src/csv/csv_reader.h"
#include "src/csv/csv_writer.h"
#include "src/csv/user_import.h"
#include "tests/api_server.h"
#include "tests/store_fixtures.h"

namespace portal::test {
namespace {

using json = nlohmann::json;

const std::string kHeader =
    "Given Name,Surname,Email address,Job title,Manager's email address,Is Active,Country\r\n";

std::string fileBytes(const std::string& name) {
  std::ifstream in(std::string(PORTAL_TEST_DATA) + "/import/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("missing test file " + name);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A file of `n` valid users user<i>@<domain>, managed by the first of them.
std::string usersFile(std::size_t n, const std::string& domain) {
  std::string csv = kHeader;
  for (std::size_t i = 0; i < n; ++i)
    csv += "Given" + std::to_string(i) + ",Surname" + std::to_string(i) + ",user" +
           std::to_string(i) + "@" + domain + ",Clerk,user0@" + domain + ",1,DE\r\n";
  return csv;
}

Reply upload(HttpClient& client, const std::string& csv, const std::string& token,
             const std::string& query = "",
             std::vector<std::pair<std::string, std::string>> headers = {}) {
  headers.emplace_back("Content-Type", "text/csv");
  return client.request("POST", "/api/v1/users/import" + query, csv, token, headers);
}

// The users whose name or email holds `search`.
std::vector<json> findUsers(HttpClient& client, const std::string& token, const std::string& search) {
  Reply r = client.get("/api/v1/users?limit=500&search=" + search, token);
  if (r.status != 200) throw std::runtime_error("list users: " + r.body);
  return r.json()["items"].get<std::vector<json>>();
}

// The one user whose address is `email` (lower case); the search also finds
// "s-zoe…" for "zoe…".
json userOfEmail(HttpClient& client, const std::string& token, const std::string& email) {
  std::vector<json> found;
  for (json& u : findUsers(client, token, email))
    if (asciiLower(u["email"].get<std::string>()) == email) found.push_back(std::move(u));
  if (found.size() != 1) throw std::runtime_error("not one user for " + email);
  return found[0];
}

std::vector<std::vector<std::string>> parseCsv(const std::string& bytes) {
  std::vector<std::vector<std::string>> rows;
  auto ok = readCsv(bytes, [&](CsvRecord& r) { rows.push_back(r.fields); });
  if (!ok) throw std::runtime_error(ok.error().message);
  return rows;
}

// An issue of the answer, for comparing: "row|column|value|message".
std::vector<std::string> issues(const json& list) {
  std::vector<std::string> out;
  for (const auto& i : list)
    out.push_back(std::to_string(i["row"].get<std::size_t>()) + "|" + i["column"].get<std::string>() +
                  "|" + i["value"].get<std::string>() + "|" + i["message"].get<std::string>());
  return out;
}

// --- the file's own checks --------------------------------------------------------------

using Member = ImportReadOptions::Member;

ImportFile check(const std::string& csv, std::function<Member(std::string_view)> inPool = nullptr) {
  ImportReadOptions options;
  options.inPool = std::move(inPool);
  return readUserImport(csv, countries(), options);
}

TEST(ImportFileCheck, AValidFileGivesEveryRowWithItsSpreadsheetRow) {
  ImportFile f = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,de\r\n\r\n" +
                       "Bob,Ray,bob@x.example,Clerk,ann@x.example,0,Germany\r\n");
  EXPECT_TRUE(f.errors.empty());
  EXPECT_TRUE(f.warnings.empty());
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(f.rows[0].row, 2u);
  EXPECT_EQ(f.rows[1].row, 4u);  // the blank row 3 is skipped, and still counted
  EXPECT_EQ(f.rows[1].details.email, "bob@x.example");
  EXPECT_FALSE(f.rows[1].details.active);
  EXPECT_EQ(f.userRows, 2u);
}

TEST(ImportFileCheck, ColumnsAreFoundByNameInAnyOrderWithATypographicApostrophe) {
  ImportFile f = check(
      "country,IS ACTIVE, Email address ,Manager\xE2\x80\x99s email address,Job title,Surname,"
      "Given Name\n"
      "FR,1,eve@x.example,eve@x.example,Chef,Roux,Eve\n");
  ASSERT_TRUE(f.errors.empty()) << f.errors[0].message;
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].details.givenName, "Eve");
  EXPECT_EQ(f.rows[0].details.country, "FR");
  // Spaces and punctuation set aside too: a header typed again by hand (a review got
  // "missing" and "not a column" for each of these).
  f = check(
      "Given-Name,Surname,E-mail address, Job  title,Managers email address,Is_Active,Country\n"
      "Eve,Roux,eve@x.example,Chef,eve@x.example,1,FR\n");
  ASSERT_TRUE(f.errors.empty()) << f.errors[0].message;
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].details.jobTitle, "Chef");
  EXPECT_EQ(f.rows[0].details.managerEmail, "eve@x.example");
  // A tab pasted at a name's edge is no tab-separated file; a header of punctuation
  // alone names no column, and is said to (its cells would go unread).
  f = check(
      "Given Name,Surname\t,Email address,Job title,Manager's email address,Is Active,Country,#\n"
      "Eve,Roux,eve@x.example,Chef,eve@x.example,1,FR,7\n");
  ASSERT_EQ(f.errors.size(), 1u) << f.errors[0].message;
  EXPECT_EQ(f.errors[0].column, "Column H");
  EXPECT_EQ(f.errors[0].value, "#");
  EXPECT_NE(f.errors[0].message.find("not a column of the template"), std::string::npos);
}

TEST(ImportFileCheck, AMissingUnknownOrRepeatedColumnIsAnErrorOnTheHeaderRow) {
  ImportFile f = check(
      "Given Name,Surname,Email address,Job title,Is Active,Country,Department,Surname\n"
      "Ann,Lee,ann@x.example,Clerk,1,,Sales,Lee\n");
  std::vector<std::string> got;
  for (const auto& e : f.errors) got.push_back(std::to_string(e.row) + "|" + e.column + "|" + e.value);
  EXPECT_EQ(got, (std::vector<std::string>{"1|Manager's email address|", "1|Column G|Department",
                                           "1|Column H|Surname"}));
  EXPECT_NE(f.errors[0].message.find("missing"), std::string::npos);
  EXPECT_NE(f.errors[1].message.find("not a column of the template"), std::string::npos);
  EXPECT_EQ(f.errors[2].message, "Repeats the column \"Surname\" (Column B).");
  // Past 20 such cells, the others are one error together, at the first of them: a
  // header of 100,000 unknown names is one mistake, not 100,000.
  std::string wide =
      "Given Name,Surname,Email address,Job title,Manager's email address,Is Active,"
      "Country";
  for (int i = 0; i < 100000; ++i) wide += i % 2 == 0 ? ",x" + std::to_string(i) : ",Surname";
  f = check(wide + "\nAnn,Lee,ann@x.example,Clerk,ann@x.example,1,DE\n");
  ASSERT_EQ(f.errors.size(), 21u) << f.errors[0].message;
  EXPECT_EQ(f.errors[19].column, "Column AA");
  EXPECT_EQ(f.errors[19].value, "Surname");
  EXPECT_EQ(f.errors[20].column, "Column AB");
  EXPECT_EQ(f.errors[20].value, "x20");
  EXPECT_EQ(f.errors[20].message,
            "Is not a column of the template or repeats one, and so are 99979 more cells of the "
            "header row: the header row holds the template's columns only, once each.");
  EXPECT_EQ(f.rows.size(), 1u) << "the rows are still read";
  // A file without its header row: one error that says so, not one a column.
  ImportFile headless = check(
      "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\n"
      "Bo,Ng,bo@x.example,Clerk,ann@x.example,1,DE\n");
  ASSERT_EQ(headless.errors.size(), 1u) << headless.errors.back().message;
  EXPECT_EQ(headless.errors[0].row, 1u);
  EXPECT_EQ(headless.errors[0].message.rfind("The first row is not the header row", 0), 0u)
      << headless.errors[0].message;
  EXPECT_TRUE(headless.rows.empty());
  // So when the first user's row has an empty cell, under which later rows hold
  // values (a review: an error on every row).
  headless = check(
      "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,\n"
      "Bo,Ng,bo@x.example,Clerk,ann@x.example,1,DE\n"
      "Cy,Po,cy@x.example,Clerk,ann@x.example,1,DE\n");
  ASSERT_EQ(headless.errors.size(), 1u) << headless.errors.back().message;
  EXPECT_EQ(headless.userRows, 3u) << "the first row read as the header is a user's too";
  // A title row above the header (a sheet made for printing): the error says where
  // the header row is.
  ImportFile titled = check("Users to add in March\n\n" + kHeader +
                            "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\n");
  ASSERT_EQ(titled.errors.size(), 1u) << titled.errors.back().message;
  EXPECT_EQ(titled.errors[0].message,
            "The first row is not the header row: the header row is row 3; delete the rows above "
            "it, so that the file begins with it.");
}

// What a spreadsheet shows for a formula that failed is carried as text into the
// file it saves: no one is called #N/A (a review imported such names silently).
TEST(ImportFileCheck, ASpreadsheetsErrorValueIsNoName) {
  ImportFile f = check(kHeader + "#N/A,Lee,ann@x.example,Clerk,ann@x.example,1,DE\n" +
                       "Bo,#REF!,bo@x.example, #value! ,ann@x.example,1,DE\n" +
                       "Cy,Err:502,cy@x.example,Clerk,ann@x.example,1,DE\n" +
                       "Di,Errol,di@x.example,#1 Seller,ann@x.example,1,DE\n" +
                       // In any column, said once: not also a malformed email, an
                       // unknown country or an Is Active that is not 1 or 0.
                       "Ed,Lo,#N/A,Clerk,#N/A,#VALUE!,#N/A\n");
  std::vector<std::string> got;
  for (const auto& e : f.errors)
    got.push_back(std::to_string(e.row) + "|" + e.column + "|" + e.value);
  EXPECT_EQ(got, (std::vector<std::string>{"2|Given Name|#N/A", "3|Surname|#REF!",
                                           "3|Job title| #value! ", "4|Surname|Err:502",
                                           "6|Email address|#N/A", "6|Manager's email address|#N/A",
                                           "6|Is Active|#VALUE!", "6|Country|#N/A"}));
  ASSERT_EQ(f.warnings.size(), 1u)
      << "no manager's warning for #N/A: " << f.warnings.back().message;
  EXPECT_EQ(f.warnings[0].message, "The spaces around the value were removed.");
  EXPECT_EQ(f.errors[0].message,
            "Is a spreadsheet's error value, not a value: the formula behind this cell failed (a "
            "lookup found nothing?); put the value itself in the cell.");
}

// Files made for Excel may start with a "sep=;" line naming the separator: the
// header is the line after it. Excel does not show that line, so rows are numbered
// as Excel shows them: the header is row 1.
TEST(ImportFileCheck, AnExcelSeparatorLineBeforeTheHeaderIsSkipped) {
  std::string semicolons = kHeader;
  std::replace(semicolons.begin(), semicolons.end(), ',', ';');
  for (const std::string& file :
       {"sep=;\r\n" + semicolons + "Ann;Lee;ann@x.example;Clerk;ann@x.example;1;\r\n",
        "\xEF\xBB\xBFSEP=;\r\n" + semicolons + "Ann;Lee;ann@x.example;Clerk;ann@x.example;1;\r\n",
        "sep=,\n" + kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,\r\n"}) {
    ImportFile f = check(file);
    ASSERT_TRUE(f.errors.empty()) << f.errors[0].message;
    ASSERT_EQ(f.rows.size(), 1u);
    EXPECT_EQ(f.rows[0].row, 2u);
    EXPECT_EQ(f.rows[0].details.surname, "Lee");
  }
  // An error names the row Excel shows; one the reader found names the file's line too.
  ImportFile bad = check("sep=,\r\n" + kHeader + "Ann,Lee,ann@x,Clerk,ann@x.example,1,\r\n");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].row, 2u) << bad.errors[0].message;
  ImportFile unclosed =
      check("sep=,\r\n" + kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,\r\n" +
            "Bo,\"Ng,bo@x.example,Clerk,ann@x.example,1,\r\n");
  ASSERT_FALSE(unclosed.errors.empty());
  EXPECT_EQ(unclosed.errors.back().row, 3u) << unclosed.errors.back().message;
  EXPECT_NE(unclosed.errors.back().message.find("(line 4 of the file)"), std::string::npos)
      << unclosed.errors.back().message;
  // Anywhere else it is a row like any other.
  ImportFile later = check(kHeader + "sep=,\r\n");
  EXPECT_FALSE(later.errors.empty());
}

TEST(ImportFileCheck, AHeaderAfterASecondByteOrderMarkIsRead) {
  // A file saved again, or two files joined: a second mark before the first name.
  ImportFile f = check("\xEF\xBB\xBF\xEF\xBB\xBF" + kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,\r\n");
  EXPECT_TRUE(f.errors.empty()) << f.errors[0].message;
  EXPECT_EQ(f.rows.size(), 1u);
}

// Two "CSV UTF-8" files joined (a review, with files LibreOffice and Excel saved): the
// second's byte-order mark is no part of its first cell, and its header row is
// skipped with a warning, not four errors; a row of no-break or zero-width spaces
// (empty cells pasted from a web page) is blank, as a row of spaces is.
TEST(ImportFileCheck, TwoFilesJoinedAndRowsOfInvisibleSpacesReadAsMeant) {
  const std::string bom = "\xEF\xBB\xBF";
  ImportFile f =
      check(bom + kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,\r\n" + bom +
            "\"Bo\",\"Ray\",bo@x.example,Clerk,ann@x.example,1,\r\n" + bom +
            "\"Given Name\",\"Surname\",\"Email address\",\"Job title\",\"Manager's email "
            "address\",\"Is Active\",\"Country\"\r\n" +
            "Cy,Po,cy@x.example,Clerk,ann@x.example,1,\r\n"
            "\u00a0,\u00a0,\u200b,\u00a0, ,\u3000,\t\r\n"
            "Di,Ek,di@x.example,Clerk,ann@x.example,1,\r\n");
  EXPECT_TRUE(f.errors.empty()) << f.errors[0].message;
  ASSERT_EQ(f.rows.size(), 4u);
  EXPECT_EQ(f.rows[1].details.givenName, "Bo");
  EXPECT_EQ(f.rows[2].row, 5u);
  EXPECT_EQ(f.rows[3].row, 7u);
  EXPECT_EQ(f.userRows, 4u) << "the header again and the blank row are no users";
  ASSERT_EQ(f.warnings.size(), 1u) << (f.warnings.empty() ? "" : f.warnings[0].message);
  EXPECT_EQ(f.warnings[0].row, 4u);
  EXPECT_NE(f.warnings[0].message.find("header row is here again"), std::string::npos);
  // "Is Active" as a 1 or 0 with a no-break or zero-width space beside it, which
  // shows as 1 or 0 (a review got "must be 1 or 0"): read so, with the warning.
  ImportFile g = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1\u00a0,\r\n" +
                       "Bo,Ray,bo@x.example,Clerk,ann@x.example,\u200b0,\r\n" +
                       "Cy,Po,cy@x.example,Clerk,ann@x.example,\u00a0,\r\n");
  ASSERT_EQ(g.errors.size(), 1u) << g.errors[0].message;
  EXPECT_EQ(g.errors[0].row, 4u);
  EXPECT_EQ(g.errors[0].message.rfind("Is required", 0), 0u) << g.errors[0].message;
  ASSERT_EQ(g.rows.size(), 2u);
  EXPECT_TRUE(g.rows[0].details.active);
  EXPECT_FALSE(g.rows[1].details.active);
  ASSERT_EQ(g.warnings.size(), 2u);
  EXPECT_EQ(g.warnings[0].message, "The spaces around the value were removed.");
  // A zero-width space is no space anyone saw: said as what it is.
  EXPECT_EQ(g.warnings[1].message,
            "The spaces and invisible characters (such as zero-width spaces or direction marks) "
            "around the value were removed.");
  // TRUE and FALSE in any case: a Google Sheets checkbox, an Excel TRUE (a review).
  ImportFile h = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,TRUE,\r\n" +
                       "Bo,Ray,bo@x.example,Clerk,ann@x.example,false,\r\n" +
                       "Cy,Po,cy@x.example,Clerk,ann@x.example,True,\r\n" +
                       "Di,Ek,di@x.example,Clerk,ann@x.example,WAHR,\r\n");
  ASSERT_EQ(h.errors.size(), 1u);
  EXPECT_EQ(h.errors[0].row, 5u);
  EXPECT_EQ(h.errors[0].message, "Must be 1 (active) or 0 (inactive), or TRUE or FALSE.");
  ASSERT_EQ(h.rows.size(), 3u);
  EXPECT_TRUE(h.rows[0].details.active);
  EXPECT_FALSE(h.rows[1].details.active);
  EXPECT_TRUE(h.rows[2].details.active);
}

// An email keeps its own rule, which refuses a line break inside it: the error, and
// no warning that it was made one line (it was not). One at its edge is trimmed.
TEST(ImportFileCheck, AnEmailWithALineBreakIsAnErrorWithoutAWarningThatItWasJoined) {
  ImportFile f = check(kHeader + "Ann,Lee,\"a\nb@x.example\",Clerk,\"ann@x.example\n\",1,\r\n");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].column, "Email address");
  EXPECT_EQ(f.errors[0].value, "a\nb@x.example");
  for (const auto& w : f.warnings) EXPECT_NE(w.column, "Email address") << w.message;
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_EQ(f.warnings[0].column, "Manager's email address");
  EXPECT_EQ(f.warnings[0].message, "The spaces around the value were removed.");
}

// The top of a hierarchy: how a user without a manager is written is said (a review
// got a bare "Is required." on every import's first row).
TEST(ImportFileCheck, ARowWithoutAManagerIsToldHowTheTopOfAHierarchyIsWritten) {
  ImportFile f = check(kHeader + "Ceo,One,ceo@x.example,CEO,,1,\r\n");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].column, "Manager's email address");
  EXPECT_EQ(f.errors[0].message, "Is required: a user without a manager names themself.");
  EXPECT_TRUE(check(kHeader + "Ceo,One,ceo@x.example,CEO,ceo@x.example,1,\r\n").errors.empty());
}

TEST(ImportFileCheck, ACellPastTheHeaderIsAnError) {
  ImportFile f = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,,stray\r\n");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].row, 2u);
  EXPECT_EQ(f.errors[0].column, "Column H");
  EXPECT_EQ(f.errors[0].value, "stray");
  // Named by letters, as the sheet shows them, past Z too.
  const std::string far =
      kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1," + std::string(20, ',');
  EXPECT_EQ(check(far + "z\r\n").errors.at(0).column, "Column AA");
  EXPECT_EQ(check(far + std::string(26, ',') + "z\r\n").errors.at(0).column, "Column BA");
}

// A row of half a million stray values is one mistake: one error for the row (there
// was one each, and the server's memory grew 190 bytes for each byte uploaded).
TEST(ImportFileCheck, ValuesPastTheHeaderAreOneErrorForTheirRow) {
  std::string wide = kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,,first";
  for (int i = 0; i < 50000; ++i) wide += ",x";
  wide += "\r\nBo,Oh,bo@x.example,Clerk,ann@x.example,1,,,,stray\r\n";
  // A value past every column row 2 reached (50,007 is its last).
  wide += "Cy,Po,cy@x.example,Clerk,ann@x.example,1" + std::string(50005, ',') + "past\r\n";
  ImportFile f = check(wide);
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_EQ(f.errors[0].column, "Column H");
  EXPECT_EQ(f.errors[0].value, "first");
  // Row 3's stray value is in a column row 2 reported: counted there, not said again.
  EXPECT_EQ(f.errors[0].message,
            "Is in a column that has no header, and so are 50000 more values on this row; 1 more "
            "row below has values there too. Give the column a header of the template, or "
            "delete it.");
  EXPECT_EQ(f.errors[1].row, 4u);
  EXPECT_EQ(f.errors[1].value, "past") << "a column no row above had a value in";
  EXPECT_EQ(f.errors[1].message, "Is in a column that has no header.");
  EXPECT_EQ(
      check(kHeader + "Cy,Po,cy@x.example,Clerk,ann@x.example,1,,x,y\r\n").errors.at(0).message,
      "Is in a column that has no header, and so is 1 more value on this row.");
}

// A column whose header cell was left empty (a notes column, a header deleted by
// mistake) is one error, on the first row with a value in it, however many rows have
// values there (a review got 1,000 errors for 1,000 rows); a no-break space alone in
// such a column is blank, as in any cell.
TEST(ImportFileCheck, AColumnWithoutAHeaderIsOneErrorForAllItsRows) {
  const std::string header =
      "Given Name,,Email address,Job title,Manager's email address,Is Active,Country\r\n";
  std::string file = header;
  for (int i = 0; i < 1000; ++i)
    file += "Ann,Lee,ann" + std::to_string(i) + "@x.example,Clerk,ann0@x.example,1,\r\n";
  ImportFile f = check(file);
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_EQ(f.errors[0].row, 1u);
  EXPECT_EQ(f.errors[0].column, "Surname");
  EXPECT_EQ(f.errors[1].row, 2u);
  EXPECT_EQ(f.errors[1].column, "Column B");
  EXPECT_EQ(f.errors[1].value, "Lee");
  EXPECT_EQ(f.errors[1].message,
            "Is in a column that has no header; 999 more rows below have values there too. Give "
            "the column a header of the template, or delete it.");
  ImportFile blank = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE,\u00a0\r\n" +
                           "Bo,Oh,bo@x.example,Clerk,ann@x.example,1,DE, \r\n");
  EXPECT_TRUE(blank.errors.empty()) << blank.errors.at(0).message;
}

// Rows that hold no user are one error each kind, not an "is required" a column (an
// end-to-end review got five for each): a row pasted whole into its first cell from a
// file of the other separator, and rows of Is Active and Country alone (a column
// filled down past the last user), all of them one error.
TEST(ImportFileCheck, RowsThatHoldNoUserAreOneErrorEachKind) {
  ImportFile pasted = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\r\n" +
                            "Bo;Oh;bo@x.example;Dev;ann@x.example;1;DE\r\n");
  ASSERT_EQ(pasted.errors.size(), 1u);
  EXPECT_EQ(pasted.errors[0].row, 3u);
  EXPECT_EQ(pasted.errors[0].column, "Given Name");
  EXPECT_EQ(pasted.errors[0].value, "Bo;Oh;bo@x.example;Dev;ann@x.example;1;DE");
  EXPECT_EQ(pasted.errors[0].message,
            "Holds the whole row: its values are separated by \";\", and the header row's by \",\" "
            "(a row pasted from a file saved another way?); separate them as the header row's "
            "are.");
  // A value that holds the file's separator ("Head, Sales") splits the pasted row
  // into two cells: still the pasted row (an end-to-end review).
  ImportFile split = check(kHeader + "Fred;Two;fred@x.example;Head, Sales;ann@x.example;1;DE\r\n");
  ASSERT_EQ(split.errors.size(), 1u);
  EXPECT_EQ(split.errors[0].value, "Fred;Two;fred@x.example;Head, Sales;ann@x.example;1;DE");
  EXPECT_EQ(split.errors[0].message.substr(0, 22), "Holds the whole row: i");
  // A row in quotes as a whole is one cell of the file's own separators.
  ImportFile quoted = check(kHeader + "\"Fred,Two,fred@x.example,Dev,ann@x.example,1,DE\"\r\n");
  ASSERT_EQ(quoted.errors.size(), 1u);
  EXPECT_EQ(quoted.errors[0].message,
            "Holds the whole row: the row is in quotes as a whole, so its values are read as "
            "one; take the quotes off the row (a quote around a value that holds a \",\" is "
            "fine).");
  std::string semicolons =
      "Given Name;Surname;Email address;Job title;Manager's email address;Is Active;Country\r\n"
      "Ann;Lee;ann@x.example;Clerk;ann@x.example;1;DE\r\n"
      "Bo,Oh,bo@x.example,Dev,ann@x.example,1,DE\r\n";
  ImportFile other = check(semicolons);
  ASSERT_EQ(other.errors.size(), 1u);
  EXPECT_NE(other.errors[0].message.find("separated by \",\", and the header row's by \";\""),
            std::string::npos)
      << other.errors[0].message;

  // A row without a name or an email in the middle of the file, and a run of rows
  // filled down at its end: an error for each, the run's on its first row.
  std::string filled = kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\r\n" +
                       ",,,Clerk,ann@x.example,1,\r\n" +
                       "Bo,Oh,bo@x.example,Clerk,ann@x.example,1,DE\r\n";
  for (int i = 0; i < 997; ++i) filled += ",,,,,1,DE\r\n";
  ImportFile down = check(filled);
  ASSERT_EQ(down.errors.size(), 2u);
  EXPECT_EQ(down.errors[0].row, 3u);
  EXPECT_EQ(down.errors[0].message,
            "Holds no user: only Job title, Manager's email address and Is Active have values (a "
            "column filled down past the last user?); delete the row, or fill in the user's name "
            "and email.");
  EXPECT_EQ(down.errors[1].row, 5u);
  EXPECT_EQ(down.errors[1].message,
            "Holds no user: only Is Active and Country have values (a column filled down past the "
            "last user?), and so do the 996 rows below it (to row 1001): delete them.");
  EXPECT_EQ(down.userRows, 2u) << "rows that hold no user are no users read";
  // A row of three cells whose values hold commas, in a file of semicolons, is a
  // user's (a code review).
  ImportFile three = check(
      "Given Name;Surname;Email address;Job title;Manager's email address;Is Active;Country\r\n"
      "Ann, Marie;Lee, Jr., MD;ann@x.example\r\n");
  for (const ImportIssue& e : three.errors)
    EXPECT_EQ(e.message.find("Holds the whole row"), std::string::npos) << e.message;
  // Rows that hold no user count against the rows an import reads: a file of rows
  // that differ (each its own error) is bounded (a code review).
  ImportReadOptions bounded;
  bounded.maxRows = 100;
  std::string alternating = kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\r\n";
  for (int i = 0; i < 200; ++i) alternating += i % 2 ? ",,,,,,DE\r\n" : ",,,,,,FR\r\n";
  EXPECT_TRUE(readUserImport(alternating, countries(), bounded).tooManyRows);
  // A run is of the same values: a row of others below it (a person's name and email
  // shifted into Job title and Manager) is said apart (an end-to-end review).
  ImportFile shifted = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\r\n" +
                             ",,,,,1,DE\r\n,,,,,1,DE\r\n,,,Jane Roe,jane@x.example,1,FR\r\n");
  ASSERT_EQ(shifted.errors.size(), 2u);
  EXPECT_EQ(shifted.errors[0].row, 3u);
  EXPECT_NE(shifted.errors[0].message.find("so does the row below it (to row 4)"),
            std::string::npos)
      << shifted.errors[0].message;
  EXPECT_EQ(shifted.errors[1].row, 5u);
  EXPECT_NE(shifted.errors[1].message.find("only Job title, Manager's email address, Is Active "
                                           "and Country have values"),
            std::string::npos)
      << shifted.errors[1].message;
  ImportFile one =
      check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,DE\r\n,,,,,,DE\r\n");
  ASSERT_EQ(one.errors.size(), 1u);
  EXPECT_EQ(one.errors[0].message,
            "Holds no user: only Country has a value (a column filled down past the last user?); "
            "delete the row, or fill in the user's name and email.");
  // A row with a name or an email is checked as a user's: its missing cells are named.
  ImportFile partial = check(kHeader + "Ann,,,,,1,DE\r\n");
  EXPECT_EQ(partial.errors.size(), 4u);
  // Under a header of other names ("First Name", "Email": errors on the header row),
  // the rows' values are values, not a fill-down (a review: every user was told to
  // be deleted).
  std::string otherNames =
      "First Name,Last Name,Email,Job title,Manager's email address,Is Active,Country\r\n";
  for (int i = 0; i < 50; ++i)
    otherNames += "Ann,Lee,ann" + std::to_string(i) + "@x.example,,,1,DE\r\n";
  ImportFile named = check(otherNames);
  ASSERT_FALSE(named.errors.empty());
  EXPECT_EQ(named.errors.front().row, 1u) << named.errors.front().message;
  for (const ImportIssue& e : named.errors)
    EXPECT_EQ(e.message.find("Holds no user"), std::string::npos) << e.row << ": " << e.message;
}

// A cell of several lines is one line in the user's details, but an error shows it as
// the sheet holds it, where the administrator can find it. NEL and Unicode's line and
// paragraph separators are line breaks too (they reached names before).
TEST(ImportFileCheck, AnErrorShowsAMultiLineCellAsTyped) {
  ImportFile f = check(kHeader +
                       "Ann,Lee,ann@x.example,Clerk,ann@x.example,\"\r=1+1\",\"Ger\nmany\"\r\n"
                       "Line\u2028Sep,Par\u2029Sep,bo@x.example,Ne\u0085l,ann@x.example,1,\r\n");
  std::vector<std::string> got;
  for (const auto& e : f.errors)
    got.push_back(std::to_string(e.row) + "|" + e.column + "|" + e.value);
  EXPECT_EQ(got, (std::vector<std::string>{"2|Is Active|\r=1+1", "2|Country|Ger\nmany"}));
  ASSERT_EQ(f.rows.size(), 1u) << "a row with errors is not kept";
  EXPECT_EQ(f.rows[0].row, 3u);
  ImportFile g =
      check(kHeader + "Line\u2028Sep,Par\u2029Sep,bo@x.example,Ne\u0085l,bo@x.example,1,\r\n");
  ASSERT_TRUE(g.errors.empty()) << g.errors[0].message;
  ASSERT_EQ(g.rows.size(), 1u);
  EXPECT_EQ(g.rows[0].details.givenName, "Line Sep");
  EXPECT_EQ(g.rows[0].details.surname, "Par Sep");
  EXPECT_EQ(g.rows[0].details.jobTitle, "Ne l");
  EXPECT_EQ(g.warnings.size(), 3u);
  // A line break at a cell's edge is the one warning, not also spaces the server
  // made of it; spaces the sheet holds are a warning showing the cell as typed.
  ImportFile w = check(kHeader + "\"Ann\n\",\" Lee\r\nX\",an@x.example,Clerk,an@x.example,1,\r\n");
  ASSERT_TRUE(w.errors.empty()) << w.errors[0].message;
  std::vector<std::string> warned;
  for (const auto& e : w.warnings) warned.push_back(e.column + "|" + e.value + "|" + e.message);
  EXPECT_EQ(warned, (std::vector<std::string>{
                        "Given Name|Ann\n|The line breaks in the value were replaced by spaces.",
                        "Surname| Lee\r\nX|The line breaks in the value were replaced by spaces.",
                        "Surname| Lee\r\nX|The spaces around the value were removed."}));
  // So with Unicode's line separator at the edge.
  ImportFile u = check(kHeader + "Ann\u2028,Lee,an@x.example,Clerk,an@x.example,1,\r\n");
  ASSERT_EQ(u.warnings.size(), 1u) << u.warnings.back().message;
  EXPECT_EQ(u.warnings[0].message, "The line breaks in the value were replaced by spaces.");
  // A C1 control character (U+009B starts a terminal's escape sequence) is refused.
  ImportFile h = check(kHeader + "Csi\u009b31m,B,cs@x.example,Clerk,cs@x.example,1,\r\n");
  ASSERT_EQ(h.errors.size(), 1u);
  EXPECT_EQ(h.errors[0].message, "Holds a control character.");
}

// A quote left open reads the rows after it into one cell up to the next quote: the
// file is refused, not imported with those rows missing and their text in another
// person's job title (a review). A cell of several lines holding the separator on its
// first line only is typed so (Alt+Enter), and stays a warning.
TEST(ImportFileCheck, AQuoteLeftOpenThatSwallowsRowsIsAnError) {
  ImportFile f = check(kHeader +
                       "Anna,Ames,sq1@x.example,Engineer,sq1@x.example,1,DE\r\n"
                       "Bob,Baker,sq2@x.example,\"Senior,sq1@x.example,1,DE\r\n"
                       "Cid,Cole,sq3@x.example,Engineer,sq1@x.example,1,DE\r\n"
                       "Dan,Dorn,sq4@x.example,27\" monitor tester,sq1@x.example,1,DE\r\n"
                       "Eve,Eng,sq5@x.example,Engineer,sq1@x.example,1,DE\r\n");
  ASSERT_EQ(f.errors.size(), 1u) << f.errors.back().message;
  EXPECT_EQ(f.errors[0].row, 3u);
  EXPECT_EQ(f.errors[0].column, "Job title");
  EXPECT_EQ(f.errors[0].value.substr(0, 30), "Senior,sq1@x.example,1,DE\r\nCid");
  EXPECT_NE(f.errors[0].message.find("a quote in this row is not closed"), std::string::npos)
      << f.errors[0].message;
  EXPECT_TRUE(f.warnings.empty()) << "no line breaks said to be joined: " << f.warnings[0].message;
  // With ';' as the file's separator, and a comma typed inside a cell of two lines.
  ImportFile g = check(
      "Given Name;Surname;Email address;Job title;Manager's email address;Is Active;Country\r\n"
      "Bob;Baker;b@x.example;\"Head, Sales\nEMEA, North\";b@x.example;1;DE\r\n"
      "Cid;Cole;c@x.example;\"Senior;c@x.example;1;DE\r\nDan;Dorn;d@x.example;Clerk\";c@x.example;"
      "1;DE\r\n");
  ASSERT_EQ(g.errors.size(), 1u) << g.errors.back().message;
  EXPECT_EQ(g.errors[0].row, 3u);
  ASSERT_EQ(g.rows.size(), 1u);
  EXPECT_EQ(g.rows[0].details.jobTitle, "Head, Sales EMEA, North");
  // Commas on any line of a title typed over lines, in a comma-separated file (a
  // review): no row, so a warning.
  ImportFile h =
      check(kHeader +
            "Bob,Baker,b@x.example,\"Head of Sales\r\nEMEA, North, West\",b@x.example,1,DE\r\n");
  ASSERT_TRUE(h.errors.empty()) << h.errors[0].message;
  ASSERT_EQ(h.rows.size(), 1u);
  EXPECT_EQ(h.rows[0].details.jobTitle, "Head of Sales EMEA, North, West");
  // The rest of the row the stray quote opened in, on the cell's first line, and
  // the next row's start cut at the closing quote: caught by the first line.
  ImportFile k = check(kHeader +
                       "Bob,Baker,b@x.example,\"Senior,b@x.example,1,DE\r\nDan,O\"Brien,d@x."
                       "example,Clerk,b@x.example,1,DE\r\n");
  ASSERT_FALSE(k.errors.empty());
  EXPECT_EQ(k.errors[0].column, "Job title") << k.errors[0].message;
}

TEST(ImportFileCheck, AnEmptyFileAndAFileOfOnlyTheHeaderAreRefused) {
  EXPECT_NE(check("").errors.at(0).message.find("empty"), std::string::npos);
  EXPECT_NE(check("\xEF\xBB\xBF\r\n").errors.at(0).message.find("empty"), std::string::npos);
  // A header the reader stops in is that one error, not also an empty file.
  ImportFile latin1 = check("Given Name,Surname,Manager\x92s email address\r\nA,B,c@d.example\r\n");
  ASSERT_EQ(latin1.errors.size(), 1u) << latin1.errors.back().message;
  EXPECT_EQ(latin1.errors[0].row, 1u);
  EXPECT_NE(latin1.errors[0].message.find("0x92"), std::string::npos) << latin1.errors[0].message;
  EXPECT_EQ(latin1.errors[0].value, "Manager\uFFFD") << "the cell up to the broken character";
  // A Windows-1252 "ë" starts a UTF-8 sequence that the next letter breaks: not part
  // of what is shown (the value is UTF-8, as every answer is).
  ImportFile zoe = check(kHeader + "Zo\xEB" + "e,B,zo@x.example,Clerk,zo@x.example,1,\r\n");
  ASSERT_EQ(zoe.errors.size(), 1u);
  EXPECT_EQ(zoe.errors[0].column, "Given Name");
  EXPECT_EQ(zoe.errors[0].value, "Zo\uFFFD");
  // A longer cell (past a string's inner buffer), and a file ending inside a character.
  ImportFile longer =
      check(kHeader + "Bo,Oh,bo@x.example,Responsable adjoint du r\xE9seau,bo@x.example,1,\r\n");
  ASSERT_EQ(longer.errors.size(), 1u);
  EXPECT_EQ(longer.errors[0].value, "Responsable adjoint du r\uFFFD");
  ImportFile cut = check(kHeader + "Bo,Oh,bo@x.example,Responsable du service client\xC3");
  ASSERT_EQ(cut.errors.size(), 1u);
  EXPECT_EQ(cut.errors[0].value, "Responsable du service client\uFFFD");
  ImportFile f = check(kHeader);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].row, 2u);
  EXPECT_NE(f.errors[0].message.find("no users"), std::string::npos);
}

TEST(ImportFileCheck, ReadingStopsPastTheRowLimit) {
  ImportReadOptions options;
  options.maxRows = 3;
  EXPECT_FALSE(readUserImport(usersFile(3, "x.example"), countries(), options).tooManyRows);
  EXPECT_TRUE(readUserImport(usersFile(4, "x.example"), countries(), options).tooManyRows);
}

TEST(ImportFileCheck, ManagersOutsideThePoolAndTheFileAreAWarningAskedOncePerEmail) {
  std::vector<std::string> asked;
  ImportFile f = check(kHeader + "Ann,Lee,ann@x.example,Clerk,boss@x.example,1,\r\n" +
                           "Bob,Ray,bob@x.example,Clerk,BOSS@x.example,1,\r\n" +
                           "Cid,Fox,cid@x.example,Clerk,ann@x.example,1,\r\n" +
                           "Dan,Orr,dan@x.example,Clerk,known@x.example,1,\r\n" +
                           "Eli,Orr,eli@x.example,Clerk,left@x.example,1,\r\n",
                       [&](std::string_view email) {
                         asked.emplace_back(email);
                         return email == "known@x.example"  ? Member::kActive
                                : email == "left@x.example" ? Member::kDeactivated
                                                            : Member::kNone;
                       });
  EXPECT_EQ(asked, (std::vector<std::string>{"boss@x.example", "ann@x.example", "known@x.example",
                                             "left@x.example"}));
  ASSERT_EQ(f.warnings.size(), 3u);
  EXPECT_EQ(f.warnings[0].row, 2u);
  EXPECT_EQ(f.warnings[1].row, 3u);
  EXPECT_EQ(f.warnings[1].value, "BOSS@x.example");
  // A manager who is a deactivated user is said to be (a review).
  EXPECT_EQ(f.warnings[2].row, 6u);
  EXPECT_EQ(f.warnings[2].message, "The manager is a deactivated user of the pool.");
  EXPECT_EQ(f.rows.size(), 5u);  // warnings do not stop a row

  // A manager who is also a row of the file, but whom the pool holds deactivated
  // (so that row is refused), is warned of at once, not once the row is taken out
  // (a review).
  f = check(kHeader + "Lea,Orr,left@x.example,Clerk,left@x.example,1,\r\n" +
                "Max,Orr,max@x.example,Clerk,LEFT@x.example,1,\r\n",
            [](std::string_view email) {
              return emailKey(email) == "left@x.example" ? Member::kDeactivated : Member::kNone;
            });
  ASSERT_EQ(f.warnings.size(), 2u);
  EXPECT_EQ(f.warnings[1].row, 3u);
  EXPECT_EQ(f.warnings[1].message, "The manager is a deactivated user of the pool.");

  // A row with an error is warned of its manager too: fixing the error reveals
  // nothing new.
  f = check(kHeader + "Eve,Ash,eve@x.example,Clerk,nobody@x.example,2,\r\n",
            [](std::string_view) { return Member::kNone; });
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].column, "Is Active");
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_EQ(f.warnings[0].row, 2u);
  EXPECT_EQ(f.warnings[0].value, "nobody@x.example");

  // A manager the file itself makes inactive (Is Active 0) is said to be, as a
  // deactivated one of the pool is (a review: it was not), before or after their row;
  // one the file makes active is not.
  f = check(kHeader + "Xia,Orr,xia@x.example,Clerk,YAN@x.example,1,\r\n" +
                "Yan,Orr,yan@x.example,Clerk,zed@x.example,0,\r\n" +
                "Zed,Orr,zed@x.example,Clerk,xia@x.example,1,\r\n" +
                "Abe,Orr,abe@x.example,Clerk,yan@x.example,1,\r\n",
            [](std::string_view) { return Member::kNone; });
  EXPECT_TRUE(f.errors.empty());
  ASSERT_EQ(f.warnings.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(f.warnings[i].row, i == 0 ? 2u : 5u);
    EXPECT_EQ(f.warnings[i].column, "Manager's email address");
    EXPECT_EQ(f.warnings[i].message,
              "The manager is a row of this file whose Is Active is 0: they are created as a "
              "deactivated user.");
  }
  EXPECT_EQ(f.warnings[0].value, "YAN@x.example");
  // An inactive row that names itself is not warned of itself.
  f = check(kHeader + "Ann,Orr,ann@x.example,Boss,ANN@x.example,0,\r\n",
            [](std::string_view) { return Member::kNone; });
  EXPECT_TRUE(f.warnings.empty()) << f.warnings[0].message;
}

TEST(ImportFileCheck, TheErrorLogReadsBackAsTheSameRowsWithFormulaCellsInert) {
  std::vector<ImportIssue> errors = {
      {2, "Is Active", "=1+1", "Must be 1 (active) or 0 (inactive), or TRUE or FALSE."},
      {3, "Email address", "a,\"b\"\r\nc", "Is not an email."}};
  std::vector<ImportIssue> warnings = {{4, "Given Name", " Ann", "The spaces were removed."}};
  const std::string log = importLogCsv(errors, warnings);
  EXPECT_EQ(log.substr(0, 3), "\xEF\xBB\xBF");
  auto rows = parseCsv(log);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"Row", "Column", "Value", "Message"}));
  EXPECT_EQ(rows[1],
            (std::vector<std::string>{"2", "Is Active", "'=1+1",
                                      "Must be 1 (active) or 0 (inactive), or TRUE or FALSE."}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "Email address", "a,\"b\"\r\nc", "Is not an email."}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"4", "Given Name", " Ann",
                                               "Warning: The spaces were removed."}));
  // A control character shows as its picture (a review found a NUL written raw);
  // tabs and line breaks stay as the sheet held them.
  const std::string pictured = importLogCsv(
      {{2, "Given Name", std::string("An\0na\x1b\x7f\tx", 9), "Holds a control character."}}, {});
  EXPECT_EQ(pictured.find('\0'), std::string::npos);
  rows = parseCsv(pictured);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][2], "An\u2400na\u241b\u2421\tx");
}

// --- the endpoints ---------------------------------------------------------------------------

struct ImportWorld {
  ApiServer server;
  Person owner;
  HttpClient client{server.port()};
  explicit ImportWorld(const std::string& company = "acme") { owner = server.provision(company); }
  std::uint64_t head() { return server.portal().store().lastPosition(); }
};

// A command whose events the views have not shown within the read-your-writes wait
// (here none: the views are still projecting a large import) is answered 202 with
// what it made, not read back from a view that lacks it (a user just created read 404).
TEST(HttpImport, ACommandTheViewsHaveNotCaughtUpWithIsAnswered202WithItsId) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  HttpClient client(server.port());
  server.portal().setReadYourWritesTimeout(std::chrono::milliseconds(0));
  ASSERT_EQ(upload(client, usersFile(20'000, "bulk.example"), owner.token).status, 200);
  // A deactivation answered so ends the user's sessions all the same.
  Reply off = client.post("/api/v1/users/" + ann.id + "/deactivate", json::object(), owner.token);
  ASSERT_EQ(off.status, 202) << off.body;
  EXPECT_EQ(client.get("/api/v1/me", ann.token).status, 401);
  Reply r = client.post("/api/v1/users", userBody("late@acme.example", "Late", "Comer", owner.email),
                        owner.token);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["status"], "accepted");
  EXPECT_GT(r.json()["position"].get<std::uint64_t>(), 20'000u);
  const std::string id = r.json()["id"];
  EXPECT_NE(r.json()["detail"].get<std::string>().find("durable"), std::string::npos);
  EXPECT_TRUE(
      waitFor([&] { return client.get("/api/v1/users/" + id, owner.token).status == 200; }));
}

TEST(HttpImport, FilesAsSpreadsheetsSaveThemCreateTheirUsers) {
  ImportWorld w;
  struct Case {
    const char* file;
    std::size_t users, warnings;  // a multi-line cell is made one line, with a warning
  };
  for (const Case& c :
       {Case{"excel_bom_crlf.csv", 3, 0}, Case{"libreoffice_semicolon_lf.csv", 2, 1},
        Case{"non_latin_bom_crlf.csv", 4, 1}, Case{"numbers_cr_blank_rows.csv", 1, 0}}) {
    Reply r = upload(w.client, fileBytes(c.file), w.owner.token);
    ASSERT_EQ(r.status, 200) << c.file << ": " << r.body;
    EXPECT_EQ(r.json()["status"], "completed") << c.file;
    EXPECT_EQ(r.json()["created"], c.users) << c.file;
    EXPECT_EQ(r.json()["warnings"].size(), c.warnings) << c.file << ": " << r.body;
    // The import is in the audit trail under its id, naming whom it created.
    const Reply audit = w.client.get(
        "/api/v1/audit?subject=" + r.json()["importId"].get<std::string>(), w.owner.token);
    ASSERT_EQ(audit.status, 200) << audit.body;
    const json entries = audit.json()["items"];
    ASSERT_EQ(entries.size(), 1u) << c.file << ": " << audit.body;
    EXPECT_EQ(entries[0]["type"], "UsersImported") << audit.body;
  }
  auto one = [&](const std::string& email) { return userOfEmail(w.client, w.owner.token, email); };
  json grace = one("grace@acme.example");
  EXPECT_EQ(grace["jobTitle"], "Rear Admiral \"Amazing Grace\"");
  EXPECT_EQ(grace["country"], "US");
  EXPECT_EQ(grace["managerEmail"], "ada@acme.example");
  EXPECT_EQ(one("ada@acme.example")["jobTitle"], "Head, Analytics");
  EXPECT_EQ(one("alan@acme.example")["active"], false);
  EXPECT_TRUE(one("alan@acme.example")["country"].is_null());
  EXPECT_EQ(one("juergen@acme.example")["jobTitle"], "Leiter Einkauf");
  EXPECT_EQ(one("zoe@acme.example")["surname"], "Weiß");
  EXPECT_EQ(one("zoe@acme.example")["jobTitle"], "Analystin, Controlling");
  EXPECT_EQ(one("taro@acme.example")["givenName"], "山田");
  EXPECT_EQ(one("taro@acme.example")["jobTitle"], "エンジニア チームリーダー");
  EXPECT_EQ(one("sofia@acme.example")["surname"], "Παπαδοπούλου");
  EXPECT_EQ(one("mohammed@acme.example")["country"], "EG");
  EXPECT_EQ(one("kim@acme.example")["country"], "KR");
}

// A file in the character set its Content-Type names is read as that: Windows'
// "CSV" (Windows-1252), Japanese Excel's (Shift_JIS), UTF-16 with its mark. A byte
// that is no character of it is an error at its row and column, and a character set
// the server has no converter for is 415 before the file is read.
TEST(HttpImport, AFileInTheCharacterSetItsContentTypeNamesIsReadAsThat) {
  ImportWorld w;
  auto send = [&](const std::string& bytes, const std::string& type) {
    return w.client.request("POST", "/api/v1/users/import", bytes, w.owner.token,
                            {{"Content-Type", type}});
  };
  const std::string manager = ",owner@acme.example,1,DE\r\n";
  Reply r = send(kHeader + "Zo\xEB,M\xFCller,zoe.m@acme.example,Analystin \x80 Controlling" +
                     manager + "J\xFCrgen,Wei\xDF,juergen.w@acme.example,Leiter" + manager,
                 "text/csv; charset=windows-1252");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["created"], 2);
  json zoe = userOfEmail(w.client, w.owner.token, "zoe.m@acme.example");
  EXPECT_EQ(zoe["givenName"], "Zoë");
  EXPECT_EQ(zoe["surname"], "Müller");
  EXPECT_EQ(zoe["jobTitle"], "Analystin € Controlling");
  EXPECT_EQ(userOfEmail(w.client, w.owner.token, "juergen.w@acme.example")["surname"], "Weiß");

  r = send(kHeader + "\x8E\x52\x93\x63,\x91\xBE\x98\x59,taro.y@acme.example," +
               "\x83G\x83\x93\x83W\x83j\x83\x41" + manager,
           "text/csv;charset=\"Shift_JIS\"");
  ASSERT_EQ(r.status, 200) << r.body;
  json taro = userOfEmail(w.client, w.owner.token, "taro.y@acme.example");
  EXPECT_EQ(taro["givenName"], "山田");
  EXPECT_EQ(taro["surname"], "太郎");
  EXPECT_EQ(taro["jobTitle"], "エンジニア");

  const std::u16string text = u"\uFEFF" + std::u16string(kHeader.begin(), kHeader.end()) +
                              u"Sofia,Παπαδοπούλου,sofia.p@acme.example,Clerk,owner@acme.example,1,"
                              u"GR\r\n";
  std::string utf16;
  for (char16_t unit : text) {
    utf16 += static_cast<char>(unit & 0xFF);
    utf16 += static_cast<char>(unit >> 8);
  }
  r = send(utf16, "text/csv; charset=UTF-16");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(userOfEmail(w.client, w.owner.token, "sofia.p@acme.example")["surname"],
            "Παπαδοπούλου");

  // Shift_JIS has no character that starts 0x81 and goes on with a space.
  r = send(kHeader + "Ken,Sato,ken.s@acme.example,Clerk" + manager +
               "Aki,Ito,aki.i@acme.example,\x81 Clerk" + manager,
           "text/csv; charset=Shift_JIS");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["created"], 0);
  ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
  const json error = r.json()["errors"][0];
  EXPECT_EQ(error["row"], 3);
  EXPECT_EQ(error["column"], "Job title");
  EXPECT_NE(error["message"].get<std::string>().find(
                "is no character of Shift_JIS, the character set the request's Content-Type names"),
            std::string::npos)
      << r.body;
  EXPECT_THROW(userOfEmail(w.client, w.owner.token, "ken.s@acme.example"), std::runtime_error)
      << "nothing created";

  for (const char* type : {"text/csv; charset=klingon", "text/csv; charset=\"\""}) {
    r = send(kHeader + "Ken,Sato,ken.s@acme.example,Clerk" + manager, type);
    EXPECT_EQ(r.status, 415) << type << ": " << r.body;
    EXPECT_NE(r.json()["detail"].get<std::string>().find(std::string_view(type).ends_with("\"\"")
                                                             ? "names an empty character set"
                                                             : "is not one this server reads"),
              std::string::npos)
        << r.body;
  }
  r = send(kHeader + "Ken,Sato,ken.s@acme.example,Clerk" + manager,
           "text/csv; charset=windows-1252; charset=utf-8");
  EXPECT_EQ(r.status, 415) << "two charsets: " << r.body;
  // UTF-8 said as such, in any of its names, is read as before.
  r = send(kHeader + "Ken,Sato,ken.s@acme.example,Clerk" + manager, "text/csv; charset=UTF8");
  EXPECT_EQ(r.status, 200) << r.body;

  // A byte windows-1252 leaves unassigned is named as one, not as a control character.
  r = send(kHeader + "Ola,Nordmann,ola.n@acme.example,Dev\x81x" + manager,
           "text/csv; charset=windows-1252");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["column"], "Job title") << r.body;
  EXPECT_EQ(r.json()["errors"][0]["message"].get<std::string>().rfind(
                "Byte 0x81 is no character of windows-1252", 0),
            0u)
      << r.body;
  // A UTF-8 file said to be in another charset would have its names changed unseen
  // (Müller as MÃ¼ller): refused. One with UTF-8's byte-order mark is read as UTF-8,
  // as browsers read it, and a bad first byte is said as that, not as UTF-16's mark.
  const std::string mueller = "Jan,M\xC3\xBCller,jan.m@acme.example,Dev" + manager;
  r = send(kHeader + mueller, "text/csv; charset=ISO-8859-1");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.json()["errors"][0]["message"].get<std::string>().find(
                "The file is UTF-8, not ISO-8859-1 as the request's Content-Type says"),
            std::string::npos)
      << r.body;
  r = send("\xEF\xBB\xBF" + kHeader + mueller, "text/csv; charset=Shift_JIS");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(userOfEmail(w.client, w.owner.token, "jan.m@acme.example")["surname"], "Müller");
  r = send(kHeader + "Ken,Sato,ken.s2@acme.example,Clerk" + manager, "text/csv; charset=UTF-32");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.json()["errors"][0]["message"].get<std::string>().find("no character of UTF-32"),
            std::string::npos)
      << r.body;

  // The same bytes with the same Idempotency-Key in another charset are another request.
  const std::string juergen = kHeader + "J\xFCrgen,Gro\xDF,juergen.g@acme.example,Dev" + manager;
  auto keyed = [&](const std::string& type) {
    return w.client.request("POST", "/api/v1/users/import", juergen, w.owner.token,
                            {{"Content-Type", type}, {"Idempotency-Key", "import-juergen"}});
  };
  ASSERT_EQ(keyed("text/csv; charset=koi8-r").status, 200);
  r = keyed("text/csv; charset=windows-1252");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["code"], "idempotency-key-reused") << r.body;
  EXPECT_EQ(keyed("text/csv; charset=KOI8-R").json()["created"], 1) << "the first answer again";
}

// Files LibreOffice 7.4.7 saved (headless, from the template's workbook filled with
// openpyxl: a review, 2026-12-05), byte for byte, for the company "demo", whose
// owner they name as the manager: "Text CSV" with the character set "Unicode
// (UTF-8)", separated by commas and by semicolons; 3 empty columns on every line and
// 37 empty rows after the users (cells formatted to J39); and the same sheet in
// LibreOffice's default character set, Windows-1252, whole and with only CJK names,
// which it writes as question marks.
TEST(HttpImport, FilesLibreOfficeSavedImportAsTheSheetHeldThem) {
  ImportWorld w("demo");
  auto rowsAndColumns = [](const json& list) {
    std::vector<std::string> out;
    for (const auto& i : list)
      out.push_back(std::to_string(i["row"].get<std::size_t>()) + "|" +
                    i["column"].get<std::string>());
    return out;
  };
  // (Row 8's manager is row 3, whom the file makes inactive.)
  const std::vector<std::string> warned = {"5|Job title", "7|Manager's email address",
                                           "8|Manager's email address", "9|Given Name"};
  for (const char* file : {"libreoffice_utf8_comma.csv", "libreoffice_utf8_semicolon.csv"}) {
    Reply r = upload(w.client, fileBytes(file), w.owner.token);
    ASSERT_EQ(r.status, 200) << file << ": " << r.body;
    EXPECT_EQ(r.json()["created"], 8) << file;
    EXPECT_EQ(rowsAndColumns(r.json()["warnings"]), warned) << file << ": " << r.body;
  }
  auto one = [&](const std::string& email) { return userOfEmail(w.client, w.owner.token, email); };
  for (const std::string prefix : {"", "s-"}) {
    const json zoe = one(prefix + "zoe.angstrom@example.com");
    EXPECT_EQ(zoe["givenName"], "Zo\u00EB");
    EXPECT_EQ(zoe["surname"], "\u00C5ngstr\u00F6m");
    EXPECT_EQ(zoe["email"], prefix + "Zoe.Angstrom@Example.COM") << "as typed";
    EXPECT_EQ(zoe["jobTitle"], "Head of Sales, \"EMEA\" Region");
    EXPECT_EQ(zoe["country"], "SE");
    const json taro = one(prefix + "taro.tanaka@example.jp");
    EXPECT_EQ(taro["givenName"], "\u592A\u90CE");
    EXPECT_EQ(taro["surname"], "\u7530\u4E2D");
    EXPECT_EQ(taro["jobTitle"], "\u55B6\u696D\u90E8\u9577");
    EXPECT_EQ(taro["country"], "JP");
    EXPECT_EQ(one(prefix + "hc.orsted@example.dk")["active"], false);
    EXPECT_EQ(one(prefix + "joerg.mueller@example.de")["jobTitle"], "Leiter Einkauf EMEA");
    EXPECT_TRUE(one(prefix + "renee.obrien@example.ie")["country"].is_null());
    EXPECT_EQ(one(prefix + "kouassi.yao@example.ci")["country"], "CI");
    const json angelique = one(prefix + "angelique.nguyen@example.vn");
    EXPECT_EQ(angelique["givenName"], "Ange\u0301lique") << "decomposed, as the sheet held it";
    EXPECT_EQ(angelique["surname"], "Nguy\u1EC5n");
    EXPECT_EQ(angelique["jobTitle"], "0042");
    EXPECT_EQ(angelique["country"], "VN");
    EXPECT_EQ(one(prefix + "sorina@example.is")["givenName"], "S\u00F8rina");
  }
  Reply r = upload(w.client, fileBytes("libreoffice_trailing_empty_cells.csv"), w.owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["created"], 2);
  EXPECT_TRUE(r.json()["warnings"].empty()) << r.body;
  EXPECT_EQ(one("t-two@example.com")["country"], "FR");

  // Windows-1252: the reading stops at the first letter that is no UTF-8, the ë of
  // "Zoë" before its closing quote, which is not named as a bad byte too.
  const std::uint64_t before = w.head();
  r = upload(w.client, fileBytes("libreoffice_windows1252.csv"), w.owner.token, "?dryRun=true");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(issues(r.json()["errors"]),
            std::vector<std::string>{
                "2|Given Name|Zo\uFFFD|Invalid UTF-8 (byte 0xEB); save the file as \"CSV "
                "UTF-8\" (in LibreOffice: Text CSV with the character set \"Unicode (UTF-8)\")."});
  // Letters it cannot write are question marks, in a file of plain ASCII: a name of
  // them alone is refused, a title of them is a warning, and nothing is created.
  r = upload(w.client, fileBytes("libreoffice_windows1252_without_its_letters.csv"), w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(rowsAndColumns(r.json()["errors"]),
            (std::vector<std::string>{"2|Given Name", "2|Surname"}));
  EXPECT_EQ(rowsAndColumns(r.json()["warnings"]), std::vector<std::string>{"2|Job title"});
  EXPECT_NE(r.json()["errors"][0]["message"].get<std::string>().find(
                "Is question marks alone, which is what a spreadsheet writes for letters"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(r.json()["warnings"][0]["value"], "????");
  EXPECT_EQ(r.json()["warnings"][0]["message"].get<std::string>().rfind(
                "Holds question marks, which is what a spreadsheet writes for letters", 0),
            0u)
      << r.body;
  EXPECT_EQ(w.head(), before);
}

// A question mark among letters is a warning, wherever the file came from; a name
// of question marks alone an error (not a job title: "?" may stand for one unknown).
TEST(ImportFileCheck, QuestionMarksWhereLettersWereAreSaid) {
  const ImportFile f = check(kHeader +
                             "Ange?lique,Nguy?n,a@acme.example,Why?,a@acme.example,1,\r\n"
                             "? ?,Lee,b@acme.example,?,a@acme.example,1,\r\n"
                             "Bo,??,c@acme.example,Clerk,a@acme.example,1,\r\n"
                             // A no-break space is white space; a tab is refused as itself.
                             "?\u00A0?,\"?\t?\",d@acme.example,Clerk,a@acme.example,1,\r\n"
                             // An address: the welcome mail's; a manager's is kept as typed.
                             "Ed,Poe,m?ller@acme.example,Clerk,m?ller@acme.example,1,\r\n"
                             // Österreich: no country, and the error says why.
                             "Fy,Ode,f@acme.example,Clerk,a@acme.example,1,?sterreich\r\n");
  std::vector<std::string> errors, warnings;
  for (const auto& e : f.errors) errors.push_back(std::to_string(e.row) + "|" + e.column);
  for (const auto& e : f.warnings) warnings.push_back(std::to_string(e.row) + "|" + e.column);
  ASSERT_EQ(errors, (std::vector<std::string>{"3|Given Name", "4|Surname", "5|Given Name",
                                              "5|Surname", "6|Email address", "7|Country"}));
  EXPECT_EQ(warnings, (std::vector<std::string>{"2|Given Name", "2|Surname", "2|Job title",
                                                "3|Job title", "6|Manager's email address"}));
  EXPECT_EQ(f.errors[3].message, "Holds a control character.");
  EXPECT_EQ(f.errors[5].message,
            "Is not a known ISO 3166-1 country (its English name or two-letter code, as GET "
            "/api/v1/countries and the template's Countries sheet list them); it holds a "
            "question mark, which is what a spreadsheet writes for a letter that the file's "
            "character set cannot hold: " +
                std::string(kSaveAsCsvUtf8) + " and import it again.");
  ASSERT_FALSE(f.warnings.empty());
  EXPECT_EQ(f.warnings[0].message.rfind("Holds a question mark, which is what a spreadsheet", 0),
            0u)
      << f.warnings[0].message;
}

// A manager's warning is the pool's as the users are created, not as a view showed it
// when the file was read (a review: a manager deactivated meanwhile, in a race, was
// not said to be). Here the view that the file's check reads is held still: it
// stops at carol's deactivation, and dave's after it is in the log alone.
TEST(HttpImport, ManagersAreJudgedAsThePoolIsWhenTheUsersAreCreated) {
  ImportWorld w;
  const Person carol = w.server.user("acme", w.owner, "carol");
  const Person dave = w.server.user("acme", w.owner, "dave");
  const auto company = w.server.portal().credentials().companyBySlug("acme");
  ASSERT_TRUE(company);
  w.server.stopViewAt(CredentialsProjection::kName, company->id, w.owner, carol);
  ASSERT_TRUE(w.server.portal()
                  .execute(Command{company->id, w.owner.id, DeactivateUser{dave.id, {}}})
                  .accepted());
  // (Spaces around an address: shown as typed, whoever judged it, as errors show
  // cells: a review got them in one answer and not in another.)
  const std::string file = kHeader + "Ann,Lee,ann@acme.example,Clerk," + dave.email +
                           ",1,DE\r\n"
                           "Bo,Ng,bo@acme.example,Clerk,ann@acme.example,1,DE\r\n"
                           "Cy,Ode,cy@acme.example,Clerk, nobody@acme.example ,1,DE\r\n";
  const std::string spaces =
      "4|Manager's email address| nobody@acme.example |The spaces around "
      "the value were removed.";
  const std::string nobody =
      "4|Manager's email address| nobody@acme.example |No user with this "
      "email is in the pool or in this file; the manager is kept as an "
      "email address.";
  Reply refused =
      upload(w.client, file + "Di,Roe,not-an-email,Clerk,ann@acme.example,1,DE\r\n", w.owner.token);
  ASSERT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(issues(refused.json()["warnings"]), (std::vector<std::string>{spaces, nobody}))
      << "the file's check, which reads the view (dave shows active)";
  const std::vector<std::string> expected = {
      "2|Manager's email address|" + dave.email + "|The manager is a deactivated user of the pool.",
      spaces, nobody};
  for (const std::string query : {"?dryRun=true", ""}) {
    Reply r = upload(w.client, file, w.owner.token, query);
    ASSERT_EQ(r.status, 200) << query << ": " << r.body;
    EXPECT_EQ(issues(r.json()["warnings"]), expected) << query << ": " << r.body;
    EXPECT_EQ(r.json()["warningCount"], 3) << query;
    Reply log = w.client.get(r.json()["log"].get<std::string>(), w.owner.token);
    ASSERT_EQ(log.status, 200) << log.body;
    EXPECT_EQ(parseCsv(log.body).size(), 4u) << "the header and the three warnings: " << log.body;
  }
}

// A manager whom the same file makes inactive is warned of as a deactivated one of
// the pool is (a review's file: only the pool's was), in a dry run and in the import,
// and the users are created with the manager linked all the same.
TEST(HttpImport, AManagerTheFileMakesInactiveIsAWarning) {
  ImportWorld w;
  const std::string file = kHeader +
                           "Yan,Orr,yan@acme.example,Clerk,owner@acme.example,0,DE\r\n"
                           "Xia,Orr,xia@acme.example,Clerk,yan@acme.example,1,DE\r\n";
  const std::vector<std::string> expected = {
      "3|Manager's email address|yan@acme.example|The manager is a row of this file whose Is "
      "Active is 0: they are created as a deactivated user."};
  for (const std::string query : {"?dryRun=true", ""}) {
    Reply r = upload(w.client, file, w.owner.token, query);
    ASSERT_EQ(r.status, 200) << query << ": " << r.body;
    EXPECT_EQ(issues(r.json()["warnings"]), expected) << query << ": " << r.body;
    EXPECT_EQ(r.json()["warningCount"], 1) << query;
  }
  Reply list = w.client.get("/api/v1/users?search=xia%40acme", w.owner.token);
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json()["items"].size(), 1u) << list.body;
  EXPECT_EQ(list.json()["items"][0]["managerEmail"], "yan@acme.example");
  EXPECT_EQ(list.json()["items"][0]["active"], true);
}

// The whole list at once: a row with another error is still checked against the
// pool, so the administrator does not fix one thing to be told of the next.
TEST(HttpImport, ARowWithAnotherErrorIsStillReportedAsAlreadyInThePool) {
  ImportWorld w;
  Reply r = upload(w.client, kHeader + "Ann,,owner@acme.example,Clerk,owner@acme.example,1,\r\n",
                   w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  auto errors = issues(r.json()["errors"]);
  ASSERT_EQ(errors.size(), 2u) << r.body;
  EXPECT_EQ(errors[0], "2|Surname||Is required.");
  EXPECT_EQ(errors[1], "2|Email address|owner@acme.example|Is already in the pool.");
}

// An email of a deactivated user is said to be one, with what to do instead (a
// review: an administrator re-hiring someone looks among the active users), on a
// row without another error (the decider's check) and on one with (the file's).
TEST(HttpImport, AnEmailOfADeactivatedUserIsSaidToBeOne) {
  ImportWorld w;
  for (const char* name : {"ann", "bo"}) {
    Person p = w.server.user("acme", w.owner, name);
    ASSERT_EQ(w.client.post("/api/v1/users/" + p.id + "/deactivate", json::object(), w.owner.token)
                  .status,
              200);
  }
  Reply r = upload(w.client,
                   kHeader + "Ann,Lee,ann@acme.example,Clerk,owner@acme.example,1,\r\n" +
                       "Bo,,bo@acme.example,Clerk,owner@acme.example,1,\r\n",
                   w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  const std::string said =
      "Is already in the pool, as a deactivated user: reactivate them instead of importing them "
      "again.";
  EXPECT_EQ(issues(r.json()["errors"]),
            (std::vector<std::string>{"2|Email address|ann@acme.example|" + said,
                                      "3|Surname||Is required.",
                                      "3|Email address|bo@acme.example|" + said}));
}

// Excel's "Unicode Text" (UTF-16 with its mark, separated by tabs) and a UTF-8 file
// separated by tabs are said to be what they are, with the way to save them.
TEST(ImportFileCheck, AUtf16OrTabSeparatedFileIsNamedAsSuch) {
  // Excel's "Unicode Text": UTF-16 with its byte-order mark, which it is read as (as
  // browsers read a file with a mark), and separated by tabs, which is said.
  std::string utf16 = "\xFF\xFE";
  for (char c : kHeader) utf16 += std::string(1, c == ',' ? '\t' : c) + '\0';
  ImportFile f = check(utf16);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].row, 1u);
  EXPECT_NE(f.errors[0].message.find("separated by tabs: the file was saved as \"Text\" or "
                                     "\"Unicode Text\""),
            std::string::npos)
      << f.errors[0].message;
  // UTF-16 separated by commas, with its mark, either way round: its users are read.
  for (const bool bigEndian : {false, true}) {
    std::string text = bigEndian ? "\xFE\xFF" : "\xFF\xFE";
    for (char c : kHeader + "Ann,Lee,ann@acme.example,Clerk,ann@acme.example,1,DE\r\n")
      text += bigEndian ? std::string(1, '\0') + c : std::string(1, c) + '\0';
    f = check(text);
    EXPECT_TRUE(f.errors.empty()) << f.errors.front().message;
    ASSERT_EQ(f.rows.size(), 1u);
  }
  // Without its byte-order mark: a NUL beside each character (a review got 25 errors
  // of control characters and rows numbered twice over).
  for (const bool bigEndian : {false, true}) {
    std::string bare;
    for (char c : kHeader + "Ann,Lee,ann@acme.example,Clerk,owner@acme.example,1,DE\r\n")
      bare += bigEndian ? std::string(1, '\0') + c : std::string(1, c) + '\0';
    f = check(bare + (bigEndian ? std::string("\0\xe9", 2) : std::string("\xe9\0", 2)));  // é
    ASSERT_EQ(f.errors.size(), 1u) << f.errors.back().message;
    EXPECT_EQ(f.errors[0].row, 1u);
    EXPECT_EQ(f.errors[0].message.rfind("The file is UTF-16 (as Excel saves \"Unicode Text\")", 0),
              0u)
        << f.errors[0].message;
  }
  // UTF-32, little- and big-endian, with its mark (it was named UTF-16, then refused):
  // read as that.
  for (const bool bigEndian : {false, true}) {
    std::string utf32 = bigEndian ? std::string("\0\0\xFE\xFF", 4) : std::string("\xFF\xFE\0\0", 4);
    for (char c : kHeader + "Ann,Lee,ann@acme.example,Clerk,ann@acme.example,1,DE\r\n")
      utf32 += bigEndian ? std::string(3, '\0') + c : c + std::string(3, '\0');
    f = check(utf32);
    EXPECT_TRUE(f.errors.empty()) << f.errors.front().message;
    ASSERT_EQ(f.rows.size(), 1u);
    EXPECT_EQ(f.rows[0].details.surname, "Lee");
  }
  std::string tabs = kHeader + "Ann\tLee\tann@acme.example\tClerk\towner@acme.example\t1\tDE\r\n";
  std::replace(tabs.begin(), tabs.begin() + static_cast<std::ptrdiff_t>(kHeader.size()), ',', '\t');
  // One error, on the header (a review got seven columns "missing" before it), and
  // its rows are counted, not checked.
  f = check(tabs);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].row, 1u);
  EXPECT_EQ(f.errors[0].column, "Column A");
  EXPECT_NE(f.errors[0].message.find("separated by tabs: the file was saved as \"Text\""),
            std::string::npos)
      << f.errors[0].message;
  EXPECT_EQ(f.userRows, 1u);
  EXPECT_TRUE(f.warnings.empty());
}

TEST(HttpImport, EveryKindOfErrorAndWarningIsReportedWithItsRowColumnAndValue) {
  ImportWorld w;
  const std::string csv =
      kHeader +
      ",Blank,blank@acme.example,Clerk,owner@acme.example,1,\r\n"                  // 2
      "Mal,Formed,not-an-email,Clerk,owner@acme.example,1,\r\n"                    // 3
      "Dee,One,dup@acme.example,Clerk,owner@acme.example,1,\r\n"                   // 4
      "Dee,Two,DUP@acme.example,Clerk,owner@acme.example,1,\r\n"                   // 5
      "Olga,Again,owner@acme.example,Clerk,owner@acme.example,1,\r\n"              // 6
      "Ina,Active,ina@acme.example,Clerk,owner@acme.example,yes,\r\n"              // 7
      "Atl,Antis,atl@acme.example,Clerk,owner@acme.example,1,Atlantis\r\n"         // 8
      "Mo,Nager,mo@acme.example,Clerk,nobody@elsewhere.example,1,\r\n"             // 9
      "  Padded  ,Name,pad@acme.example,Clerk,owner@acme.example,1,\r\n"           // 10
      "Bad,Manager,bm@acme.example,Clerk,not-an-email,1,\r\n"                      // 11
      "Nb,\u00a0\u200b,nb@acme.example,Clerk,owner@acme.example,1,\r\n"            // 12
      "Zoe\u00a0,Web,zoe@acme.example,Clerk,owner@acme.example,1,Germany\u00a0\r\n";  // 13
  const std::uint64_t before = w.head();
  Reply r = upload(w.client, csv, w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  json body = r.json();
  EXPECT_EQ(body["status"], "rejected");
  EXPECT_EQ(body["created"], 0);
  auto errors = issues(body["errors"]);
  ASSERT_EQ(errors.size(), 8u) << r.body;
  EXPECT_EQ(errors[0], "2|Given Name||Is required.");
  EXPECT_EQ(errors[1].substr(0, 29), "3|Email address|not-an-email|");
  EXPECT_EQ(errors[2],
            "5|Email address|DUP@acme.example|The same email is on row 4: each user's email must be "
            "in the file once.");
  EXPECT_EQ(errors[3], "6|Email address|owner@acme.example|Is already in the pool.");
  EXPECT_EQ(errors[4], "7|Is Active|yes|Must be 1 (active) or 0 (inactive), or TRUE or FALSE.");
  EXPECT_EQ(errors[5],
            "8|Country|Atlantis|Is not a known ISO 3166-1 country (its English name or two-letter "
            "code, as GET /api/v1/countries and the template's Countries sheet list them).");
  EXPECT_EQ(errors[6].substr(0, 40), "11|Manager's email address|not-an-email|");
  // A name of no-break and zero-width spaces alone is blank.
  EXPECT_EQ(errors[7], "12|Surname|\u00a0\u200b|Is required.");
  auto warnings = issues(body["warnings"]);
  ASSERT_EQ(warnings.size(), 4u) << r.body;
  EXPECT_EQ(warnings[0].substr(0, 54), "9|Manager's email address|nobody@elsewhere.example|No ");
  EXPECT_NE(warnings[0].find("in the pool or in this file"), std::string::npos);
  EXPECT_EQ(warnings[1], "10|Given Name|  Padded  |The spaces around the value were removed.");
  // Spaces of other scripts around a name or a country go too (pasted from the web).
  EXPECT_EQ(warnings[2], "13|Given Name|Zoe\u00a0|The spaces around the value were removed.");
  EXPECT_EQ(warnings[3], "13|Country|Germany\u00a0|The spaces around the value were removed.");
  EXPECT_EQ(body["errorCount"], 8);
  EXPECT_EQ(body["rows"], 12);

  // Nothing was created, and the log holds every error and warning.
  EXPECT_EQ(w.head(), before);
  EXPECT_TRUE(findUsers(w.client, w.owner.token, "dup@acme.example").empty());
  Reply log = w.client.get(body["log"].get<std::string>(), w.owner.token);
  ASSERT_EQ(log.status, 200) << log.body;
  EXPECT_EQ(log.header("content-type"), "text/csv; charset=utf-8");
  auto rows = parseCsv(log.body);
  ASSERT_EQ(rows.size(), 1u + 8u + 4u);
  for (std::size_t i = 0; i < 8; ++i) {
    const json& e = body["errors"][i];
    EXPECT_EQ(rows[1 + i], (std::vector<std::string>{std::to_string(e["row"].get<int>()),
                                                     e["column"], inertCell(e["value"].get<std::string>()),
                                                     e["message"]}));
  }
  EXPECT_EQ(rows[9][3].substr(0, 9), "Warning: ");
}

TEST(HttpImport, AMissingColumnIsReportedOnceNotOnEveryRow) {
  ImportWorld w;
  Reply r = upload(w.client,
                   "Given Name,Surname,Email address,Manager's email address,Is Active,Country\r\n"
                   "Ann,Lee,ann@col.example,ann@col.example,1,\r\n"
                   "Bo,Ray,bo@col.example,ann@col.example,1,\r\n",
                   w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(issues(r.json()["errors"]),
            std::vector<std::string>{"1|Job title||The column is missing from the header row."});
}

TEST(HttpImport, TheErrorLogOfAFileSavedWithSemicolonsUsesThem) {
  // As a spreadsheet writes CSV where `;` is the list separator (a German locale, say),
  // and opens a CSV file again.
  ImportWorld w;
  Reply r = upload(w.client,
                   "Given Name;Surname;Email address;Job title;Manager's email address;Is Active;Country\r\n"
                   "Ann;Lee;ann@semi.example;\"Clerk; Sales\";ann@semi.example;ja;\r\n",
                   w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  Reply log = w.client.get(r.json()["log"].get<std::string>(), w.owner.token);
  ASSERT_EQ(log.status, 200);
  EXPECT_EQ(log.body.substr(0, 3 + 26), "\xEF\xBB\xBFRow;Column;Value;Message\r\n");
  EXPECT_NE(
      log.body.find("2;Is Active;ja;\"Must be 1 (active) or 0 (inactive), or TRUE or FALSE.\"\r\n"),
      std::string::npos)
      << log.body;
}

// A cell far too long is shown in the answer by its first KiB (cut before a
// character) and "…"; the error log holds it whole.
TEST(HttpImport, AHugeCellIsShortenedInTheAnswerAndWholeInTheLog) {
  ImportWorld w;
  std::string huge(1023, 'x');
  for (int i = 0; i < 150000; ++i) huge += "\u00e9";  // its 1,024th byte inside an é
  Reply r = upload(w.client, kHeader + huge + ",Lee,ann@huge.example,Clerk,ann@huge.example,1,\r\n",
                   w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body.substr(0, 300);
  EXPECT_LT(r.body.size(), 4000u);
  const std::string shown = r.json()["errors"][0]["value"];
  EXPECT_EQ(shown, huge.substr(0, 1023) + "\u2026");
  Reply log = w.client.get(r.json()["log"].get<std::string>(), w.owner.token);
  ASSERT_EQ(log.status, 200);
  EXPECT_NE(log.body.find(huge), std::string::npos);
}

TEST(HttpImport, OneBadRowAmongTenThousandCreatesNothing) {
  ImportWorld w;
  std::string csv = usersFile(10'000, "big.example");
  const std::string good = "user5000@big.example,Clerk,user0@big.example,1,DE";
  csv.replace(csv.find(good), good.size(), "user5000@big.example,Clerk,user0@big.example,2,DE");
  const std::uint64_t before = w.head();
  Reply r = upload(w.client, csv, w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body.substr(0, 500);
  EXPECT_EQ(issues(r.json()["errors"]),
            (std::vector<std::string>{
                "5002|Is Active|2|Must be 1 (active) or 0 (inactive), or TRUE or FALSE."}));
  EXPECT_EQ(w.head(), before);
  EXPECT_TRUE(findUsers(w.client, w.owner.token, "big.example").empty());

  // Fixed, the same file creates all 10,000 in one append.
  csv.replace(csv.find("user0@big.example,2,DE"), 22, "user0@big.example,1,DE");
  r = upload(w.client, csv, w.owner.token);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  EXPECT_EQ(r.json()["created"], 10'000);
  EXPECT_EQ(w.head(), before + 10'001);  // every UserCreated and one UsersImported
  auto events = w.server.portal().store().read(w.head(), 1);
  ASSERT_TRUE(events);
  EXPECT_EQ(eventTypeName(events->at(0).data), "UsersImported");
  EXPECT_EQ(findUsers(w.client, w.owner.token, "user9999@big.example").size(), 1u);
}

TEST(HttpImport, AnImportRacingASingleCreateOfTheSameEmailLetsExactlyOneWin) {
  ImportWorld w;
  int importsWon = 0, createsWon = 0;
  for (int trial = 0; trial < 6; ++trial) {
    const std::string domain = "race" + std::to_string(trial) + ".example";
    const std::string contested = "user1999@" + domain;
    const std::string csv = usersFile(2'000, domain);
    Reply imported, created;
    std::latch start(2);
    std::thread a([&] {
      HttpClient c(w.server.port());
      start.arrive_and_wait();
      imported = upload(c, csv, w.owner.token);
    });
    std::thread b([&] {
      HttpClient c(w.server.port());
      start.arrive_and_wait();
      created = c.post("/api/v1/users",
                       {{"email", contested},
                        {"givenName", "Single"},
                        {"surname", "Create"},
                        {"jobTitle", "Clerk"},
                        {"managerEmail", contested}},
                       w.owner.token);
    });
    a.join();
    b.join();
    const bool importWon = imported.status == 200, createWon = created.status == 201;
    EXPECT_NE(importWon, createWon) << imported.status << " " << created.status;
    if (importWon) {
      ++importsWon;
      EXPECT_EQ(created.status, 409) << created.body;
    } else {
      ++createsWon;
      ASSERT_EQ(imported.status, 422) << imported.body.substr(0, 300);
      EXPECT_EQ(issues(imported.json()["errors"]),
                (std::vector<std::string>{"2001|Email address|" + contested +
                                          "|Is already in the pool."}));
    }
    EXPECT_EQ(findUsers(w.client, w.owner.token, contested).size(), 1u);
  }
  EXPECT_EQ(importsWon + createsWon, 6);
}

// Two files sent at once with one Idempotency-Key: one import is made, and both
// answers are its own (the second waited for the first's outcome; before, a repeat
// sent while the first ran was answered anew).
TEST(HttpImport, OneKeySentWithTwoFilesAtOnceMakesOneImport) {
  ImportWorld w;
  const std::array<std::string, 2> files{
      kHeader + "Ann,Lee,ann@acme.example,Clerk,owner@acme.example,1,\r\n",
      kHeader + "Bob,Ray,bob@acme.example,Clerk,owner@acme.example,1,\r\nBad,Row,not-an-email,Clerk,,1,\r\n"};
  std::array<Reply, 2> replies;
  together(2, [&](int i) {
    HttpClient c(w.server.port());
    replies[i] = upload(c, files[i], w.owner.token, "", {{"Idempotency-Key", "sheet-1"}});
  });
  const int made = replies[0].status == 200 ? 0 : 1;
  ASSERT_EQ(replies[made].status, 200) << replies[0].body << replies[1].body;
  const std::string importId = replies[made].json()["importId"];
  // The file with errors sent first is refused and checked anew by the second
  // (a refusal creates nothing); sent second, it gets the first outcome.
  if (replies[1 - made].status == 200) EXPECT_EQ(replies[1 - made].json()["importId"], importId);
  else EXPECT_EQ(made, 0) << "only the file with errors may be refused, and only when it went first";
  EXPECT_EQ(findUsers(w.client, w.owner.token, "ann@acme.example").size(), 1u);
  EXPECT_TRUE(findUsers(w.client, w.owner.token, "bob@acme.example").empty());
}

TEST(HttpImport, DryRunValidatesAndAppendsNothing) {
  ImportWorld w;
  const std::string csv = usersFile(3, "dry.example");
  const std::uint64_t before = w.head();
  Reply r = upload(w.client, csv, w.owner.token, "?dryRun=true");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["status"], "completed");
  EXPECT_EQ(r.json()["dryRun"], true);
  EXPECT_EQ(r.json()["created"], 0);
  EXPECT_EQ(r.json()["rows"], 3);
  EXPECT_EQ(w.head(), before);
  // A dry run finds what only the pool can tell, too.
  r = upload(w.client, kHeader + "O,A,owner@acme.example,C,owner@acme.example,1,\r\n", w.owner.token,
             "?dryRun=1");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(w.head(), before);
  r = upload(w.client, csv, w.owner.token, "?dryRun=maybe");
  EXPECT_EQ(r.status, 400) << r.body;
  // A dry run keeps nothing under its key (it changes nothing): the upload page's one
  // key serves the import for real that follows, which then holds it.
  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "upload-1"}};
  r = upload(w.client, csv, w.owner.token, "?dryRun=true", key);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(w.head(), before);
  r = upload(w.client, csv, w.owner.token, "", key);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["created"], 3);
  const json first = r.json();
  r = upload(w.client, csv, w.owner.token, "?dryRun=true", key);
  EXPECT_EQ(r.status, 422) << "the key now stands for the import made: " << r.body;
  EXPECT_EQ(r.json()["code"], "idempotency-key-reused") << r.body;
  r = upload(w.client, csv, w.owner.token, "", key);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["importId"], first["importId"]);
}

TEST(HttpImport, NotifyQueuesAWelcomeMailForEveryCreatedUser) {
  ImportWorld w;
  // A row created inactive ("Is Active" 0) gets none: they cannot sign in.
  Reply r = upload(w.client,
                   usersFile(3, "mail.example") + "Ina,Inactive,ina@mail.example,Clerk,user0@mail.example,0,DE\r\n",
                   w.owner.token, "?notify=true");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.json()["created"], 4) << r.body;
  for (int i = 0; i < 3; ++i) {
    const std::string email = "user" + std::to_string(i) + "@mail.example";
    EXPECT_TRUE(waitFor([&] { return !w.server.mailsTo(email).empty(); })) << email;
  }
  // Without notify, nobody is mailed.
  r = upload(w.client, usersFile(1, "quiet.example"), w.owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  r = upload(w.client, usersFile(1, "last.example"), w.owner.token, "?notify=true");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(waitFor([&] { return !w.server.mailsTo("user0@last.example").empty(); }));
  EXPECT_TRUE(w.server.mailsTo("user0@quiet.example").empty());
  EXPECT_TRUE(w.server.mailsTo("ina@mail.example").empty());
}

TEST(HttpImport, ARepeatedIdempotencyKeyGivesTheFirstAnswerAndCreatesNothingTwice) {
  ImportWorld w;
  const std::string csv = usersFile(5, "again.example");
  Reply first = upload(w.client, csv, w.owner.token, "", {{"Idempotency-Key", "import-1"}});
  ASSERT_EQ(first.status, 200) << first.body;
  const std::uint64_t head = w.head();
  Reply second = upload(w.client, csv, w.owner.token, "", {{"Idempotency-Key", "import-1"}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.json()["importId"], first.json()["importId"]);
  EXPECT_EQ(second.json()["created"], 5);
  EXPECT_EQ(w.head(), head);
  EXPECT_EQ(findUsers(w.client, w.owner.token, "again.example").size(), 5u);
  // The same key with another file (an edited copy): refused as the key's reuse,
  // nothing checked or made.
  Reply third = upload(w.client, kHeader + "A,B,bad,C,bad,yes,\r\n", w.owner.token, "",
                       {{"Idempotency-Key", "import-1"}});
  ASSERT_EQ(third.status, 422) << third.body;
  EXPECT_EQ(third.json()["code"], "idempotency-key-reused") << third.body;
  EXPECT_EQ(w.head(), head);
  // The repeat links the first import's log while it is kept: an anonymization in
  // the company removes the logs, and a repeat after it links none (not a 404).
  EXPECT_EQ(second.json()["log"], first.json()["log"]);
  ASSERT_EQ(w.client.get(first.json()["log"].get<std::string>(), w.owner.token).status, 200);
  const std::string id = findUsers(w.client, w.owner.token, "again.example").at(0)["id"];
  ASSERT_EQ(
      w.client.post("/api/v1/users/" + id + "/deactivate", json::object(), w.owner.token).status,
      200);
  ASSERT_EQ(
      w.client.post("/api/v1/users/" + id + "/anonymize", json::object(), w.owner.token).status,
      200);
  ASSERT_EQ(w.client.get(first.json()["log"].get<std::string>(), w.owner.token).status, 404);
  Reply fourth = upload(w.client, csv, w.owner.token, "", {{"Idempotency-Key", "import-1"}});
  ASSERT_EQ(fourth.status, 200) << fourth.body;
  EXPECT_EQ(fourth.json()["importId"], first.json()["importId"]);
  EXPECT_TRUE(fourth.json()["log"].is_null()) << fourth.body;
}

TEST(HttpImport, ARefusedImportSentAgainCorrectedWithTheSameKeyIsCheckedAnew) {
  ImportWorld w;
  // A page that keeps one key per upload: the first file names someone of the pool.
  const std::string refused = kHeader + "Ann,Lee,ann@fixed.example,Clerk," + w.owner.email +
                              ",1,DE\r\nOla,Nor," + w.owner.email + ",Clerk,ann@fixed.example,1,\r\n";
  Reply r = upload(w.client, refused, w.owner.token, "", {{"Idempotency-Key", "upload-7"}});
  ASSERT_EQ(r.status, 422) << r.body;
  ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["row"], 3);
  const std::uint64_t head = w.head();
  // Corrected and sent again with that key: checked as the file it is now, and made.
  const std::string fixed = kHeader + "Ann,Lee,ann@fixed.example,Clerk," + w.owner.email +
                            ",1,DE\r\nOla,Nor,ola@fixed.example,Clerk,ann@fixed.example,1,\r\n";
  r = upload(w.client, fixed, w.owner.token, "", {{"Idempotency-Key", "upload-7"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["created"], 2);
  EXPECT_EQ(findUsers(w.client, w.owner.token, "fixed.example").size(), 2u);
  // Once made, the key gives that outcome again and makes nothing twice.
  const std::string importId = r.json()["importId"];
  const std::uint64_t made = w.head();
  EXPECT_GT(made, head);
  r = upload(w.client, fixed, w.owner.token, "", {{"Idempotency-Key", "upload-7"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["importId"], importId);
  EXPECT_EQ(w.head(), made);
}

TEST(HttpImport, TheTemplatesHaveTheColumnsAndTheirExamplesAreNotImported) {
  ImportWorld w;
  Reply r = w.client.get("/api/v1/users/import/template.csv", w.owner.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/csv; charset=utf-8");
  EXPECT_NE(r.header("content-disposition").find("attachment"), std::string::npos);
  EXPECT_EQ(r.body.substr(0, 3), "\xEF\xBB\xBF");
  auto rows = parseCsv(r.body);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], std::vector<std::string>(kImportColumns.begin(), kImportColumns.end()));
  // Sent back with the examples left in, they are refused (they are nobody); with
  // the examples' emails replaced, the rows are as the template means them.
  Reply imported = upload(w.client, r.body, w.owner.token);
  ASSERT_EQ(imported.status, 422) << imported.body;
  EXPECT_EQ(issues(imported.json()["errors"]),
            (std::vector<std::string>{
                "2|Email address|ada.lovelace@example.com|Is the template's example: delete this row.",
                "3|Email address|charles.babbage@example.com|Is the template's example: delete this "
                "row."}));
  // Ada's manager, Charles, is on row 3: no warning says that he is in no file.
  EXPECT_EQ(imported.json()["warnings"], json::array()) << imported.body;
  std::string filled = r.body;
  for (std::string_view example : {"ada.lovelace@example.com", "charles.babbage@example.com"})
    for (std::size_t at; (at = filled.find(example)) != std::string::npos;)
      filled.replace(at, example.size(), std::string(example.substr(0, example.find('@'))) + "@acme.example");
  imported = upload(w.client, filled, w.owner.token);
  ASSERT_EQ(imported.status, 200) << imported.body;
  EXPECT_EQ(imported.json()["created"], 2);

  r = w.client.get("/api/v1/users/import/template.xlsx", w.owner.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  ASSERT_EQ(r.body.substr(0, 2), "PK");  // a zip, as every .xlsx
  // Its sheets, read with Python's zipfile (the test machine has python3 for the SMTP
  // tests).
  TempDir dir;
  const std::string path = dir.sub("template.xlsx");
  std::ofstream(path, std::ios::binary) << r.body;
  const std::string cmd =
      "python3 -c \"import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); "
      "print(z.read('xl/workbook.xml').decode()); print(z.read('xl/sharedStrings.xml').decode())\" " +
      path;
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ASSERT_EQ(::pclose(p), 0) << out;
  }
  EXPECT_NE(out.find("name=\"UsersAccounts\""), std::string::npos) << out.substr(0, 500);
  EXPECT_NE(out.find("name=\"Countries\""), std::string::npos);
  EXPECT_NE(out.find("Manager's email address"), std::string::npos);
  EXPECT_NE(out.find("Germany"), std::string::npos);
}

TEST(HttpImport, BadRequestsAreRefusedClearly) {
  ImportWorld w;
  // Not CSV.
  Reply r = w.client.request("POST", "/api/v1/users/import", "{}", w.owner.token,
                             {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 415) << r.body;
  r = w.client.request("POST", "/api/v1/users/import", usersFile(2, "x.example"), w.owner.token,
                       {{"Content-Type", "text/csvx"}});
  EXPECT_EQ(r.status, 415) << r.body;
  // CSV however the type is spelled: past the 1 MiB of JSON bodies, up to CSV's 64 MiB.
  const std::string large = usersFile(20'000, "x.example");
  ASSERT_GT(large.size(), std::size_t{1} << 20);
  r = w.client.request("POST", "/api/v1/users/import?dryRun=true", large, w.owner.token,
                       {{"Content-Type", "Text/CSV ; charset=utf-8"}});
  EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
  // As a browser sends a .csv file where Excel is installed on Windows, or elsewhere.
  for (const char* type : {"application/vnd.ms-excel", "application/csv", "text/x-csv"}) {
    r = w.client.request("POST", "/api/v1/users/import?dryRun=true", large, w.owner.token,
                         {{"Content-Type", type}});
    EXPECT_EQ(r.status, 200) << type << ": " << r.body.substr(0, 300);
  }
  // A large file sent as another type (a form's multipart, octet-stream): 415, not
  // that it is larger than a JSON body may be.
  for (const char* type : {"multipart/form-data; boundary=x", "application/octet-stream"}) {
    r = w.client.request("POST", "/api/v1/users/import", large, w.owner.token, {{"Content-Type", type}});
    EXPECT_EQ(r.status, 415) << type << ": " << r.body.substr(0, 300);
    EXPECT_NE(r.body.find("text/csv"), std::string::npos) << r.body;
  }
  // A workbook sent with the type a browser gives it (.xls and .xlsx alike): said so.
  for (const std::string& workbook : {std::string("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0", 10),
                                     std::string("PK\x03\x04\x14\0", 6)}) {
    r = w.client.request("POST", "/api/v1/users/import", workbook, w.owner.token,
                         {{"Content-Type", "application/vnd.ms-excel"}});
    EXPECT_EQ(r.status, 415) << r.body;
    EXPECT_NE(r.json()["detail"].get<std::string>().find("CSV UTF-8"), std::string::npos) << r.body;
  }
  // Or with a workbook's own type, small or large (refused before its body is read).
  for (const std::string& body : {std::string("PK\x03\x04\x14\0", 6), large}) {
    r = w.client.request(
        "POST", "/api/v1/users/import", body, w.owner.token,
        {{"Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}});
    EXPECT_EQ(r.status, 415) << r.body;
    EXPECT_NE(r.json()["detail"].get<std::string>().find("is a spreadsheet workbook"),
              std::string::npos)
        << r.body;
  }
  // A file that is not UTF-8: the row and column of the first bad byte.
  r = upload(w.client, kHeader + "Ann,Lee,ann@x.example,C,ann@x.example,1,\r\nBo,R\xE9y,b@x.example\r\n",
             w.owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["row"], 3);
  EXPECT_EQ(r.json()["errors"][0]["column"], "Surname");
  EXPECT_NE(r.json()["errors"][0]["message"].get<std::string>().find("UTF-8"), std::string::npos);
  // An unknown import's log.
  r = w.client.get("/api/v1/users/import/nope/errors.csv", w.owner.token);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("content-type"), "application/problem+json");
  EXPECT_NE(
      r.json()["detail"].get<std::string>().find("a company keeps its newest 100, 256 MiB at most"),
      std::string::npos)
      << r.body;
}

TEST(HttpImport, TheErrorLogIsKeptForAWeek) {
  ImportWorld w;
  Reply r = upload(w.client, kHeader + "A,B,bad,C,bad,1,\r\n", w.owner.token);
  ASSERT_EQ(r.status, 422);
  const std::string log = r.json()["log"];
  // Sessions end long before: sign in again each time.
  auto token = [&] { return w.server.signIn("acme", w.owner.email, kPassword).json()["token"].get<std::string>(); };
  w.server.clock().advance(6 * 24 * 60 * kMinute);
  EXPECT_EQ(w.client.get(log, token()).status, 200);
  w.server.clock().advance(2 * 24 * 60 * kMinute);
  EXPECT_EQ(w.client.get(log, token()).status, 404);
}

// DESIGN.md: after anonymization and the compaction that follows, the person's email
// and names are in no file of the data directory. Import logs hold what files held.
TEST(HttpImport, AnonymizationDropsTheCompanysImportLogs) {
  TempDir dir;
  const std::string data = dir.sub("data");
  {
    ApiServer server({}, nullptr, {5, 100'000}, data);
    Person owner = server.provision("acme");
    HttpClient client(server.port());
    const std::string row = "Zebulon,Quuxington,zebulon.q@acme.test,Clerk," + owner.email + ",1,DE\r\n";
    Reply r = upload(client, kHeader + " " + row, owner.token);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json()["warnings"].size(), 1u) << "the spaces trimmed";
    const std::string warned = r.json()["log"];
    r = upload(client, kHeader + row, owner.token);
    ASSERT_EQ(r.status, 422) << "already in the pool";
    const std::string refused = r.json()["log"];
    ASSERT_EQ(client.get(refused, owner.token).status, 200);
    const std::string id = findUsers(client, owner.token, "zebulon").at(0)["id"];

    const std::string& company = server.companyId("acme");
    ImportLogs logs(server.portal().store(), server.portal().store().columnFamily("imports"));
    auto marked = [&] {
      auto pending = logs.anonymizationPending(company, id);
      EXPECT_TRUE(pending.ok());
      return pending.ok() && *pending;
    };
    const std::string path = "/api/v1/users/" + id + "/anonymize";
    r = client.post(path, json::object(), owner.token);
    ASSERT_EQ(r.status, 409) << "not deactivated yet";
    EXPECT_EQ(client.get(warned, owner.token).status, 200) << "a refused anonymization drops nothing";
    EXPECT_FALSE(marked()) << "the refusal took its mark away";
    r = client.post("/api/v1/users/" + id + "/deactivate", json::object(), owner.token);
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string tagBefore = client.get("/api/v1/users/" + id, owner.token).header("etag");
    using Headers = std::vector<std::pair<std::string, std::string>>;
    const Headers key{{"Idempotency-Key", "erase-zebulon"}};
    r = client.request("POST", path, "{}", owner.token, key);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(client.get(warned, owner.token).status, 404);
    EXPECT_EQ(client.get(refused, owner.token).status, 404);
    EXPECT_FALSE(marked());
    // A repeat is 409 and leaves the logs kept since: they are not the person's (a
    // review found them removed by the refused request).
    auto keepALog = [&](const std::string& name) {
      Reply kept = upload(
          client,
          kHeader + name + ",Other," + name + "@acme.test,Clerk," + owner.email + ",1,DE\r\n",
          owner.token);
      EXPECT_EQ(kept.status, 200) << kept.body;
      const std::string log = kept.json()["log"];
      EXPECT_EQ(client.get(log, owner.token).status, 200);
      return log;
    };
    std::string again = keepALog("ottilie");
    r = client.post(path, json::object(), owner.token);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(client.get(again, owner.token).status, 200);
    r = client.request("POST", path, "{}", owner.token, key);
    EXPECT_EQ(r.status, 200) << "the first answer: " << r.body;
    EXPECT_EQ(client.get(again, owner.token).status, 200);
    // After a drop that failed once the command was accepted (its mark left behind),
    // any later request for the person removes what is there: a repeat of the key, one
    // with the If-Match read before, a plain one.
    const Headers refusedKey{{"Idempotency-Key", "erase-zebulon-again"}};
    r = client.request("POST", path, "{}", owner.token, refusedKey);
    EXPECT_EQ(r.status, 409) << r.body;
    const std::vector<std::pair<Headers, int>> repeats = {
        {key, 200}, {refusedKey, 409}, {{{"If-Match", tagBefore}}, 412}, {{}, 409}};
    for (std::size_t n = 0; n < repeats.size(); ++n) {
      const auto& [headers, status] = repeats[n];
      again = keepALog("ottilie" + std::string(n + 1, 'x'));
      ASSERT_TRUE(logs.beginAnonymization(company, id, false).ok());
      r = client.request("POST", path, "{}", owner.token, headers);
      EXPECT_EQ(r.status, status) << r.body;
      EXPECT_EQ(client.get(again, owner.token).status, 404) << status;
      EXPECT_FALSE(marked()) << status;
    }
    ASSERT_TRUE(server.portal().store().compact().ok());
  }
  for (const char* secret : {"zebulon", "Zebulon", "Quuxington"})
    EXPECT_EQ(filesContaining(data, secret), std::vector<std::string>{}) << secret;
}

// The country cell as people type it: a code or a name of iso-codes, in any case
// and script, with the apostrophe a spreadsheet puts in.
TEST(ImportFile, CountriesAreFoundByCodeOrNameInAnyCaseAndEitherApostrophe) {
  const CountryList& list = countries();
  EXPECT_EQ(list.find("de"), std::optional<std::string>("DE"));
  EXPECT_EQ(list.find(" germany "), std::optional<std::string>("DE"));
  EXPECT_EQ(list.find("TÜRKIYE"), std::optional<std::string>("TR"));
  EXPECT_EQ(list.find("türkiye"), std::optional<std::string>("TR"));
  EXPECT_EQ(list.find("Côte d\u2019Ivoire"), std::optional<std::string>("CI"));
  EXPECT_EQ(list.find("CÔTE D'IVOIRE"), std::optional<std::string>("CI"));
  EXPECT_EQ(list.find("Atlantis"), std::nullopt);
  // Typed without the accents a keyboard may not have (a review), and "UK", which
  // ISO 3166/MA reserves for the United Kingdom.
  EXPECT_EQ(list.find("Cote d'Ivoire"), std::optional<std::string>("CI"));
  EXPECT_EQ(list.find("curacao"), std::optional<std::string>("CW"));
  EXPECT_EQ(list.find("Aland Islands"), std::optional<std::string>("AX"));
  EXPECT_EQ(list.find("Turkiye"), std::optional<std::string>("TR"));
  EXPECT_EQ(list.find("uk"), std::optional<std::string>("GB"));
  EXPECT_EQ(list.find("Gérmany"), std::optional<std::string>("DE"))
      << "accents are set aside both ways";
  // The short names inside the list's own, where they name one country, and the
  // article some names are said with (a review, with names people type).
  EXPECT_EQ(list.find("Palestine"), std::optional<std::string>("PS"));
  EXPECT_EQ(list.find("micronesia"), std::optional<std::string>("FM"));
  EXPECT_EQ(list.find("Holy See"), std::optional<std::string>("VA"));
  EXPECT_EQ(list.find("French part"), std::nullopt) << "what brackets hold is no name";
  EXPECT_EQ(list.find("the Congo"), std::nullopt) << "both Congos are called so";
  EXPECT_EQ(list.find("The Netherlands"), std::optional<std::string>("NL"));
  EXPECT_EQ(list.find("the gambia"), std::optional<std::string>("GM"));
  EXPECT_EQ(list.find("Congo"), std::optional<std::string>("CG"));
  EXPECT_EQ(list.find("Korea"), std::nullopt) << "two countries";
  EXPECT_EQ(list.find("The"), std::nullopt);
  // ISO 3166-1's own short names, the article after them (a review).
  EXPECT_EQ(list.find("Netherlands (the)"), std::optional<std::string>("NL"));
  EXPECT_EQ(list.find("United States of America (the)"), std::optional<std::string>("US"));
  EXPECT_EQ(list.find("bahamas (THE)"), std::optional<std::string>("BS"));
  EXPECT_EQ(list.find("Congo (the)"), std::nullopt) << "both Congos are called so";
  EXPECT_EQ(list.find("(the)"), std::nullopt);
  // Names in common use that iso-codes does not give (CLDR's English names, through
  // ICU), also with "the" and without accents; none takes a list's name from the
  // country it names.
  EXPECT_EQ(list.find("Russia"), std::optional<std::string>("RU"));
  EXPECT_EQ(list.find("turkey"), std::optional<std::string>("TR"));
  EXPECT_EQ(list.find("Ivory Coast"), std::optional<std::string>("CI"));
  EXPECT_EQ(list.find("South Korea"), std::optional<std::string>("KR"));
  EXPECT_EQ(list.find("Czech Republic"), std::optional<std::string>("CZ"));
  EXPECT_EQ(list.find("United States"), std::optional<std::string>("US"));
  EXPECT_EQ(list.find("the United States"), std::optional<std::string>("US"));
  EXPECT_EQ(list.find("Vatican City"), std::optional<std::string>("VA"));
  EXPECT_EQ(list.find("East Timor"), std::optional<std::string>("TL"));
  EXPECT_EQ(list.find("Bosnia & Herzegovina"), std::optional<std::string>("BA"));
  EXPECT_EQ(list.find("Congo - Kinshasa"), std::optional<std::string>("CD"));
  EXPECT_EQ(list.find("Congo (DRC)"), std::optional<std::string>("CD"));
  EXPECT_EQ(list.find("Curacao"), std::optional<std::string>("CW"));
  EXPECT_EQ(list.find("Congo"), std::optional<std::string>("CG")) << "still the Republic";
  // The list's names turned round, said the right way.
  EXPECT_EQ(list.find("Democratic Republic of the Congo"), std::optional<std::string>("CD"));
  EXPECT_EQ(list.find("The Democratic Republic of the Congo"), std::optional<std::string>("CD"));
  EXPECT_EQ(list.find("Republic of Korea"), std::optional<std::string>("KR"));
  EXPECT_EQ(list.find("Islamic Republic of Iran"), std::optional<std::string>("IR"));
  EXPECT_EQ(list.find("Plurinational State of Bolivia"), std::optional<std::string>("BO"));
  EXPECT_EQ(list.find("European Union"), std::nullopt) << "a region that is no country";
  std::size_t common = 0;
  for (const auto& c : list.all())
    for (const auto& n : c.commonNames) {
      ++common;
      EXPECT_EQ(list.find(n), std::optional<std::string>(c.code)) << n << " of " << c.code;
    }
  EXPECT_GT(common, 240u);
}

// GET /countries and the template's Countries sheet list the countries by name, as
// people look for one (iso-codes lists them by alpha-3 code: the United Kingdom
// came between Gabon and Georgia), accents set aside (the Åland Islands among the A's).
// A name in common use that two countries share names neither; one that is another
// country's name in the list stays that country's.
TEST(ImportFile, ACommonNameOfTwoCountriesIsNone) {
  const CountryList list(
      {{"AA", "Aland", {}, {"Twin", "Alpha"}}, {"BB", "Bland", {}, {"Twin", "Aland", "Beta"}}});
  EXPECT_EQ(list.find("Twin"), std::nullopt);
  EXPECT_EQ(list.find("Aland"), std::optional<std::string>("AA"));
  EXPECT_EQ(list.find("alpha"), std::optional<std::string>("AA"));
  EXPECT_EQ(list.find("Beta"), std::optional<std::string>("BB"));
}

// A name that is no country, but a word of one or a few countries' names, is told
// which it may mean (a review: "Korea" and "Macedonia" got the plain refusal).
TEST(ImportFile, ANameOfSeveralCountriesOrPartOfOneSaysWhichItMayMean) {
  const CountryList& list = countries();
  EXPECT_EQ(list.find("Korea"), std::nullopt);
  EXPECT_NE(list.problemWith("Korea").find("; did you mean North Korea (KP) or South Korea (KR)?"),
            std::string::npos)
      << list.problemWith("Korea");
  EXPECT_NE(list.problemWith(" macedonia").find("; did you mean North Macedonia (MK)?"),
            std::string::npos)
      << list.problemWith("macedonia");
  EXPECT_EQ(list.problemWith("Atlantis").find("did you mean"), std::string::npos);
  EXPECT_EQ(list.problemWith("Islands").find("did you mean"), std::string::npos) << "too many";
  EXPECT_EQ(list.problemWith("ko").find("did you mean"), std::string::npos) << "too short";
  EXPECT_EQ(list.problemWith("Kore").find("did you mean"), std::string::npos) << "whole words";
  // A code written with dots is that code's country, first (a review: "U.S." named
  // two others).
  EXPECT_NE(list.problemWith("U.S.").find("; did you mean United States (US), "), std::string::npos)
      << list.problemWith("U.S.");
  // In a file's error, the question ends the sentence (it read "...(KR)?.").
  ImportFile f = check(kHeader + "Ann,Lee,ann@x.example,Clerk,ann@x.example,1,Korea\r\n",
                       [](std::string_view) { return Member::kNone; });
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_TRUE(f.errors[0].message.ends_with("South Korea (KR)?")) << f.errors[0].message;
}

TEST(ImportFile, TheCountriesAreListedByName) {
  const auto& all = countries().all();
  auto at = [&](const std::string& code) {
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i].code == code) return i;
    ADD_FAILURE() << code;
    return all.size();
  };
  EXPECT_EQ(all.front().code, "AF");
  EXPECT_LT(at("AF"), at("AX"));
  EXPECT_LT(at("AX"), at("AL"));
  EXPECT_LT(at("UA"), at("GB"));
  EXPECT_LT(at("GB"), at("US"));
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_LE(searchFold(all[i - 1].name), searchFold(all[i].name)) << all[i].name;
}

// An import reads its file, an anonymization drops the company's logs, then the
// import would keep its log: that log may name the person, so it is not kept.
TEST(ImportLogs, ALogOfAFileReadBeforeAnAnonymizationIsNotKept) {
  TempDir dir;
  auto store = test::openStore(dir.sub("data"));
  ASSERT_TRUE(store);
  ImportLogs logs(*store, store->columnFamily("imports"));
  const Timestamp now{1'795'000'000'000'000};
  const std::uint64_t before = logs.generation("c-1");
  const std::uint64_t other = logs.generation("c-2");
  ASSERT_TRUE(logs.beginAnonymization("c-1", "u-1", true).ok());  // an anonymization meanwhile
  auto kept = logs.put("c-1", "imp-1", now, "Row,Column,Value,Message\r\n2,Email,ann@x,taken\r\n", before);
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_FALSE(*kept);
  EXPECT_FALSE(logs.get("c-1", "imp-1", now).has_value());
  // A file read after it, and another company's, are kept.
  kept = logs.put("c-1", "imp-2", now, "Row\r\n", logs.generation("c-1"));
  ASSERT_TRUE(kept.ok() && *kept);
  EXPECT_EQ(logs.get("c-1", "imp-2", now), std::optional<std::string>("Row\r\n"));
  kept = logs.put("c-2", "imp-3", now, "Row\r\n", other);
  ASSERT_TRUE(kept.ok() && *kept);
  EXPECT_TRUE(logs.get("c-2", "imp-3", now).has_value());
}

// An anonymization marks itself under way before its command and unmarks itself
// with the drop after it; a mark left behind (a crash between the two) drops the
// company's logs at the next start. A refused one only unmarks.
TEST(ImportLogs, AnAnonymizationLeftUnderWayDropsItsCompanysLogsAtStart) {
  TempDir dir;
  auto store = test::openStore(dir.sub("data"));
  ASSERT_TRUE(store);
  ImportLogs logs(*store, store->columnFamily("imports"));
  const Timestamp now{1'795'000'000'000'000};
  ASSERT_TRUE(logs.put("c-1", "imp-1", now, "one", 0).ok());
  ASSERT_TRUE(logs.put("c-2", "imp-2", now, "two", 0).ok());
  ASSERT_TRUE(logs.beginAnonymization("c-1", "u-1", false).ok());
  ASSERT_TRUE(logs.beginAnonymization("c-2", "u-2", false).ok());
  ASSERT_TRUE(logs.endAnonymization("c-2", "u-2", false).ok());  // refused
  EXPECT_TRUE(logs.anonymizationPending("c-1", "u-1").value());
  EXPECT_FALSE(logs.anonymizationPending("c-2", "u-2").value());
  EXPECT_FALSE(logs.anonymizationPending("c-1", "u-2").value());
  EXPECT_TRUE(logs.get("c-1", "imp-1", now).has_value()) << "a mark alone drops nothing";

  ImportLogs restarted(*store, store->columnFamily("imports"));
  auto purged = restarted.purgeAll(now);
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(*purged, 0u) << "nothing expired";
  EXPECT_FALSE(restarted.get("c-1", "imp-1", now).has_value());
  EXPECT_EQ(restarted.get("c-2", "imp-2", now), std::optional<std::string>("two"));
  EXPECT_FALSE(restarted.anonymizationPending("c-1", "u-1").value());
  EXPECT_GT(restarted.generation("c-1"), 0u) << "an import reading its file meanwhile keeps no log";
}

TEST(ImportLogs, ExpiredLogsGoThroughTheirIndexAndALogKeptAgainStays) {
  TempDir dir;
  auto store = test::openStore(dir.sub("data"));
  ASSERT_TRUE(store);
  auto* family = store->columnFamily("imports");
  ImportLogs logs(*store, family, std::chrono::hours(1));
  const Timestamp t0{1'795'000'000'000'000};
  const std::int64_t hour = 3'600'000'000;
  ASSERT_TRUE(logs.put("c-1", "imp-1", t0, "one", 0).ok());
  ASSERT_TRUE(logs.put("c-1", "imp-2", Timestamp{t0.micros + hour / 2}, "two", 0).ok());
  // A log as a build before the index kept it: no index entry (8 bytes of expiry, the CSV).
  std::string old(8, '\0');
  for (int i = 7, v = 0; i >= 0; --i, ++v)
    old[static_cast<std::size_t>(i)] = static_cast<char>(((t0.micros + hour) >> (8 * v)) & 0xff);
  ASSERT_TRUE(store->db()->Put(rocksdb::WriteOptions(), family, std::string("c-2\0imp-0", 9), old + "zero").ok());
  // Start: every log read once, the old one indexed.
  auto purged = logs.purgeAll(t0);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 0u);
  // The same import answered again keeps its log anew, with a later expiry.
  ASSERT_TRUE(logs.put("c-1", "imp-1", Timestamp{t0.micros + hour / 2}, "one again", 0).ok());

  purged = logs.purgeExpired(Timestamp{t0.micros + hour});
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1u) << "the old build's log";
  const Timestamp later{t0.micros + hour - 1};
  EXPECT_EQ(logs.get("c-1", "imp-1", later), std::optional<std::string>("one again"));
  EXPECT_EQ(logs.get("c-1", "imp-2", later), std::optional<std::string>("two"));
  std::string value;
  EXPECT_TRUE(store->db()->Get(rocksdb::ReadOptions(), family, std::string("c-2\0imp-0", 9), &value).IsNotFound());

  purged = logs.purgeExpired(Timestamp{t0.micros + 2 * hour});
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 2u);
  std::unique_ptr<rocksdb::Iterator> it(store->db()->NewIterator(rocksdb::ReadOptions(), family));
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid()) << "nothing left, index entries included";
}

// A company keeps its newest logs within a count and a size: keeping one past either
// removes its oldest in the same write; the newest stays whatever its size; another
// company's are not touched; the same import kept again counts once.
TEST(ImportLogs, ACompanyKeepsItsNewestLogsWithinACountAndASize) {
  TempDir dir;
  auto store = test::openStore(dir.sub("data"));
  ASSERT_TRUE(store);
  auto* family = store->columnFamily("imports");
  ImportLogs logs(*store, family, std::chrono::hours(1), ImportLogs::Bounds{3, 1000});
  const Timestamp t0{1'795'000'000'000'000};
  const auto at = [&](std::int64_t second) { return Timestamp{t0.micros + second * 1'000'000}; };
  const std::string small(10, 'x');
  auto keep = [&](const char* company, const std::string& id, int second, const std::string& csv) {
    auto kept = logs.put(company, id, at(second), csv, logs.generation(company));
    ASSERT_TRUE(kept.ok()) << kept.error().message;
    EXPECT_TRUE(*kept);
  };
  auto held = [&](const char* company, const std::string& id) {
    return logs.get(company, id, at(100)).has_value();
  };
  keep("c-2", "other", 0, small);
  for (int i = 1; i <= 3; ++i) keep("c-1", "imp-" + std::to_string(i), i, small);
  EXPECT_TRUE(held("c-1", "imp-1") && held("c-1", "imp-2") && held("c-1", "imp-3"));
  keep("c-1", "imp-4", 4, small);  // a fourth: the oldest goes
  EXPECT_FALSE(held("c-1", "imp-1"));
  EXPECT_TRUE(held("c-1", "imp-2") && held("c-1", "imp-3") && held("c-1", "imp-4"));
  keep("c-1", "imp-4", 5, small);  // the same import kept again: still three
  EXPECT_TRUE(held("c-1", "imp-2") && held("c-1", "imp-3") && held("c-1", "imp-4"));
  keep("c-1", "imp-5", 6, std::string(985, 'y'));  // 10 + 10 + 10 + 985: two go
  EXPECT_FALSE(held("c-1", "imp-2") || held("c-1", "imp-3"));
  EXPECT_TRUE(held("c-1", "imp-4") && held("c-1", "imp-5"));
  keep("c-1", "imp-6", 7, std::string(2000, 'z'));  // past the size alone: kept, alone
  EXPECT_FALSE(held("c-1", "imp-4") || held("c-1", "imp-5"));
  EXPECT_EQ(logs.get("c-1", "imp-6", at(100)), std::optional<std::string>(std::string(2000, 'z')));
  EXPECT_TRUE(held("c-2", "other")) << "another company's log stays";

  // A restart indexes again what is there; an anonymization drops the company's
  // logs and its index; the rest expire through the expiry index: nothing is left.
  ImportLogs restarted(*store, family, std::chrono::hours(1), ImportLogs::Bounds{3, 1000});
  ASSERT_TRUE(restarted.purgeAll(at(8)).ok());
  EXPECT_EQ(restarted.get("c-1", "imp-6", at(100)),
            std::optional<std::string>(std::string(2000, 'z')));
  ASSERT_TRUE(restarted.beginAnonymization("c-1", "u-1", true).ok());
  ASSERT_TRUE(restarted.endAnonymization("c-1", "u-1", true).ok());
  EXPECT_FALSE(restarted.get("c-1", "imp-6", at(100)).has_value());
  auto purged = restarted.purgeExpired(at(7200));
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1u) << "c-2's log";
  std::unique_ptr<rocksdb::Iterator> it(store->db()->NewIterator(rocksdb::ReadOptions(), family));
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid()) << "nothing left, index entries included";
}

TEST(HttpImport, PastTheLimitsNothingIsCreated) {
  ImportWorld w;
  const std::uint64_t before = w.head();
  // 200,001 users.
  Reply r = upload(w.client, usersFile(200'001, "many.example"), w.owner.token);
  ASSERT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(r.json()["code"], "too-many-rows");
  // More than 64 MiB, refused from its Content-Length: the header alone is sent. (The
  // server drains a refused body for 2 s only; a client still writing 64 MiB then, on
  // a slow machine, gets its connection reset instead of the answer.)
  RawConnection huge(w.server.port());
  huge.send("POST /api/v1/users/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            "Authorization: Bearer " + w.owner.token + "\r\nContent-Length: " +
            std::to_string((64u << 20) + 1) + "\r\n\r\n");
  const std::string answer = huge.readToEnd();
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 300);
  EXPECT_EQ(w.head(), before);
}

}  // namespace
}  // namespace portal::test
