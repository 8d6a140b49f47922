// The helpers of api_impl.h that read requests and make answers.

#include <unordered_set>

#include "src/http/api_impl.h"

namespace portal::api_detail {

HttpResponse jsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse noContent() {
  HttpResponse r;
  r.status = 204;
  r.contentType.clear();
  return r;
}

json problemJson(int status, std::string_view code, std::string_view title,
                 std::string_view detail) {
  return json{{"type", "/problems/" + std::string(code)},
              {"title", std::string(title)},
              {"status", status},
              {"detail", std::string(detail)},
              {"code", std::string(code)}};
}

HttpResponse problemResponse(const json& body) {
  HttpResponse r;
  r.status = body.value("status", 500);
  r.contentType = "application/problem+json";
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse validation(const std::vector<std::pair<std::string, std::string>>& errors,
                        std::string_view detail) {
  json body = problemJson(422, "validation-failed", "The request is not valid", detail);
  json list = json::array();
  for (const auto& [field, message] : errors)
    list.push_back({{"field", field}, {"message", message}});
  body["errors"] = std::move(list);
  return problemResponse(body);
}

HttpResponse badParam(std::string_view field, std::string_view detail) {
  json body = problemJson(400, "bad-request", "The request cannot be understood", detail);
  body["errors"] = json::array({{{"field", std::string(field)}, {"message", std::string(detail)}}});
  return problemResponse(body);
}

HttpResponse notAnId(std::string_view field, std::string_view text, bool orSystem) {
  return badParam(field, std::string(field) + " must be an id (a UUID)" +
                             (orSystem ? " or system" : "") +
                             (text.find('@') != std::string_view::npos
                                  ? ", not an email: GET /api/v1/users?search= finds the id."
                                  : "."));
}

HttpResponse notFound(std::string_view what, std::string_view why) {
  return Api::problem(404, "not-found", "Not found",
                      std::string(what) + " does not exist in this company" +
                          (why.empty() ? std::string(".") : ": " + std::string(why) + "."));
}

int statusOf(RejectionKind kind) {
  switch (kind) {
    case RejectionKind::kInvalid:
      return 422;
    case RejectionKind::kBadRequest:
      return 400;
    case RejectionKind::kNotFound:
      return 404;
    case RejectionKind::kConflict:
      return 409;
    case RejectionKind::kForbidden:
      return 403;
    case RejectionKind::kPreconditionFailed:
      return 412;
  }
  return 400;
}

HttpResponse rejected(const Rejection& r) {
  const int status = statusOf(r.kind);
  static const std::map<int, std::string> titles = {{400, "The request cannot be acted on"},
                                                    {403, "Not allowed"},
                                                    {404, "Not found"},
                                                    {409, "Conflict with the current state"},
                                                    {412, "The resource has changed"},
                                                    {422, "The request is not valid"}};
  // A type whose own title the API gives where it answers it itself: one title for
  // one type (RFC 9457 3.1.3), whichever of the two refuses.
  static const std::map<std::string, std::string, std::less<>> ownTitles = {
      {"reset-token-invalid", "The reset link cannot be used"}};
  const auto own = ownTitles.find(r.code);
  json body = problemJson(status, r.code, own != ownTitles.end() ? own->second : titles.at(status),
                          r.message);
  if (!r.problems.empty()) {
    json list = json::array();
    for (const auto& p : r.problems) {
      list.push_back({{"field", p.field}, {"message", p.message}});
      if (!p.resourceId.empty()) list.back()["resourceId"] = p.resourceId;
    }
    body["errors"] = std::move(list);
  }
  if (!r.ids.empty()) body["resources"] = r.ids;
  return problemResponse(body);
}

std::optional<HttpResponse> notJsonType(std::string_view contentType) {
  if (contentType.empty()) return std::nullopt;
  if (!isJsonMediaType(contentType))
    return Api::problem(415, "unsupported-media-type", "Unsupported media type",
                        "Send the body as application/json.");
  // A JSON Patch (RFC 6902) is a list of operations, which this API does not take: its
  // PATCH is a JSON merge patch (RFC 7396), and a JSON Patch's type was read as any
  // +json (a review). RFC 5789 2.2: 415, and the formats taken in Accept-Patch.
  if (mediaType(contentType) == "application/json-patch+json") {
    HttpResponse r = Api::problem(
        415, "unsupported-media-type", "Unsupported media type",
        "A JSON Patch (application/json-patch+json) is not taken: send a JSON merge patch, "
        "an object of the fields to change, as application/merge-patch+json or "
        "application/json.");
    r.headers.emplace_back("Accept-Patch", "application/merge-patch+json");
    return r;
  }
  // JSON is UTF-8 (RFC 8259 8.1): a body said to be in another charset was read as
  // UTF-8 all the same and refused as "not valid JSON" at its first letter past ASCII.
  if (auto refused = twoCharsets(contentType)) return refused;
  if (const auto charset = charsetParameter(contentType); charset && !isUtf8Charset(*charset))
    return Api::problem(415, "unsupported-media-type", "Unsupported media type",
                        "JSON is sent as UTF-8, not " + charset->substr(0, 40) +
                            ": send the body as UTF-8 (charset=utf-8).");
  return std::nullopt;
}

std::optional<HttpResponse> twoCharsets(std::string_view contentType) {
  bool conflicting = false;
  charsetParameter(contentType, &conflicting);
  if (!conflicting) return std::nullopt;
  // Which of them the body is in would depend on which one was read (a review: the
  // first won).
  return Api::problem(415, "unsupported-media-type", "Unsupported media type",
                      "The Content-Type names two different character sets: name the one the "
                      "body is in, once.");
}

std::optional<std::string> charsetParameter(std::string_view contentType, bool* conflicting) {
  std::optional<std::string> named;
  if (conflicting != nullptr) *conflicting = false;
  std::string_view params = contentType.substr(std::min(contentType.find(';'), contentType.size()));
  while (!params.empty()) {
    params.remove_prefix(1);  // the ';'
    // To the next ';' outside a quoted value (`a="x;charset=y"` names no charset).
    std::size_t end = 0;
    for (bool quoted = false; end < params.size() && (quoted || params[end] != ';'); ++end) {
      if (params[end] == '\\' && quoted && end + 1 < params.size())
        ++end;
      else if (params[end] == '"')
        quoted = !quoted;
    }
    const std::string_view param = params.substr(0, end);
    params.remove_prefix(param.size());
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos || asciiLower(trim(param.substr(0, eq))) != "charset")
      continue;
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!named)
      named = std::string(value);
    else if (conflicting != nullptr && asciiLower(trim(*named)) != asciiLower(trim(value)) &&
             (!canonicalCharset(*named) || canonicalCharset(*named) != canonicalCharset(value)))
      *conflicting = true;  // (utf-8 and utf8 are one)
  }
  return named;
}

