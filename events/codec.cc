#include "events/codec.h"

#include <nlohmann/json.hpp>

#include <type_traits>
#include <unordered_map>
#include <utility>

#include "events/json_writer.h"
#include "events/upcasters.h"

namespace portal {
namespace {

using nlohmann::json;

template <class T>
concept HasFields = requires(T& t, int& v) { T::visitFields(t, v); };
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// --- encoding ---------------------------------------------------------------

// Writes an event's fields. Personal fields go to `personal` (sealed later as one
// box) and their names to `personalNames`; when `personal` is the same writer as
// `clear` they are written inline (the audit view's plain form).
class EncodeVisitor {
 public:
  EncodeVisitor(JsonWriter& clear, JsonWriter& personal, std::vector<std::string_view>* names)
      : clear_(clear), personal_(personal), names_(names) {}

  void operator()(std::string_view name, const std::string& v) { clear_.key(name); clear_.string(v); }
  void operator()(std::string_view name, bool v) { clear_.key(name); clear_.boolean(v); }
  void operator()(std::string_view name, std::uint64_t v) { clear_.key(name); clear_.number(v); }
  void operator()(std::string_view name, const std::vector<std::string>& v) {
    clear_.key(name);
    clear_.beginArray();
    for (const auto& s : v) clear_.string(s);
    clear_.endArray();
  }
  void operator()(std::string_view name, const Personal& v) {
    if (v.shredded && names_ != nullptr) shreddedWrite_ = true;
    personal_.key(name);
    personal_.string(v.value);
    if (names_ != nullptr) names_->push_back(name);
  }
  template <class T>
  void operator()(std::string_view name, const std::optional<T>& v) {
    if (v) (*this)(name, *v);
  }
  template <HasFields T>
  void operator()(std::string_view name, const std::vector<T>& v) {
    clear_.key(name);
    clear_.beginArray();
    for (const auto& item : v) {
      clear_.beginObject();
      item.visit(*this);
      clear_.endObject();
    }
    clear_.endArray();
  }

  bool shreddedWrite() const { return shreddedWrite_; }

 private:
  JsonWriter& clear_;
  JsonWriter& personal_;
  std::vector<std::string_view>* names_;
  bool shreddedWrite_ = false;
};

template <class T>
std::optional<std::string> subjectOf(const T& e) {
  if constexpr (requires { e.personalSubject(); }) {
    return e.personalSubject();
  } else {
    return std::nullopt;
  }
}

Result<void> encodeData(const EventData& data, PersonalDataSealer& sealer, JsonWriter& w) {
  // Scratch space reused across events: this runs once per event on the write path.
  thread_local std::string personalText;
  thread_local std::vector<std::string_view> names;
  personalText.clear();
  names.clear();
  return std::visit(
      [&](const auto& e) -> Result<void> {
        JsonWriter personal(personalText);
        w.beginObject();
        personal.beginObject();
        EncodeVisitor v(w, personal, &names);
        e.visit(v);
        personal.endObject();
        if (v.shreddedWrite())
          return makeError(ErrorCode::kInvalidArgument,
                           "an anonymized personal field cannot be stored again");
        if (!personal.valid())
          return makeError(ErrorCode::kInvalidArgument, "a personal field is not valid UTF-8");
        if (!names.empty()) {
          auto subject = subjectOf(e);
          if (!subject || subject->empty())
            return makeError(ErrorCode::kInvalidArgument,
                             std::string(std::decay_t<decltype(e)>::kType) +
                                 " holds personal data but names no person to seal it for");
          auto box = sealer.seal(*subject, personalText);
          if (!box) return box.error();
          w.key("personal");
          w.beginObject();
          w.key("key");
          w.string(*subject);
          w.key("fields");
          w.beginArray();
          for (auto n : names) w.string(n);
          w.endArray();
          w.key("box");
          w.string(*box);
          w.endObject();
        }
        w.endObject();
        return {};
      },
      data);
}

// --- decoding ---------------------------------------------------------------

class DecodeVisitor {
 public:
  explicit DecodeVisitor(const json& obj) : obj_(obj) {}

