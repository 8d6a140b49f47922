// CSV as spreadsheets write it: the reader against a corpus of files (tests/data/csv:
// each case a .csv beside a .json with the records, or the error, expected), fed whole
// and in chunks of 1 to 7 bytes; the writer's quoting and formula safety; writer to
// reader round trips; and memory that follows the longest record, not the file.
//
// A case's .json is either the records, [["a","b"],...], or an object with "records"
// and optionally "rows", "lines" and "separator", or {"error": {"row", "column",
// "message"}} where the message is a substring of the error's.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "src/csv/charset.h"
#include "src/csv/csv_reader.h"
#include "src/csv/csv_writer.h"

namespace portal {
namespace {

namespace fs = std::filesystem;
using Records = std::vector<std::vector<std::string>>;

const fs::path& corpusDir() {
  static const fs::path dir = fs::path(PORTAL_TEST_DATA) / "csv";
  return dir;
}

std::string readBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Everything a reader said about one input.
struct Outcome {
  Records records;
  std::vector<std::size_t> rows;
  std::vector<std::size_t> lines;
  char separator = '\0';
  std::optional<CsvProblem> problem;
  std::string error;  // the Error's message

  bool operator==(const Outcome& o) const {
    return records == o.records && rows == o.rows && lines == o.lines && separator == o.separator &&
           error == o.error && problem.has_value() == o.problem.has_value() &&
           (!problem || (problem->row == o.problem->row && problem->column == o.problem->column &&
                         problem->line == o.problem->line));
  }
};

// Reads `bytes` in chunks of `chunkSize` bytes (0: all at once).
Outcome read(std::string_view bytes, std::size_t chunkSize = 0, CsvReaderOptions options = {}) {
  CsvReader reader(options);
  Outcome out;
  const CsvRecordSink sink = [&](CsvRecord& r) {
    out.records.push_back(r.fields);
    out.rows.push_back(r.row);
    out.lines.push_back(r.line);
  };
  if (chunkSize == 0) chunkSize = std::max<std::size_t>(bytes.size(), 1);
  Result<void> result;
  for (std::size_t pos = 0; pos < bytes.size() && result.ok(); pos += chunkSize)
    result = reader.feed(bytes.substr(pos, chunkSize), sink);
  if (result.ok()) result = reader.finish(sink);
  if (!result.ok()) {
    out.error = result.error().message;
    out.problem = reader.problem();
  }
  out.separator = reader.separator();
  return out;
}

std::vector<std::string> corpusCases() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(corpusDir(), ec))
    if (entry.path().extension() == ".csv") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

void expectAsInCorpus(const Outcome& got, const nlohmann::json& expected) {
  if (expected.is_object() && expected.contains("error")) {
    const auto& e = expected["error"];
    ASSERT_TRUE(got.problem.has_value())
        << "expected an error, read " << got.records.size() << " records";
    EXPECT_EQ(got.problem->row, e["row"].get<std::size_t>());
    if (e.contains("column")) {
      EXPECT_EQ(got.problem->column, e["column"].get<std::size_t>());
    }
    EXPECT_NE(got.error.find(e["message"].get<std::string>()), std::string::npos) << got.error;
    EXPECT_EQ(got.problem->message, got.error);
    return;
  }
  ASSERT_FALSE(got.problem.has_value()) << got.error;
  const auto& records = expected.is_array() ? expected : expected.at("records");
  EXPECT_EQ(got.records, records.get<Records>());
  if (expected.is_object()) {
    if (expected.contains("rows")) {
      EXPECT_EQ(got.rows, expected.at("rows").get<std::vector<std::size_t>>());
    }
    if (expected.contains("lines")) {
      EXPECT_EQ(got.lines, expected.at("lines").get<std::vector<std::size_t>>());
    }
    if (expected.contains("separator")) {
      EXPECT_EQ(std::string(1, got.separator), expected.at("separator").get<std::string>());
    }
  }
  // Every record counts as a row, blank ones too, so rows run 1, 2, 3, ...
  for (std::size_t i = 0; i < got.rows.size(); ++i) EXPECT_EQ(got.rows[i], i + 1);
}

class CsvCorpus : public ::testing::TestWithParam<std::string> {
 protected:
  std::string bytes() const { return readBytes(corpusDir() / (GetParam() + ".csv")); }
  nlohmann::json expected() const {
    return nlohmann::json::parse(readBytes(corpusDir() / (GetParam() + ".json")));
  }
};

TEST_P(CsvCorpus, ReadsAsExpected) { expectAsInCorpus(read(bytes()), expected()); }

TEST_P(CsvCorpus, ChunksOfOneToSevenBytesGiveTheSameRecords) {
  const std::string file = bytes();
  const Outcome whole = read(file);
  for (std::size_t size = 1; size <= 7; ++size) {
    SCOPED_TRACE("chunks of " + std::to_string(size) + " bytes");
    const Outcome chunked = read(file, size);
    EXPECT_TRUE(chunked == whole) << (chunked.error.empty() ? "" : chunked.error);
    expectAsInCorpus(chunked, expected());
  }
}

// No prefix, so that the cases are named CsvCorpus.ReadsAsExpected/<file>.
INSTANTIATE_TEST_SUITE_P(, CsvCorpus, ::testing::ValuesIn(corpusCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(CsvCorpusDirectory, HoldsEveryCaseWithItsExpectation) {
  const auto cases = corpusCases();
  EXPECT_GE(cases.size(), 20u) << corpusDir();
  for (const auto& name : cases)
    EXPECT_TRUE(fs::exists(corpusDir() / (name + ".json"))) << name << ".json is missing";
}

TEST(CsvReader, ReportsEveryKindOfInvalidUtf8WithItsRowAndColumn) {
  const std::vector<std::string> bad = {
      "\x80",              // a continuation byte with no lead
      "\xC0\xAF",          // overlong '/'
      "\xE0\x80\xAF",      // overlong, three bytes
      "\xED\xA0\x80",      // a UTF-16 surrogate
      "\xF4\x90\x80\x80",  // past U+10FFFF
      "\xF5\x80\x80\x80",  // a lead byte that never occurs
      "\xE2\x82,x",        // cut short by a separator
      "\xE2\x82\r\n",      // cut short by a line break
      "\xE9t\xE9",         // Latin-1, what "CSV" without "UTF-8" writes
  };
  for (const auto& cell : bad) {
    SCOPED_TRACE(::testing::PrintToString(cell));
    const Outcome got = read("h1,h2,h3\r\nx,y,z\r\na,\"b\",c" + cell + "\r\nd,e,f\r\n");
    ASSERT_TRUE(got.problem.has_value());
    EXPECT_EQ(got.problem->row, 3u);
    EXPECT_EQ(got.problem->column, 3u);
    EXPECT_EQ(got.records.size(), 2u) << "the records before it are read";
    EXPECT_NE(got.error.find("row 3, column 3: invalid UTF-8"), std::string::npos) << got.error;
  }
}

TEST(CsvReader, AcceptsTheEdgesOfValidUtf8) {
  const std::string cells = "\xC2\x80,\xED\x9F\xBF,\xEE\x80\x80,\xF0\x90\x80\x80,\xF4\x8F\xBF\xBF";
  const Outcome got = read("a,b,c,d,e\n" + cells + "\n");
  ASSERT_EQ(got.error, "");
  EXPECT_EQ(got.records[1], (std::vector<std::string>{"\xC2\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                                                      "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}));
}

TEST(CsvReader, ReadsALookAlikeOfTheByteOrderMarkAsText) {
  // EF BB BE is U+FEFE, a character, not a byte-order mark. A byte-order mark that
  // starts a record is where a second file was joined on: dropped, and a quote after
  // it opens a quoted cell; anywhere else in a cell it is a character.
  for (std::size_t chunk : {0, 1, 2}) {
    const Outcome got = read(
        "\xEF\xBB\xBEx,y\n\xEF\xBB\xBFz,w\n\xEF\xBB\xBF\"Lee, Cy\",v\n"
        "a\xEF\xBB\xBF,\xEF\xBB\xBF\n",
        chunk);
    EXPECT_EQ(got.records, (Records{{"\xEF\xBB\xBEx", "y"},
                                    {"z", "w"},
                                    {"Lee, Cy", "v"},
                                    {"a\xEF\xBB\xBF", "\xEF\xBB\xBF"}}));
  }
  EXPECT_EQ(read("\xEF\xBB").problem->row, 1u) << "half a byte-order mark is bad UTF-8";
}

TEST(CsvReader, ReportsBlankLinesInTheMiddleAsEmptyRecordsAndDropsTrailingOnes) {
  const Outcome got = read("h\r\n\r\na\r\n\n\rb\r\n\r\n\n");
  EXPECT_EQ(got.records, (Records{{"h"}, {}, {"a"}, {}, {}, {"b"}}));
  EXPECT_EQ(got.rows, (std::vector<std::size_t>{1, 2, 3, 4, 5, 6}));
}

TEST(CsvReader, NamesTheRowWhereAQuoteIsLeftOpen) {
  const Outcome got = read("a,b\n\"x\ny\",z\nc,\"never closed\nd,e\n");
  ASSERT_TRUE(got.problem.has_value());
  EXPECT_EQ(got.problem->row, 3u);
  EXPECT_EQ(got.problem->column, 2u);
  EXPECT_EQ(got.problem->line, 4u) << "the line the quote opened on";
  EXPECT_EQ(got.error,
            "row 3, column 2 (line 4): unterminated quote: the cell's closing quote "
            "is missing");
  EXPECT_EQ(got.problem->value, "never closed\u2026") << "the cell's first line, to search for";
  EXPECT_EQ(read("a,b\nc,\"open").problem->value, "open");
}

TEST(CsvReader, RefusesARecordLongerThanTheLimit) {
  const Outcome got = read("a,b\nc,\"" + std::string(100, 'x'), 0, {.maxRecordBytes = 16});
  ASSERT_TRUE(got.problem.has_value());
  EXPECT_EQ(got.problem->row, 2u);
  EXPECT_NE(got.error.find("longer than 16 bytes"), std::string::npos) << got.error;
  EXPECT_EQ(read("a,b\n" + std::string(16, 'y') + "\n", 0, {.maxRecordBytes = 16}).error, "");
  // A quote left open runs the record over the limit lines later: the line named is
  // the open quote's, where the mistake is, not the one the limit was passed on.
  const Outcome open = read("a,b\nc,\"left open\nd,e\nf,g\nh,i\nj,k\n", 0, {.maxRecordBytes = 16});
  ASSERT_TRUE(open.problem.has_value());
  EXPECT_EQ(open.problem->row, 2u);
  EXPECT_EQ(open.problem->line, 2u) << open.error;
}

TEST(CsvReader, StopsAtTheFirstErrorAndKeepsReportingIt) {
  CsvReader reader;
  int records = 0;
  const CsvRecordSink count = [&](CsvRecord&) { ++records; };
  const auto first = reader.feed("a,b\nc,\xFF\nd,e\n", count);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(records, 1);
  const auto again = reader.feed("f,g\n", count);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, first.error().message);
  const auto finished = reader.finish(count);
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().message, first.error().message);
  EXPECT_EQ(records, 1);
}

TEST(CsvReader, LetsTheCallbackMoveTheFieldsOut) {
  Records kept;
  CsvReader reader;
  const CsvRecordSink keep = [&](CsvRecord& r) { kept.push_back(std::move(r.fields)); };
  ASSERT_TRUE(reader.feed("a,b,c\nd,e\n\nf,g,h,i\n", keep).ok());
  ASSERT_TRUE(reader.finish(keep).ok());
  EXPECT_EQ(kept, (Records{{"a", "b", "c"}, {"d", "e"}, {}, {"f", "g", "h", "i"}}));
}

TEST(CsvReader, ReadsOneHundredThousandRowsWithMemoryBoundedByTheLongestRecord) {
  CsvReader reader;
  std::size_t records = 0;
  std::size_t largestCapacity = 0;
  std::size_t totalBytes = 0;
  std::size_t longestRecord = 0;
  const CsvRecordSink check = [&](CsvRecord& r) {
    ++records;
    largestCapacity = std::max(largestCapacity, reader.bufferCapacity());
    if (r.row > 1) {
      ASSERT_EQ(r.fields.size(), 7u) << "row " << r.row;
      ASSERT_EQ(r.fields[2], "user" + std::to_string(r.row - 1) + "@example.org");
    }
  };
  std::string pending =
      "\xEF\xBB\xBFGiven Name,Surname,Email address,Job title,Manager's email address,Is "
      "Active,Country\r\n";
  for (std::size_t i = 1; i <= 100'000; ++i) {
    std::string row = "Given" + std::to_string(i) + ",Surname" + std::to_string(i) + ",user" +
                      std::to_string(i) + "@example.org,";
    // One record, in the middle, much longer than the others.
    row += i == 50'000 ? "\"" + std::string(4000, 'x') + "\r\n" + std::string(4000, 'y') + "\""
                       : "\"Engineer, level " + std::to_string(i % 7) + "\"";
    row += ",boss@example.org,1,DE\r\n";
    longestRecord = std::max(longestRecord, row.size());
    pending += row;
    if (pending.size() >= 64 * 1024) {
      ASSERT_TRUE(reader.feed(pending, check).ok());
      totalBytes += pending.size();
      pending.clear();
    }
  }
  ASSERT_TRUE(reader.feed(pending, check).ok());
  ASSERT_TRUE(reader.finish(check).ok());
  totalBytes += pending.size();

  EXPECT_EQ(records, 100'001u);
  // Field buffers grow by doubling, so they may hold up to twice what they were given.
  EXPECT_LE(largestCapacity, 2 * longestRecord);
  EXPECT_LT(largestCapacity * 100, totalBytes);
}

TEST(CsvWriter, QuotesFieldsHoldingSeparatorsQuotesLineBreaksOrOuterSpaces) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"plain", "plain"},
      {"", ""},
      {"a,b", "\"a,b\""},
      {"a;b", "\"a;b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"two\nlines", "\"two\nlines\""},
      {"two\r\nlines", "\"two\r\nlines\""},
      {" lead", "\" lead\""},
      {"trail ", "\"trail \""},
      {"in side", "in side"},
      {"\xEF\xBB\xBF"
       "bom",
       "\"\xEF\xBB\xBF"
       "bom\""},
      {"Ünïcødé 日本 🎉", "Ünïcødé 日本 🎉"},
  };
  for (const auto& [field, written] : cases) {
    std::string out;
    CsvWriter::appendField(out, field, /*formulaSafe=*/true);
    EXPECT_EQ(out, written) << ::testing::PrintToString(field);
  }
  std::string out;
  CsvWriter().writeRecord(out, {"a", "b,c", ""});
  EXPECT_EQ(out, "a,\"b,c\",\r\n");
}

