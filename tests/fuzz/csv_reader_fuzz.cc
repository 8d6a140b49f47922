// The CSV reader against itself: chunking must not change what it reads.

#include <string>
#include <vector>

#include "events/json_writer.h"
#include "src/csv/csv_reader.h"
#include "tests/fuzz/fuzz_targets.h"

namespace portal::fuzz {
namespace {

struct Reading {
  std::vector<CsvRecord> records;
  bool failed = false;
  std::string error;
};

Reading readChunked(std::string_view file, std::size_t chunk, CsvReaderOptions options) {
  Reading out;
  CsvReader reader(options);
  auto keep = [&](CsvRecord& r) { out.records.push_back(r); };
  Result<void> r;
  for (std::size_t at = 0; at < file.size() && r; at += chunk)
    r = reader.feed(file.substr(at, chunk), keep);
  if (r) r = reader.finish(keep);
  if (!r) {
    out.failed = true;
    out.error = r.error().message;
    check(reader.problem().has_value(), "an error without a problem()");
    check(reader.problem()->message == out.error, "problem() differs from the error");
  }
  return out;
}

}  // namespace

int csvReader(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 17;
  CsvReaderOptions options;
  if (data[0] & 0x80) options.maxRecordBytes = 64;  // reach the record limit too
  const std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);

  Reading whole;
  auto keep = [&](CsvRecord& r) { whole.records.push_back(r); };
  if (auto r = readCsv(file, keep, options); !r) {
    whole.failed = true;
    whole.error = r.error().message;
  }
  const Reading pieces = readChunked(file, chunk, options);

  check(whole.failed == pieces.failed, "chunking changed whether the file reads");
  check(whole.error == pieces.error, "chunking changed the error");
  check(whole.records.size() == pieces.records.size(), "chunking changed the records");
  std::size_t row = 0;
  for (std::size_t i = 0; i < whole.records.size(); ++i) {
    const CsvRecord& a = whole.records[i];
    const CsvRecord& b = pieces.records[i];
    check(a.row == b.row && a.line == b.line && a.fields == b.fields,
          "chunking changed a record");
    check(a.row == row + 1, "rows do not count up by one");
    row = a.row;
    std::size_t bytes = a.fields.empty() ? 0 : a.fields.size() - 1;
    for (const auto& f : a.fields) {
      check(isValidUtf8(f), "a field that is not valid UTF-8");
      bytes += f.size();
    }
    check(bytes <= options.maxRecordBytes, "a record past maxRecordBytes");
  }
  return 0;
}

}  // namespace portal::fuzz