  void operator()(std::string_view name, std::string& v) {
    if (const json* f = require(name)) {
      if (f->is_string()) v = f->get_ref<const std::string&>();
      else wrongType(name, "a string");
    }
  }
  void operator()(std::string_view name, bool& v) {
    if (const json* f = require(name)) {
      if (f->is_boolean()) v = f->get<bool>();
      else wrongType(name, "true or false");
    }
  }
  void operator()(std::string_view name, std::uint64_t& v) {
    if (const json* f = require(name)) {
      if (f->is_number_unsigned()) v = f->get<std::uint64_t>();
      else wrongType(name, "a non-negative integer");
    }
  }
  void operator()(std::string_view name, std::vector<std::string>& v) {
    if (const json* f = require(name)) {
      if (!f->is_array()) return wrongType(name, "an array");
      v.clear();
      for (const auto& item : *f) {
        if (!item.is_string()) return wrongType(name, "an array of strings");
        v.push_back(item.get<std::string>());
      }
    }
  }
  void operator()(std::string_view name, Personal& v) {
    if (const json* f = require(name)) {
      if (f->is_string()) {
        v = Personal(f->get<std::string>());
      } else if (f->is_object() && f->contains("$shredded")) {
        v = Personal::Shredded();
      } else {
        wrongType(name, "a string");
      }
    }
  }
  template <class T>
  void operator()(std::string_view name, std::optional<T>& v) {
    auto it = obj_.find(name);
    if (it == obj_.end() || it->is_null()) {
      v.reset();
      return;
    }
    v.emplace();
    (*this)(name, *v);
  }
  template <HasFields T>
  void operator()(std::string_view name, std::vector<T>& v) {
    const json* f = require(name);
    if (f == nullptr) return;
    if (!f->is_array()) return wrongType(name, "an array");
    v.clear();
    for (const auto& item : *f) {
      if (!item.is_object()) return wrongType(name, "an array of objects");
      DecodeVisitor nested(item);
      v.emplace_back().visit(nested);
      if (nested.error_) {
        error_ = nested.error_;
        return;
      }
    }
  }

  const std::optional<Error>& error() const { return error_; }

 private:
  const json* require(std::string_view name) {
    if (error_) return nullptr;
    auto it = obj_.find(name);
    if (it == obj_.end()) {
      error_ = makeError(ErrorCode::kCorrupt, "field '" + std::string(name) + "' is missing");
      return nullptr;
    }
    return &*it;
  }
  void wrongType(std::string_view name, std::string_view expected) {
    error_ = makeError(ErrorCode::kCorrupt,
                       "field '" + std::string(name) + "' is not " + std::string(expected));
  }