TEST(CsvWriter, MakesFormulaCellsInert) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"=SUM(A1:A9)", "'=SUM(A1:A9)"},
      {"+1+1", "'+1+1"},
      {"-2+3", "'-2+3"},
      {"@SUM(A1)", "'@SUM(A1)"},
      {"\t=1", "'\t=1"},
      {"\r=1", "\"'\r=1\""},
      {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
      {"=1,2", "\"'=1,2\""},
      {"a=b", "a=b"},
      {"'=1", "'=1"},
      // After spaces or invisible characters, and full-width (a review).
      {" =HYPERLINK(\"http://x\")", "\"' =HYPERLINK(\"\"http://x\"\")\""},
      {"\u00A0=1", "'\u00A0=1"},
      {"\u200B\u200B+1", "'\u200B\u200B+1"},
      {"\uFF1D1+1", "'\uFF1D1+1"},
      {" \uFEFF@A1", "\"' \uFEFF@A1\""},
      // The invisible characters the import itself sees (a review of the first
      // version: a soft hyphen, an embedding, an invisible separator, a C1 control).
      {"\u00AD=1", "'\u00AD=1"},
      {"\u202A=1", "'\u202A=1"},
      {"\u2063@SUM(1)", "'\u2063@SUM(1)"},
      {"\u0085+1", "'\u0085+1"},
      // A variation selector or a tag character, which trimText keeps for emoji (a
      // review).
      {"\uFE0F=1+1", "'\uFE0F=1+1"},
      {"\U000E0020=1+1", "'\U000E0020=1+1"},
      {"\U000E0101-1", "'\U000E0101-1"},
      {"\u00E9=1", "\u00E9=1"},
      {" a", "\" a\""},
      {"\u00A0", "\u00A0"},
  };
  for (const auto& [field, written] : cases) {
    std::string out;
    CsvWriter::appendField(out, field, /*formulaSafe=*/true);
    EXPECT_EQ(out, written) << ::testing::PrintToString(field);
  }
  EXPECT_EQ(inertCell("=1"), "'=1");
  EXPECT_EQ(inertCell("1"), "1");
  EXPECT_EQ(inertCell(""), "");
  std::string raw;
  CsvWriter({.formulaSafe = false}).writeRecord(raw, {"=1", "-2"});
  EXPECT_EQ(raw, "=1,-2\r\n");
}

