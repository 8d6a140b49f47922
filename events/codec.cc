#include "events/codec.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "events/json_reader.h"
#include "events/json_writer.h"
#include "events/upcasters.h"

namespace portal {
namespace {

using nlohmann::json;

template <class T>
concept HasFields = requires(T& t, int& v) { T::visitFields(t, v); };

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
    if (!v.sealedFor.empty() && sealer_ != nullptr) return sealAlone(name, v);
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
  // Set when a field sealed alone could not be sealed.
  const std::optional<Error>& error() const { return error_; }
  // When set, a field that names its own subject is sealed alone, under that key.
  void sealAloneWith(PersonalDataSealer* sealer) { sealer_ = sealer; }

 private:
  // Someone else's data: a box of its own, {"key", "box"}, among the event's other
  // personal fields, so that it opens only while both keys live (the manager's
  // email goes with the manager, and the report's relations with the report).
  void sealAlone(std::string_view name, const Personal& v) {
    if (error_ || v.shredded) return;
    thread_local std::string check;
    check.clear();
    JsonWriter text(check);
    text.string(v.value);
    if (!text.valid()) {
      error_ = makeError(ErrorCode::kInvalidArgument, "a personal field is not valid UTF-8");
      return;
    }
    auto box = sealer_->seal(v.sealedFor, v.value);
    if (!box) {
      error_ = box.error();
      return;
    }
    personal_.key(name);
    personal_.beginObject();
    personal_.key("key");
    personal_.string(v.sealedFor);
    personal_.key("box");
    personal_.string(*box);
    personal_.endObject();
    if (names_ != nullptr) names_->push_back(name);
  }

  JsonWriter& clear_;
  JsonWriter& personal_;
  std::vector<std::string_view>* names_;
  PersonalDataSealer* sealer_ = nullptr;
  bool shreddedWrite_ = false;
  std::optional<Error> error_;
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
        v.sealAloneWith(&sealer);
        e.visit(v);
        personal.endObject();
        if (v.shreddedWrite())
          return makeError(ErrorCode::kInvalidArgument,
                           "an anonymized personal field cannot be stored again");
        if (v.error()) return *v.error();
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

// Reads an event's fields from its data object and, for the personal ones, from the
// opened box (a second document) or the list of shredded names.
class DecodeVisitor {
 public:
  DecodeVisitor(const JsonDocument& doc, JsonDocument::Ref obj, const JsonDocument* personal,
                const std::vector<std::string_view>* shredded, PersonalDataOpener* opener)
      : doc_(doc), obj_(obj), personal_(personal), shredded_(shredded), opener_(opener) {}

  void operator()(std::string_view name, std::string& v) {
    if (const Found f = require(name)) {
      if (f.node->kind == JsonDocument::Kind::kString) v = f.node->text;
      else wrongType(name, "a string");
    }
  }
  void operator()(std::string_view name, bool& v) {
    if (const Found f = require(name)) {
      if (f.node->kind == JsonDocument::Kind::kBool) v = f.node->boolean;
      else wrongType(name, "true or false");
    }
  }
  void operator()(std::string_view name, std::uint64_t& v) {
    if (const Found f = require(name)) {
      if (f.node->kind == JsonDocument::Kind::kNumber && f.node->isUnsigned) v = f.node->u;
      else wrongType(name, "a non-negative integer");
    }
  }
  void operator()(std::string_view name, std::vector<std::string>& v) {
    if (const Found f = require(name)) {
      if (f.node->kind != JsonDocument::Kind::kArray) return wrongType(name, "an array");
      v.clear();
      for (auto c : f.doc->children(f.ref)) {
        const auto& item = f.doc->node(c);
        if (item.kind != JsonDocument::Kind::kString) return wrongType(name, "an array of strings");
        v.emplace_back(item.text);
      }
    }
  }
  void operator()(std::string_view name, Personal& v) {
    if (isShredded(name)) {
      v = Personal::Shredded();
      return;
    }
    if (const Found f = require(name)) {
      if (f.node->kind == JsonDocument::Kind::kString) v = Personal(std::string(f.node->text));
      else if (f.node->kind == JsonDocument::Kind::kObject && f.doc->member(f.ref, "$shredded"))
        v = Personal::Shredded();
      else if (f.node->kind == JsonDocument::Kind::kObject && f.doc->member(f.ref, "box"))
        openAlone(name, f, v);
      else wrongType(name, "a string");
    }
  }
  template <class T>
  void operator()(std::string_view name, std::optional<T>& v) {
    const Found f = find(name);
    if (!isShredded(name) && (!f || f.node->kind == JsonDocument::Kind::kNull)) {
      v.reset();
      return;
    }
    v.emplace();
    (*this)(name, *v);
  }
  template <HasFields T>
  void operator()(std::string_view name, std::vector<T>& v) {
    const Found f = require(name);
    if (!f) return;
    if (f.node->kind != JsonDocument::Kind::kArray) return wrongType(name, "an array");
    v.clear();
    for (auto c : f.doc->children(f.ref)) {
      if (f.doc->node(c).kind != JsonDocument::Kind::kObject)
        return wrongType(name, "an array of objects");
      DecodeVisitor nested(*f.doc, c, nullptr, nullptr, opener_);
      v.emplace_back().visit(nested);
      if (nested.error_) {
        error_ = nested.error_;
        return;
      }
    }
  }