  const json& obj_;
  std::optional<Error> error_;
};

struct TypeEntry {
  int schema;
  Result<EventData> (*decode)(const json& data);
};

template <class T>
Result<EventData> decodeAs(const json& data) {
  T event;
  DecodeVisitor v(data);
  event.visit(v);
  if (v.error()) {
    Error e = *v.error();
    e.message = std::string(T::kType) + ": " + e.message;
    return e;
  }
  return EventData(std::move(event));
}

template <std::size_t... I>
std::unordered_map<std::string_view, TypeEntry> makeTypeTable(std::index_sequence<I...>) {
  return {{std::variant_alternative_t<I, EventData>::kType,
           TypeEntry{std::variant_alternative_t<I, EventData>::kSchema,
                     &decodeAs<std::variant_alternative_t<I, EventData>>}}...};
}

const std::unordered_map<std::string_view, TypeEntry>& typeTable() {
  static const auto table =
      makeTypeTable(std::make_index_sequence<std::variant_size_v<EventData>>{});
  return table;
}

// Reads one string member of the envelope; an Error when it is absent or not text.
const std::string* stringMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

Result<EventEnvelope> envelopeFrom(const json& doc) {
  if (!doc.is_object()) return makeError(ErrorCode::kCorrupt, "stored event is not a JSON object");
  EventEnvelope env;
  auto pos = doc.find("position");
  auto ver = doc.find("version");
  auto schema = doc.find("schema");
  if (pos == doc.end() || !pos->is_number_unsigned() || ver == doc.end() ||
      !ver->is_number_unsigned() || schema == doc.end() || !schema->is_number_integer())
    return makeError(ErrorCode::kCorrupt, "stored event lacks position, version or schema");
  env.position = pos->get<std::uint64_t>();
  env.version = ver->get<std::uint64_t>();
  env.schema = schema->get<int>();
  struct {
    const char* name;
    std::string* target;
  } strings[] = {{"stream", &env.stream},       {"type", &env.type},
                 {"actor", &env.actor},         {"companyId", &env.companyId},
                 {"commandId", &env.commandId}, {"correlationId", &env.correlationId}};
  for (auto& s : strings) {
    const std::string* v = stringMember(doc, s.name);
    if (v == nullptr)
      return makeError(ErrorCode::kCorrupt,
                       std::string("stored event lacks '") + s.name + "' or it is not text");
    *s.target = *v;
  }
  const std::string* at = stringMember(doc, "occurredAt");
  std::optional<Timestamp> t;
  if (at == nullptr || !(t = parseRfc3339(*at)))
    return makeError(ErrorCode::kCorrupt, "stored event has no valid occurredAt");
  env.occurredAt = *t;
  return env;
}

json parseOrDiscard(std::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

// Opens the sealed box of personal fields and merges them into `data`; shredded
// fields become {"$shredded":true}.
Result<void> openPersonal(json& data, PersonalDataOpener& opener) {
  auto it = data.find("personal");
  if (it == data.end()) return {};
  const json& p = *it;
  if (!p.is_object() || !p.contains("key") || !p["key"].is_string() || !p.contains("fields") ||
      !p["fields"].is_array() || !p.contains("box") || !p["box"].is_string())
    return makeError(ErrorCode::kCorrupt, "the sealed personal fields are malformed");
  auto opened = opener.open(p["key"].get_ref<const std::string&>(),
                            p["box"].get_ref<const std::string&>());
  if (!opened) return opened.error();
  json fields;
  if (opened->has_value()) {
    fields = parseOrDiscard(**opened);
    if (!fields.is_object())
      return makeError(ErrorCode::kCorrupt, "the opened personal fields are not a JSON object");
  } else {
    fields = json::object();
    for (const auto& name : p["fields"]) {
      if (!name.is_string()) return makeError(ErrorCode::kCorrupt, "a personal field name is not text");
      fields[name.get<std::string>()] = json{{"$shredded", true}};
    }
  }
  data.erase(it);
  for (auto& [k, v] : fields.items()) data[k] = std::move(v);
  return {};
}

}  // namespace

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid-argument";
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kVersionConflict: return "version-conflict";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kUnknownEventType: return "unknown-event-type";
    case ErrorCode::kUnsupportedSchema: return "unsupported-schema";
    case ErrorCode::kIoError: return "io-error";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kNotPortalData: return "not-portal-data";
    case ErrorCode::kReadOnly: return "read-only";
    case ErrorCode::kCrypto: return "crypto";
  }
  return "unknown";
}

const Upcasters& Upcasters::builtIn() {
  static const Upcasters table;
  return table;
}

std::string_view eventTypeName(const EventData& data) {
  return std::visit([](const auto& e) { return std::decay_t<decltype(e)>::kType; }, data);
}

int eventSchema(const EventData& data) {
  return std::visit([](const auto& e) { return std::decay_t<decltype(e)>::kSchema; }, data);
}

const std::vector<std::string_view>& allEventTypeNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (out.push_back(std::variant_alternative_t<I, EventData>::kType), ...);
    }(std::make_index_sequence<std::variant_size_v<EventData>>{});
    return out;
  }();
  return names;
}