TEST(CsvWriter, FormulaCellsOfAnErrorLogReadBackInert) {
  std::string file;
  CsvWriter writer;
  writer.writeRecord(file, {"Row", "Column", "Value", "Message"});
  writer.writeRecord(file, {"2", "Email address", "=HYPERLINK(\"http://evil.example\",\"x\")",
                            "not an email address"});
  writer.writeRecord(file, {"3", "Given Name", "@cmd|'/c calc'!A0", "-1 is not a name"});
  const Outcome got = read(file);
  ASSERT_EQ(got.error, "");
  EXPECT_EQ(got.records[1][2], "'=HYPERLINK(\"http://evil.example\",\"x\")");
  EXPECT_EQ(got.records[2][2], "'@cmd|'/c calc'!A0");
  EXPECT_EQ(got.records[2][3], "'-1 is not a name");
  for (const auto& record : got.records)
    for (const auto& cell : record) EXPECT_FALSE(isFormulaCell(cell)) << cell;
}

TEST(CsvWriter, WritesAByteOrderMarkBeforeTheFirstRecordOnlyWhenAsked) {
  std::string with;
  CsvWriter bom({.byteOrderMark = true});
  bom.writeRecord(with, {"a"});
  bom.writeRecord(with, {"b"});
  EXPECT_EQ(with,
            "\xEF\xBB\xBF"
            "a\r\nb\r\n");
  std::string without;
  CsvWriter().writeRecord(without, {"a"});
  EXPECT_EQ(without, "a\r\n");
  EXPECT_EQ(read(with).records, (Records{{"a"}, {"b"}}));
}