  const std::optional<Error>& error() const { return error_; }

 private:
  struct Found {
    const JsonDocument* doc = nullptr;
    JsonDocument::Ref ref = 0;
    const JsonDocument::Node* node = nullptr;
    explicit operator bool() const { return node != nullptr; }
  };

  Found find(std::string_view name) const {
    if (personal_ != nullptr)
      if (auto r = personal_->member(personal_->root(), name))
        return {personal_, *r, &personal_->node(*r)};
    if (auto r = doc_.member(obj_, name)) return {&doc_, *r, &doc_.node(*r)};
    return {};
  }
  // A field sealed alone under someone else's key (see EncodeVisitor::sealAlone).
  void openAlone(std::string_view name, const Found& f, Personal& v) {
    const auto key = f.doc->member(f.ref, "key");
    const auto box = f.doc->member(f.ref, "box");
    if (!key || f.doc->node(*key).kind != JsonDocument::Kind::kString ||
        f.doc->node(*box).kind != JsonDocument::Kind::kString || opener_ == nullptr)
      return wrongType(name, "a sealed box");
    const std::string subject(f.doc->node(*key).text);
    auto opened = opener_->open(subject, f.doc->node(*box).text);
    if (!opened) {
      error_ = opened.error();
      return;
    }
    v = *opened ? Personal(std::move(**opened), subject) : Personal::Shredded(subject);
  }
  bool isShredded(std::string_view name) const {
    return shredded_ != nullptr &&
           std::find(shredded_->begin(), shredded_->end(), name) != shredded_->end();
  }
  Found require(std::string_view name) {
    if (error_) return {};
    const Found f = find(name);
    if (!f)
      error_ = makeError(ErrorCode::kCorrupt, "field '" + std::string(name) + "' is missing");
    return f;
  }
  void wrongType(std::string_view name, std::string_view expected) {
    error_ = makeError(ErrorCode::kCorrupt,
                       "field '" + std::string(name) + "' is not " + std::string(expected));
  }

