// Batch import of users from a CSV file, its error log and its templates; the
// countries its Country column takes.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::countriesList(Call&) {
  json out = json::array();
  for (const auto& c : countries.all()) out.push_back({{"code", c.code}, {"name", c.name}});
  return jsonResponse(200, out.dump());
}

std::optional<bool> Api::Impl::queryFlag(const Call& call, const char* name, HttpResponse& error) {
  auto it = call.query.find(name);
  if (it == call.query.end() || it->second == "false" || it->second == "0") return false;
  if (it->second == "true" || it->second == "1") return true;
  error = badParam(
      name, std::string("The query parameter ") + name + " must be true or false (or 1 or 0).");
  return std::nullopt;
}

std::string Api::Impl::shownValue(const std::string& value) {
  constexpr std::size_t kShownBytes = 1024;
  if (value.size() <= kShownBytes) return value;
  std::size_t end = kShownBytes;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
  return value.substr(0, end) + "\u2026";
}

nlohmann::json Api::Impl::issuesJson(const std::vector<ImportIssue>& issues) {
  json list = json::array();
  for (std::size_t i = 0; i < issues.size() && i < kMaxIssuesShown; ++i)
    list.push_back({{"row", issues[i].row},
                    {"column", issues[i].column},
                    {"value", shownValue(issues[i].value)},
                    {"message", issues[i].message}});
  return list;
}

HttpResponse Api::Impl::importUsers(Call& call) {
  if (auto refused = Api::csvRefused(call.req.header("content-type"))) return *refused;
  // A repeat of the key sent while the first import runs waits for its outcome (a
  // file with errors would otherwise be answered anew, with another import id).
  const auto serial = serializeKey(call);
  // A browser gives an Excel workbook the type it gives a .csv file where Excel is
  // installed (application/vnd.ms-excel): a workbook is said to be one.
  if (const std::string_view body = call.req.body;
      body.starts_with("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") || body.starts_with("PK\x03\x04"))
    return Api::problem(415, "unsupported-media-type", "Unsupported media type", kWorkbookNotCsv);
  HttpResponse error;
  const auto notify = queryFlag(call, "notify", error);
  if (!notify) return error;
  const auto dryRun = queryFlag(call, "dryRun", error);
  if (!dryRun) return error;

  // Taken before the file is read: an anonymization from here on means the log,
  // which may name the person, is not kept.
  const std::uint64_t logGeneration = importLogs.generation(call.company());
  ImportReadOptions read;
  read.maxRows = options.importMaxRows;
  read.charset = charsetParameter(call.req.header("content-type")).value_or("");
  ImportFile file;
  {
    const CredentialsReader credentials = portal.credentials();  // not held while it runs
    read.inPool = [&](std::string_view email) {
      const auto account = credentials.accountByEmail(call.company(), email);
      using Member = ImportReadOptions::Member;
      return !account ? Member::kNone : account->active ? Member::kActive : Member::kDeactivated;
    };
    file = readUserImport(call.req.body, countries, read);
    read.inPool = nullptr;
  }
  if (file.tooManyRows)
    return Api::problem(413, "too-many-rows", "The file has too many rows",
                        "An import reads at most " + std::to_string(options.importMaxRows) +
                            " rows below the header; split the file, or delete the rows that "
                            "hold no user. Nothing was created.");

  // A repeated Idempotency-Key of an import that was made gets its outcome again
  // (the warnings are this file's); sent with another file or query, it is refused
  // as reused (Submission::fingerprint, kept in its record). One that was refused is
  // checked anew (Submission::replayRefusals).
  std::optional<HttpResponse> problem;
  if (auto first = earlierAnswer(call, ImportUsers{}, problem); first && first->accepted())
    // Its log may have gone since (a week, an anonymization): linked only if kept.
    return importAnswer(
        first->decision.id, {}, file, false, first->decision.ids.size(),
        importLogs.get(call.company(), first->decision.id, clock.now()).has_value());
  else if (first && first->rejection.code == kKeyReusedCode)
    return rejected(first->rejection);
  if (problem) return *problem;

  std::string importId = ids.newId();
  std::vector<ImportIssue> errors = std::move(file.errors);
  std::size_t created = 0;
  if (!file.rows.empty()) {
    // The processor decides the rest (is an email in the pool already?) with the
    // pool as it is when the users are created; with errors, only as a dry run.
    ImportUsers c;
    c.importId = importId;
    c.notify = *notify;
    // Without errors, the processor judges the managers of the rows (all of them) as
    // the users are created; its warnings replace the file's of them.
    c.warnings = errors.empty()
                     ? std::count_if(file.warnings.begin(), file.warnings.end(),
                                     [](const ImportIssue& w) { return !isManagerPoolWarning(w); })
                     : file.warnings.size();
    c.dryRun = *dryRun || !errors.empty();
    c.rows.reserve(file.rows.size());
    c.rowNumbers.reserve(file.rows.size());
    for (const ImportRow& r : file.rows) {
      c.rows.push_back(r.details);
      c.rowNumbers.push_back(r.row);
    }
    const bool real = !c.dryRun;
    CommandReply reply;
    auto refused = run(call, std::move(c), reply,
                       real && *notify ? welcomeMail(call.company()) : nullptr, real);
    const bool invalidRows = reply.status == CommandReply::Status::kRejected &&
                             reply.rejection.kind == RejectionKind::kInvalid;
    if (refused && !invalidRows) return *refused;
    if (invalidRows) {
      for (const FieldProblem& p : reply.rejection.problems)
        errors.push_back(issueOfProblem(p, file.rows));
      sortIssues(errors);
    } else {
      if (errors.empty() && !reply.replayed) {
        std::erase_if(file.warnings, isManagerPoolWarning);
        for (const FieldProblem& p : reply.decision.warnings)
          file.warnings.push_back(issueOfProblem(p, file.rows));
        sortIssues(file.warnings);
      }
      if (real) {
        importId = reply.decision.id;  // the first answer's, for a repeated key
        created = reply.decision.ids.size();
      }
    }
  }

  bool logKept = false;
  if (auto kept =
          importLogs.put(call.company(), importId, clock.now(),
                         importLogCsv(errors, file.warnings, file.separator), logGeneration);
      !kept)
    logLine("import " + importId + ": " + kept.error().message);
  else if (!*kept)
    logLine("import " + importId + ": its log is not kept: a user was anonymized meanwhile");
  else
    logKept = true;
  return importAnswer(importId, errors, file, *dryRun, created, logKept);
}