TEST(CsvWriter, WritesARecordOfOneEmptyFieldSoThatItIsNotABlankLine) {
  std::string out;
  CsvWriter writer;
  writer.writeRecord(out, {"h"});
  writer.writeRecord(out, {""});
  writer.writeRecord(out, {"x"});
  EXPECT_EQ(out, "h\r\n\"\"\r\nx\r\n");
  EXPECT_EQ(read(out).records, (Records{{"h"}, {""}, {"x"}}));
}

TEST(CsvRoundTrip, RandomFieldsSurviveTheWriterThenTheReader) {
  const std::vector<std::string> pieces = {
      "a", "Z", "0",  " ", ",", ";",  "\"", "\"\"", "\r", "\n",  "\r\n",         "=",         "+",
      "-", "@", "\t", "'", "é", "日", "🎉",  "Ж",    "ع",  "x y", "\xEF\xBB\xBF", "Manager's",
  };
  std::mt19937 rng(20240505);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };
  for (bool formulaSafe : {false, true}) {
    SCOPED_TRACE(formulaSafe ? "formula-safe" : "as they are");
    Records written;
    for (int r = 0; r < 2000; ++r) {
      std::vector<std::string> record(1 + pick(5));
      for (auto& field : record)
        for (std::size_t n = pick(6); n > 0; --n) field += pieces[pick(pieces.size() - 1)];
      written.push_back(std::move(record));
    }
    std::string file;
    CsvWriter writer({.byteOrderMark = formulaSafe, .formulaSafe = formulaSafe});
    for (const auto& record : written) writer.writeRecord(file, record);

    Records expected = written;
    if (formulaSafe)
      for (auto& record : expected)
        for (auto& field : record) field = inertCell(field);
    for (std::size_t chunk : {0, 1, 3, 7}) {
      const Outcome got = read(file, chunk);
      ASSERT_EQ(got.error, "");
      EXPECT_EQ(got.separator, ',');
      ASSERT_EQ(got.records.size(), expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i)
        ASSERT_EQ(got.records[i], expected[i]) << "record " << i + 1 << " of chunk " << chunk;
    }
  }
}