namespace {

// Reads a JSON text for the first name given twice in one object, and nothing else.
struct RepeatedNames final : json::json_sax_t {
  std::vector<std::unordered_set<std::string>> open;  // the names of each object open
  std::optional<std::string> repeated;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    if (!open.back().insert(name).second) repeated = name;
    return !repeated;  // the first is enough
  }
  bool end_object() override {
    open.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

}  // namespace

std::optional<json> objectBody(const HttpRequest& req, HttpResponse& error) {
  if (auto refused = notJsonType(req.header("content-type"))) {
    error = std::move(*refused);
    return std::nullopt;
  }
  json j;
  const std::string_view text = req.body.empty() ? std::string_view("{}") : req.body;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    // Where it broke (the library's byte offset), not the body: it may hold a password.
    error = Api::badRequest("The body is not valid JSON (UTF-8) at byte " + std::to_string(e.byte) +
                            ".");
    return std::nullopt;
  } catch (const json::exception&) {  // a number too large for a double (1e400)
    error = Api::badRequest("The body holds a number out of range.");
    return std::nullopt;
  }
  // A name twice in one object is refused: RFC 8259 leaves its meaning open, and a
  // proxy or a log reader that takes the first where this parser keeps the last
  // would see another request than the one carried out. (Found by a pass of its own:
  // nlohmann's parser with a callback looks through the whole enclosing object at
  // each inner object's end, and a body of 100,000 names of `{}` took 36 s of a
  // network thread; a review.)
  RepeatedNames names;
  json::sax_parse(text, &names);
  if (const std::optional<std::string>& repeated = names.repeated) {
    // The name, not the values: they may be a password.
    const bool nameable = repeated->size() <= 64 && repeated->find('@') == std::string::npos;
    error = Api::badRequest(nameable ? "The body names \"" + *repeated + "\" twice in one object."
                                     : std::string("The body names a field twice in one object."));
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = Api::badRequest("The body must be a JSON object.");
    return std::nullopt;
  }
  return j;
}

std::optional<std::string> stringField(const json& body, const char* name,
                                       std::vector<std::pair<std::string, std::string>>& errors) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    errors.emplace_back(name, "must be a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

void refuseOtherFields(const json& body, std::initializer_list<std::string_view> known,
                       std::vector<std::pair<std::string, std::string>>& errors,
                       const char* message) {
  refuseFieldsNotIn(body, known, errors, message);
}

std::string waitInWords(std::int64_t seconds) {
  if (seconds <= 1) return "a second";
  if (seconds < 60) return std::to_string(seconds) + " seconds";
  const std::int64_t minutes = (seconds + 59) / 60;
  return minutes == 1 ? "a minute" : std::to_string(minutes) + " minutes";
}

HttpResponse tooMany(std::int64_t wait, std::string_view title, std::string_view detail,
                     std::string_view code) {
  HttpResponse r = Api::problem(429, std::string(code), title, detail);
  r.headers.emplace_back("Retry-After", std::to_string(wait));
  return r;
}

std::string itemsJson(const std::vector<std::string>& items, const std::string& nextCursor) {
  std::string out = "{\"items\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(',');
    out += items[i];
  }
  out += "],\"nextCursor\":";
  out += nextCursor.empty() ? "null" : json(nextCursor).dump();
  out += "}";
  return out;
}

}  // namespace portal::api_detail