Result<void> encodeEvent(const EnvelopeView& env, const EventData& data,
                         PersonalDataSealer& sealer, std::string& out) {
  JsonWriter w(out);
  w.beginObject();
  w.key("position");
  w.number(env.position);
  w.key("stream");
  w.string(env.stream);
  w.key("version");
  w.number(env.version);
  w.key("type");
  w.string(eventTypeName(data));
  w.key("schema");
  w.number(static_cast<std::int64_t>(eventSchema(data)));
  w.key("occurredAt");
  w.string(formatRfc3339(env.occurredAt));
  w.key("actor");
  w.string(env.actor);
  w.key("companyId");
  w.string(env.companyId);
  w.key("commandId");
  w.string(env.commandId);
  w.key("correlationId");
  w.string(env.correlationId);
  w.key("data");
  if (auto r = encodeData(data, sealer, w); !r) return r;
  w.endObject();
  if (!w.valid()) return makeError(ErrorCode::kInvalidArgument, "a text field is not valid UTF-8");
  return {};
}

Result<EventEnvelope> decodeEnvelope(std::string_view text) {
  json doc = parseOrDiscard(text);
  if (doc.is_discarded()) return makeError(ErrorCode::kCorrupt, "stored event is not valid JSON");
  return envelopeFrom(doc);
}

Result<RecordedEvent> decodeEvent(std::string_view text, PersonalDataOpener& opener,
                                  const Upcasters* upcasters) {
  json doc = parseOrDiscard(text);
  if (doc.is_discarded()) return makeError(ErrorCode::kCorrupt, "stored event is not valid JSON");
  auto env = envelopeFrom(doc);
  if (!env) return env.error();
  const auto& table = typeTable();
  auto entry = table.find(env->type);
  if (entry == table.end())
    return makeError(ErrorCode::kUnknownEventType,
                     "event " + std::to_string(env->position) + " has unknown type '" +
                         env->type + "'");
  auto dataIt = doc.find("data");
  if (dataIt == doc.end() || !dataIt->is_object())
    return makeError(ErrorCode::kCorrupt, "event " + std::to_string(env->position) + " has no data object");
  json& data = *dataIt;
  if (auto r = openPersonal(data, opener); !r) return r.error();

  const Upcasters& ups = upcasters != nullptr ? *upcasters : Upcasters::builtIn();
  if (env->schema > entry->second.schema || env->schema < 0)
    return makeError(ErrorCode::kUnsupportedSchema,
                     env->type + " schema " + std::to_string(env->schema) +
                         " is newer than this program knows (" +
                         std::to_string(entry->second.schema) + ")");
  while (env->schema < entry->second.schema) {
    const Upcasters::Upcaster* up = ups.find(env->type, env->schema);
    if (up == nullptr)
      return makeError(ErrorCode::kUnsupportedSchema,
                       "no upcaster for " + env->type + " schema " + std::to_string(env->schema));
    if (auto r = (*up)(data); !r) return r.error();
    ++env->schema;
  }
  auto decoded = entry->second.decode(data);
  if (!decoded) {
    Error e = decoded.error();
    e.message = "event " + std::to_string(env->position) + ": " + e.message;
    return e;
  }
  return RecordedEvent{std::move(*env), std::move(*decoded)};
}

std::optional<std::string_view> peekEventType(std::string_view json) {
  constexpr std::string_view kKey = ",\"type\":\"";
  const auto at = json.substr(0, 512).find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + kKey.size();
  const auto end = json.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return json.substr(start, end - start);
}

std::string dataToJson(const EventData& data) {
  std::string out;
  JsonWriter w(out);
  std::visit(
      [&](const auto& e) {
        w.beginObject();
        EncodeVisitor v(w, w, nullptr);
        e.visit(v);
        w.endObject();
      },
      data);
  return out;
}

}  // namespace portal
