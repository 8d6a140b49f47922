// bench_import: a complete batch import over HTTP against reading the same file.
//
//   bench_import [--rows N] [--runs R]
//
// Generates a file of N users (100,000 by default) as a spreadsheet saves it (a BOM,
// CRLF, a quoted cell in every tenth row), then times, in the same run:
// - the baseline: the file read through the CSV reader alone (every record and field);
// - for where the time goes: the import's checks of the file alone (readUserImport);
// - ours: POST /api/v1/users/import over a loopback connection to the real server,
//   from the first byte sent until the answer (the file checked, every user created in
//   one durable append, the projections caught up, the answer read).
// Each import creates N new users in the same company; the best of R runs is shown
// for both (the machines are shared and noisy). Target: 100,000 rows/s end to end.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "bench/bench_portal.h"
#include "src/csv/csv_reader.h"
#include "src/csv/user_import.h"

namespace portal::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::size_t gRows = 100'000;
int gRuns = 3;

std::string makeFile(std::size_t rows, int run) {
  std::string csv =
      "\xEF\xBB\xBFGiven Name,Surname,Email address,Job title,Manager's email address,Is "
      "Active,Country\r\n";
  csv.reserve(rows * 110);
  const std::string domain = "@run" + std::to_string(run) + ".bench.example";
  for (std::size_t i = 0; i < rows; ++i) {
    const std::string n = std::to_string(i);
    csv += "Given" + n + ",Surname" + n + ",user" + n + domain +
           (i % 10 == 0 ? ",\"Engineer, Platform\"," : ",Engineer,") + "user" +
           std::to_string(i / 100 * 100) + domain + ",1," + (i % 2 ? "DE" : "Germany") + "\r\n";
  }
  return csv;
}

double readOnly(const std::string& csv) {
  Stopwatch watch;
  std::size_t records = 0, fields = 0;
  auto ok = readCsv(csv, [&](CsvRecord& r) {
    ++records;
    fields += r.fields.size();
  });
  const double s = watch.seconds();
  if (!ok || records != gRows + 1 || fields != (gRows + 1) * 7) {
    std::fprintf(stderr, "benchmark: the CSV reader read %zu records\n", records);
    std::exit(1);
  }
  return static_cast<double>(gRows) / s;
}

// The import's own checks of the file (the first step of an import), no pool.
double checkOnly(const CountryList& countries, const std::string& csv) {
  Stopwatch watch;
  ImportFile file = readUserImport(csv, countries);
  const double s = watch.seconds();
  if (file.rows.size() != gRows || !file.errors.empty()) {
    std::fprintf(stderr, "benchmark: the file check kept %zu rows\n", file.rows.size());
    std::exit(1);
  }
  return static_cast<double>(gRows) / s;
}

double importOverHttp(BenchPortal& bench, const std::string& csv) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), bench.port()));
  http::request<http::string_body> req(http::verb::post, "/api/v1/users/import", 11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, "Bearer " + bench.token());
  req.set(http::field::content_type, "text/csv");
  req.body() = csv;
  req.prepare_payload();
  const bool perThread = std::getenv("BENCH_THREADS") != nullptr;
  const auto threadsBefore = perThread ? useByThread() : std::map<std::string, ThreadUse>{};
  Stopwatch watch;
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  http::read(stream, buffer, parser);
  const double s = watch.seconds();
  if (perThread) {
    // (A thread that ended meanwhile, the projector's decoding one, is not counted.)
    std::printf("  (CPU a row by thread; the upload's is this benchmark's own, bench_import)\n");
    printUseByThread(threadsBefore, useByThread(), static_cast<double>(gRows), "row");
  }
  const auto& res = parser.get();
  const auto answer = nlohmann::json::parse(res.body(), nullptr, false);
  if (res.result_int() != 200 || !answer.is_object() || answer.value("created", 0u) != gRows) {
    std::fprintf(stderr, "benchmark: the import was answered %d: %.300s\n", res.result_int(),
                 res.body().c_str());
    std::exit(1);
  }
  // The answer comes once the projections show the users; check that they do.
  Portal& p = bench.portal();
  if (p.projector().position() < p.store().lastPosition()) {
    std::fprintf(stderr, "benchmark: answered before the projections caught up\n");
    std::exit(1);
  }
  return static_cast<double>(gRows) / s;
}

void run() {
  BenchPortal bench("import");
  double bestRead = 0, bestCheck = 0, bestImport = 0;
  std::size_t bytes = 0;
  for (int run = 0; run < gRuns; ++run) {
    const std::string csv = makeFile(gRows, run);
    bytes = csv.size();
    bestRead = std::max(bestRead, readOnly(csv));
    bestCheck = std::max(bestCheck, checkOnly(bench.countries(), csv));
    const double rate = importOverHttp(bench, csv);
    std::printf("  run %d: import %9.0f rows/s\n", run + 1, rate);
    bestImport = std::max(bestImport, rate);
  }
  std::printf("(%zu rows, %.1f MiB a file, best of %d runs)\n", gRows,
              static_cast<double>(bytes) / (1 << 20), gRuns);
  printRatio("file check vs CSV read", bestCheck, bestRead, "rows/s", 0.0);
  printRatio("import over HTTP vs CSV read", bestImport, bestRead, "rows/s", 0.0);
  printFigure("import over HTTP, end to end", bestImport, "rows/s", 100'000);
}

}  // namespace
}  // namespace portal::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      portal::bench::gRows = std::strtoul(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      portal::bench::gRuns = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_import [--rows N] [--runs R]\n");
      return 2;
    }
  }
  if (portal::bench::gRows == 0 || portal::bench::gRuns <= 0) {
    std::fprintf(stderr, "bench_import: --rows and --runs must be positive\n");
    return 2;
  }
  portal::bench::run();
  return 0;
}