HttpResponse Api::Impl::importAnswer(const std::string& importId,
                                     const std::vector<ImportIssue>& errors, const ImportFile& file,
                                     bool dryRun, std::size_t created, bool logKept) {
  const bool ok = errors.empty();
  json body = {
      {"importId", importId},
      {"status", ok ? "completed" : "rejected"},
      {"dryRun", dryRun},
      {"created", created},
      {"rows", file.userRows},
      {"warningCount", file.warnings.size()},
      {"warnings", issuesJson(file.warnings)},
      {"log", logKept ? json("/api/v1/users/import/" + importId + "/errors.csv") : json()}};
  if (!ok) {
    body["errorCount"] = errors.size();
    body["errors"] = issuesJson(errors);
  }
  return jsonResponse(ok ? 200 : 422, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

HttpResponse Api::Impl::download(std::string bytes, const char* type, const std::string& filename) {
  HttpResponse r;
  r.status = 200;
  r.contentType = type;
  r.body = std::move(bytes);
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  return r;
}

HttpResponse Api::Impl::importErrors(Call& call) {
  auto log = importLogs.get(call.company(), call.params[0], clock.now());
  // Logs hold the rows as uploaded, personal data of people who may be erased
  // since: they go after a week and at any anonymization in the company.
  if (!log)
    return notFound("The import's log",
                    "logs are kept for a week (a company keeps its newest " +
                        std::to_string(ImportLogBounds{}.logs) + ", " +
                        std::to_string(ImportLogBounds{}.bytes >> 20) +
                        " MiB at most), and removed when anyone in the company is anonymized");
  return download(std::move(*log), "text/csv; charset=utf-8",
                  "import-" + call.params[0] + "-errors.csv");
}

HttpResponse Api::Impl::templateCsv(Call&) {
  return download(importTemplateCsv(), "text/csv; charset=utf-8", "users-template.csv");
}

HttpResponse Api::Impl::templateXlsx(Call&) {
  std::call_once(workbookOnce, [&] { workbook = importTemplateXlsx(countries); });
  if (!workbook) throw std::runtime_error(workbook.error().message);
  return download(*workbook, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  "users-template.xlsx");
}

}  // namespace portal