  const JsonDocument& doc_;
  JsonDocument::Ref obj_;
  const JsonDocument* personal_;
  const std::vector<std::string_view>* shredded_;
  PersonalDataOpener* opener_;
  std::optional<Error> error_;
};

struct TypeEntry {
  int schema;
  Result<EventData> (*decode)(DecodeVisitor& fields);
};

template <class T>
Result<EventData> decodeAs(DecodeVisitor& fields) {
  T event;
  event.visit(fields);
  if (fields.error()) {
    Error e = *fields.error();
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

Result<EventEnvelope> envelopeFrom(const JsonDocument& doc) {
  const auto root = doc.root();
  if (doc.node(root).kind != JsonDocument::Kind::kObject)
    return makeError(ErrorCode::kCorrupt, "stored event is not a JSON object");
  EventEnvelope env;
  auto number = [&](const char* name) -> const JsonDocument::Node* {
    auto r = doc.member(root, name);
    return r ? &doc.node(*r) : nullptr;
  };
  const auto* pos = number("position");
  const auto* ver = number("version");
  const auto* schema = number("schema");
  if (pos == nullptr || !pos->isUnsigned || ver == nullptr || !ver->isUnsigned ||
      schema == nullptr || !schema->isInteger || schema->i > INT32_MAX || schema->i < INT32_MIN)
    return makeError(ErrorCode::kCorrupt, "stored event lacks position, version or schema");
  env.position = pos->u;
  env.version = ver->u;
  env.schema = static_cast<int>(schema->i);
  struct {
    const char* name;
    std::string* target;
  } strings[] = {{"stream", &env.stream},       {"type", &env.type},
                 {"actor", &env.actor},         {"companyId", &env.companyId},
                 {"commandId", &env.commandId}, {"correlationId", &env.correlationId}};
  for (auto& s : strings) {
    auto r = doc.member(root, s.name);
    if (!r || doc.node(*r).kind != JsonDocument::Kind::kString)
      return makeError(ErrorCode::kCorrupt,
                       std::string("stored event lacks '") + s.name + "' or it is not text");
    *s.target = doc.node(*r).text;
  }
  auto at = doc.member(root, "occurredAt");
  std::optional<Timestamp> t;
  if (!at || doc.node(*at).kind != JsonDocument::Kind::kString ||
      !(t = parseRfc3339(doc.node(*at).text)))
    return makeError(ErrorCode::kCorrupt, "stored event has no valid occurredAt");
  env.occurredAt = *t;
  return env;
}

json parseOrDiscard(std::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

// The sealed box of an event's data: its key, field names and sealed text.
struct Box {
  std::string_view key, sealed;
  std::vector<std::string_view> fields;
};

Result<std::optional<Box>> boxOf(const JsonDocument& doc, JsonDocument::Ref data) {
  auto p = doc.member(data, "personal");
  if (!p) return std::optional<Box>();
  auto key = doc.member(*p, "key");
  auto fields = doc.member(*p, "fields");
  auto box = doc.member(*p, "box");
  if (!key || !fields || !box || doc.node(*key).kind != JsonDocument::Kind::kString ||
      doc.node(*fields).kind != JsonDocument::Kind::kArray ||
      doc.node(*box).kind != JsonDocument::Kind::kString)
    return makeError(ErrorCode::kCorrupt, "the sealed personal fields are malformed");
  Box b{doc.node(*key).text, doc.node(*box).text, {}};
  for (auto f : doc.children(*fields)) {
    if (doc.node(f).kind != JsonDocument::Kind::kString)
      return makeError(ErrorCode::kCorrupt, "a personal field name is not text");
    b.fields.push_back(doc.node(f).text);
  }
  return std::optional<Box>(std::move(b));
}

// The slow path, for an event stored under an older schema: the data as one
// nlohmann object with the personal fields merged in (shredded ones as
// {"$shredded":true}), upgraded by the upcasters, written out again as text.
Result<std::string> upcastData(std::string_view text, const std::optional<Box>& box,
                               const std::optional<std::string>& opened, const std::string& type,
                               int fromSchema, int toSchema, const Upcasters& ups) {
  json full = parseOrDiscard(text);
  // (A fuzzed record: operator[] on what is no object throws.)
  if (!full.is_object() || !full.contains("data") || !full["data"].is_object())
    return makeError(ErrorCode::kCorrupt, "the stored event's data is not a JSON object");
  json& d = full["data"];
  d.erase("personal");
  if (box) {
    if (opened) {
      json fields = parseOrDiscard(*opened);
      if (!fields.is_object())
        return makeError(ErrorCode::kCorrupt, "the opened personal fields are not a JSON object");
      for (auto& [k, v] : fields.items()) d[k] = std::move(v);
    } else {
      for (auto name : box->fields) d[std::string(name)] = json{{"$shredded", true}};
    }
  }
  for (int schema = fromSchema; schema < toSchema; ++schema) {
    const Upcasters::Upcaster* up = ups.find(type, schema);
    if (up == nullptr)
      return makeError(ErrorCode::kUnsupportedSchema,
                       "no upcaster for " + type + " schema " + std::to_string(schema));
    if (auto r = (*up)(d); !r) return r.error();
  }
  return d.dump();
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
    case ErrorCode::kUnavailable:
      return "unavailable";
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

bool isEventTypeName(std::string_view name) {
  const auto& names = allEventTypeNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string eventTypeNameList() {
  std::string known;
  for (std::string_view t : allEventTypeNames()) known += (known.empty() ? "" : ", ") + std::string(t);
  return known;
}

namespace {

// The envelope's members in stored order, up to and including the key "data".
void writeEnvelope(JsonWriter& w, const EnvelopeView& env, std::string_view type, int schema) {
  w.key("position");
  w.number(env.position);
  w.key("stream");
  w.string(env.stream);
  w.key("version");
  w.number(env.version);
  w.key("type");
  w.string(type);
  w.key("schema");
  w.number(static_cast<std::int64_t>(schema));
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
}

}  // namespace

Result<void> encodeEvent(const EnvelopeView& env, const EventData& data,
                         PersonalDataSealer& sealer, std::string& out) {
  JsonWriter w(out);
  w.beginObject();
  writeEnvelope(w, env, eventTypeName(data), eventSchema(data));
  if (auto r = encodeData(data, sealer, w); !r) return r;
  w.endObject();
  if (!w.valid()) return makeError(ErrorCode::kInvalidArgument, "a text field is not valid UTF-8");
  return {};
}

Result<RecordedEvent> decodeEvent(std::string_view text, PersonalDataOpener& opener,
                                  const Upcasters* upcasters) {
  auto doc = JsonDocument::parse(text);
  if (!doc) return makeError(ErrorCode::kCorrupt, "stored event is not valid JSON");
  auto env = envelopeFrom(*doc);
  if (!env) return env.error();
  const auto& table = typeTable();
  auto entry = table.find(env->type);
  if (entry == table.end())
    return makeError(ErrorCode::kUnknownEventType,
                     "event " + std::to_string(env->position) + " has unknown type '" +
                         env->type + "'");
  auto data = doc->member(doc->root(), "data");
  if (!data || doc->node(*data).kind != JsonDocument::Kind::kObject)
    return makeError(ErrorCode::kCorrupt,
                     "event " + std::to_string(env->position) + " has no data object");
  if (env->schema > entry->second.schema || env->schema < 0)
    return makeError(ErrorCode::kUnsupportedSchema,
                     env->type + " schema " + std::to_string(env->schema) +
                         " is newer than this program knows (" +
                         std::to_string(entry->second.schema) + ")");

  auto box = boxOf(*doc, *data);
  if (!box) return box.error();
  std::optional<std::string> opened;
  if (*box) {
    auto o = opener.open((*box)->key, (*box)->sealed);
    if (!o) return o.error();
    opened = std::move(*o);
  }

  Result<EventData> decoded = makeError(ErrorCode::kCorrupt, "not decoded");
  if (env->schema == entry->second.schema) {
    std::optional<JsonDocument> personal;
    if (opened) {
      personal = JsonDocument::parse(*opened);
      if (!personal || personal->node(personal->root()).kind != JsonDocument::Kind::kObject)
        return makeError(ErrorCode::kCorrupt, "the opened personal fields are not a JSON object");
    }
    const bool shredded = *box && !opened;
    DecodeVisitor fields(*doc, *data, personal ? &*personal : nullptr,
                         shredded ? &(*box)->fields : nullptr, &opener);
    decoded = entry->second.decode(fields);
  } else {
    const Upcasters& ups = upcasters != nullptr ? *upcasters : Upcasters::builtIn();
    auto upgraded = upcastData(text, *box, opened, env->type, env->schema,
                               entry->second.schema, ups);
    if (!upgraded) return upgraded.error();
    auto upDoc = JsonDocument::parse(*upgraded);
    if (!upDoc) return makeError(ErrorCode::kCorrupt, "an upcaster wrote invalid JSON");
    DecodeVisitor fields(*upDoc, upDoc->root(), nullptr, nullptr, &opener);
    decoded = entry->second.decode(fields);
    env->schema = entry->second.schema;
  }
  if (!decoded) {
    Error e = decoded.error();
    e.message = "event " + std::to_string(env->position) + ": " + e.message;
    return e;
  }
  return RecordedEvent{std::move(*env), std::move(*decoded)};
}

namespace {

// A text member of the envelope, which the writer puts before the data; `key` is
// `,"name":"`. (Values are JSON strings, whose quotes are escaped: the key cannot
// appear inside an earlier one.)
std::optional<std::string_view> peekEnvelopeText(std::string_view json, std::string_view key) {
  const auto at = json.substr(0, 512).find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + key.size();
  const auto end = json.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return json.substr(start, end - start);
}

}  // namespace

std::optional<std::string> envelopeProblem(std::string_view json, std::uint64_t position) {
  // As the writer writes it: the position first, then the type and its schema, and
  // the data object after the envelope's short fields.
  const std::string head = "{\"position\":" + std::to_string(position) + ",";
  if (json.starts_with(head))
    if (auto type = peekEventType(json))
      if (auto entry = typeTable().find(*type); entry != typeTable().end()) {
        const std::string_view start = json.substr(0, 1024);
        const std::string schema = ",\"schema\":" + std::to_string(entry->second.schema) + ",";
        if (start.find(schema) != std::string_view::npos &&
            start.find(",\"data\":{") != std::string_view::npos)
          return std::nullopt;
      }
  // Otherwise as the reader reads it.
  auto doc = JsonDocument::parse(json);
  if (!doc) return "it is not valid JSON";
  auto env = envelopeFrom(*doc);
  if (!env) return env.error().message;
  if (env->position != position) return "it says it is event " + std::to_string(env->position);
  auto entry = typeTable().find(env->type);
  if (entry == typeTable().end())
    return "its type '" + env->type +
           "' is none this program knows (written by hand, or by a newer program)";
  if (env->schema > entry->second.schema || env->schema < 0)
    return "its schema " + std::to_string(env->schema) + " of " + env->type +
           " is none this program knows (it knows " + std::to_string(entry->second.schema) +
           " and older)";
  auto data = doc->member(doc->root(), "data");
  if (!data || doc->node(*data).kind != JsonDocument::Kind::kObject) return "it has no data object";
  return std::nullopt;
}

std::optional<std::string_view> peekEventType(std::string_view json) {
  return peekEnvelopeText(json, ",\"type\":\"");
}

std::optional<std::string_view> peekCompanyId(std::string_view json) {
  return peekEnvelopeText(json, ",\"companyId\":\"");
}

namespace {

// Passes every field on to the encoder but the secrets' hashes: nobody reading the
// audit trail needs them, and a password hash can be attacked offline. An id or a
// time left empty (a reset asked for an address that is no user records none) is
// shown as null: API.md's ids are UUIDs and its times RFC 3339, and "" is neither.
class WithoutSecrets {
 public:
  WithoutSecrets(EncodeVisitor& inner, JsonWriter& w) : inner_(inner), w_(w) {}
  template <class T>
  void operator()(std::string_view name, const T& value) {
    if (name == "passwordHash" || name == "sessionHash" || name == "tokenHash" ||
        name == "replacesHash")
      return;
    if constexpr (std::is_same_v<T, std::string>) {
      if (value.empty() && (name.ends_with("Id") || name.ends_with("At"))) {
        w_.key(name);
        w_.null();
        return;
      }
    }
    inner_(name, value);
  }

 private:
  EncodeVisitor& inner_;
  JsonWriter& w_;
};

}  // namespace

std::string dataToJson(const EventData& data) {
  std::string out;
  JsonWriter w(out);
  std::visit(
      [&](const auto& e) {
        w.beginObject();
        EncodeVisitor v(w, w, nullptr);
        WithoutSecrets filtered(v, w);
        e.visit(filtered);
        w.endObject();
      },
      data);
  return out;
}

std::string eventToJson(const RecordedEvent& event) {
  std::string out;
  JsonWriter w(out);
  w.beginObject();
  writeEnvelope(w, EnvelopeView::of(event.envelope), event.envelope.type, event.envelope.schema);
  w.raw(dataToJson(event.data));
  w.endObject();
  return out;
}

}  // namespace portal