// A file in another charset is read a piece of 64 Ki characters at a time: a
// character split between two pieces (a surrogate pair of UTF-16, at every offset
// around the boundary) comes out whole, and a byte that is no character is named with
// the text before it handed on, wherever it falls.
TEST(Charset, PiecesJoinAcrossTheirBoundariesAndABadByteIsNamedWhereItFalls) {
  auto read = [](const std::string& bytes, const std::string& charset, std::string& text) {
    text.clear();
    return readAsUtf8(bytes, charset, [&](std::string_view piece) {
      text += piece;
      return true;
    });
  };
  std::string text;
  for (std::size_t before : {65533u, 65534u, 65535u, 65536u, 131071u}) {
    std::string utf16;  // `before` letters "a", then U+1F600, then "z", little-endian
    for (std::size_t i = 0; i < before; ++i) utf16 += std::string("a\0", 2);
    utf16 += std::string("\x3D\xD8\x00\xDE", 4) + std::string("z\0", 2);
    EXPECT_EQ(read(utf16, "UTF-16LE", text), std::nullopt) << before;
    EXPECT_EQ(text, std::string(before, 'a') + "\xF0\x9F\x98\x80z") << before;
  }
  for (std::size_t before : {0u, 65535u, 65536u, 70000u}) {
    const std::string bytes = std::string(before, 'a') + "\x81z";
    EXPECT_EQ(read(bytes, "windows-1252", text), std::optional<std::string>("\x81")) << before;
    EXPECT_EQ(text, std::string(before, 'a')) << before;
  }
  // EUC-KR's 0x80 reads as a C1 control too; its letters are read as they are.
  EXPECT_EQ(read("\xC7\xD1\x80", "EUC-KR", text), std::optional<std::string>("\x80"));
  EXPECT_EQ(text, "\xED\x95\x9C");  // 한
  EXPECT_EQ(read("a\x81 b", "Shift_JIS", text), std::optional<std::string>("\x81"));
  EXPECT_EQ(text, "a");
  EXPECT_EQ(read("ab", "klingon", text), std::optional<std::string>(""));
  // Reading stops when the sink says so.
  std::size_t pieces = 0;
  EXPECT_EQ(readAsUtf8(std::string(200'000, 'a'), "latin1",
                       [&](std::string_view) { return ++pieces < 2; }),
            std::nullopt);
  EXPECT_EQ(pieces, 2u);
  EXPECT_TRUE(isUtf8Charset("unicode-1-1-utf-8"));
  EXPECT_TRUE(isUtf8Charset(" US-ASCII "));
  EXPECT_FALSE(isUtf8Charset("latin1"));
  EXPECT_FALSE(isUtf8Charset(""));
  EXPECT_EQ(charsetOfFile(std::string("\xFF\xFE\0\0a", 5), "latin1"), "UTF-32");
  EXPECT_EQ(charsetOfFile(std::string("\xFE\xFF\0a", 4), ""), "UTF-16");
  EXPECT_EQ(charsetOfFile("\xEF\xBB\xBF"
                          "a",
                          "Shift_JIS"),
            "UTF-8");
  EXPECT_EQ(charsetOfFile("a", "Shift_JIS"), "Shift_JIS");
}

}  // namespace
}  // namespace portal
