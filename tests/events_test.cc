// The event types and their stored form: every type survives a round trip, personal
// fields are sealed, bad stored bytes give typed errors, old schemas are upcast.

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "events/codec.h"
#include "events/event.h"
#include "events/json_reader.h"
#include "events/json_writer.h"
#include "events/text.h"
#include "events/timestamp.h"
#include "events/upcasters.h"

namespace portal {
namespace {

// A reversible stand-in for the key vault, for the codec alone: "sealed:" + the
// plaintext in hexadecimal. The store's tests use the real vault.
class ReversingSealer : public PersonalDataSealer, public PersonalDataOpener {
 public:
  bool shredded = false;                  // every key gone
  std::vector<std::string> gone;          // these subjects' keys gone
  std::vector<std::string> subjects;
  Result<std::string> seal(std::string_view subject, std::string_view plain) override {
    subjects.emplace_back(subject);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "sealed:";
    for (unsigned char c : plain) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
    return out;
  }
  Result<std::optional<std::string>> open(std::string_view subject, std::string_view box) override {
    if (shredded || std::find(gone.begin(), gone.end(), subject) != gone.end())
      return std::optional<std::string>();
    if (box.substr(0, 7) != "sealed:") return makeError(ErrorCode::kCorrupt, "not sealed here");
    box.remove_prefix(7);
    std::string plain;
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (std::size_t i = 0; i + 1 < box.size(); i += 2)
      plain.push_back(static_cast<char>(nibble(box[i]) << 4 | nibble(box[i + 1])));
    return std::optional<std::string>(plain);
  }
};

// Fills every field of an event with a distinct value (all optionals present), or
// only the required ones.
class Filler {
 public:
  explicit Filler(bool optionals) : optionals_(optionals) {}
  void operator()(std::string_view name, std::string& v) { v = std::string(name) + " \"value\" ü\n"; }
  void operator()(std::string_view, bool& v) { v = true; }
  void operator()(std::string_view, std::uint64_t& v) { v = 42; }
  void operator()(std::string_view name, std::vector<std::string>& v) {
    v = {std::string(name) + "-1", std::string(name) + "-2"};
  }
  void operator()(std::string_view name, Personal& v) { v = Personal("Zoë " + std::string(name)); }
  template <class T>
  void operator()(std::string_view name, std::optional<T>& v) {
    if (!optionals_) return;
    v.emplace();
    (*this)(name, *v);
  }
  template <class T>
  void operator()(std::string_view, std::vector<T>& v) {
    v.resize(2);
    for (auto& item : v) item.visit(*this);
  }

 private:
  bool optionals_;
};

EventEnvelope sampleEnvelope() {
  EventEnvelope env;
  env.position = 7;
  env.stream = "user-3f1c";
  env.version = 2;
  env.occurredAt = *parseRfc3339("2026-11-23T10:15:30.123456Z");
  env.actor = "admin-1";
  env.companyId = "company-1";
  env.commandId = "cmd-1";
  env.correlationId = "corr-1";
  return env;
}

template <class T>
void addFilled(std::vector<EventData>& out, bool optionals) {
  T e;
  Filler f(optionals);
  e.visit(f);
  out.emplace_back(std::move(e));
}

template <std::size_t... I>
std::vector<EventData> everyType(bool optionals, std::index_sequence<I...>) {
  std::vector<EventData> out;
  (addFilled<std::variant_alternative_t<I, EventData>>(out, optionals), ...);
  return out;
}

std::vector<EventData> everyType(bool optionals) {
  return everyType(optionals, std::make_index_sequence<std::variant_size_v<EventData>>{});
}

TEST(Events, DesignNamesEveryEventType) {
  const std::set<std::string_view> names(allEventTypeNames().begin(), allEventTypeNames().end());
  EXPECT_EQ(names.size(), allEventTypeNames().size()) << "type names are unique";
  for (const char* required :
       {"UserCreated", "AdminIncluded", "UserDeactivated", "ResourcesTransferred",
        "UserAnonymized", "CompanyProvisioned", "UserUpdated", "UserReactivated", "AdminRemoved",
        "OwnershipTransferred", "ResourceAssigned", "ResourceReleased", "RoleGranted",
        "RoleRevoked", "GroupCreated", "GroupRenamed", "GroupDeleted", "GroupMemberAdded",
        "GroupMemberRemoved", "UsersImported", "PasswordSet", "PasswordResetRequested",
        "PasswordResetCompleted", "LoginSucceeded", "LoginFailed", "IdentityProviderChanged"})
    EXPECT_TRUE(names.count(required)) << required;
}

TEST(Events, EveryTypeRoundTripsWithAllFieldsAndWithOnlyTheRequiredOnes) {
  for (bool optionals : {true, false}) {
    for (const EventData& data : everyType(optionals)) {
      ReversingSealer vault;
      std::string json;
      auto enc = encodeEvent(sampleEnvelope(), data, vault, json);
      ASSERT_TRUE(enc.ok()) << eventTypeName(data) << ": " << enc.error().message;
      auto back = decodeEvent(json, vault);
      ASSERT_TRUE(back.ok()) << eventTypeName(data) << ": " << back.error().message;
      EXPECT_EQ(back->data, data) << json;
      EXPECT_EQ(back->envelope.type, eventTypeName(data));
      EXPECT_EQ(back->envelope.schema, eventSchema(data));
      EXPECT_EQ(back->envelope.stream, "user-3f1c");
      EXPECT_EQ(back->envelope.position, 7u);
      EXPECT_EQ(back->envelope.version, 2u);
      EXPECT_EQ(formatRfc3339(back->envelope.occurredAt), "2026-11-23T10:15:30.123456Z");
      EXPECT_EQ(back->envelope.actor, "admin-1");
      EXPECT_EQ(back->envelope.companyId, "company-1");
      EXPECT_EQ(back->envelope.commandId, "cmd-1");
      EXPECT_EQ(back->envelope.correlationId, "corr-1");
    }
  }
}

TEST(Events, TheTypeOfAStoredEventCanBeSeenWithoutParsingIt) {
  ReversingSealer vault;
  for (const EventData& data : everyType(true)) {
    std::string json;
    ASSERT_TRUE(encodeEvent(sampleEnvelope(), data, vault, json).ok());
    EXPECT_EQ(peekEventType(json), eventTypeName(data));
  }
  EXPECT_EQ(peekEventType("{}"), std::nullopt);
}

// Ada, user u-1, with `email`.
UserCreated ada(std::string email) {
  UserCreated e;
  e.userId = "u-1";
  e.email = std::move(email);
  e.givenName = "Ada";
  e.surname = "Lovelace";
  e.jobTitle = "Analyst";
  return e;
}

TEST(Events, PersonalFieldsAreStoredOnlySealedUnderTheirSubject) {
  UserCreated e = ada("ada.lovelace@example.org");
  e.country = "GB";
  ReversingSealer vault;
  std::string json;
  ASSERT_TRUE(encodeEvent(sampleEnvelope(), e, vault, json).ok());
  EXPECT_EQ(json.find("ada.lovelace"), std::string::npos);
  EXPECT_EQ(json.find("Lovelace"), std::string::npos);
  EXPECT_NE(json.find("\"country\":\"GB\""), std::string::npos) << "non-personal stays readable";
  EXPECT_EQ(vault.subjects, std::vector<std::string>{"u-1"});
}

TEST(Events, ShreddedPersonalFieldsReadAsAnonymizedAndTheReadGoesOn) {
  UserCreated e = ada("ada@example.org");
  e.managerEmail = Personal("boss@example.org");
  ReversingSealer vault;
  std::string json;
  ASSERT_TRUE(encodeEvent(sampleEnvelope(), e, vault, json).ok());
  vault.shredded = true;
  auto back = decodeEvent(json, vault);
  ASSERT_TRUE(back.ok()) << back.error().message;
  const auto& u = std::get<UserCreated>(back->data);
  EXPECT_EQ(u.userId, "u-1");
  EXPECT_TRUE(u.email.shredded);
  EXPECT_EQ(u.email.value, "anonymized");
  EXPECT_EQ(u.surname.value, "anonymized");
  ASSERT_TRUE(u.managerEmail.has_value());
  EXPECT_TRUE(u.managerEmail->shredded);
  EXPECT_FALSE(u.country.has_value());
  EXPECT_NE(dataToJson(back->data).find("\"email\":\"anonymized\""), std::string::npos);
}

// A manager's email kept as given is the manager's data: sealed under the key it
// names, then with the report's fields, so that it goes with either key.
TEST(Events, SomeoneElsesDataIsSealedUnderTheirKeyToo) {
  UserCreated e = ada("ada@example.org");
  e.managerEmail = Personal("boss@example.org", "address-7");
  ReversingSealer vault;
  std::string json;
  ASSERT_TRUE(encodeEvent(sampleEnvelope(), e, vault, json).ok());
  EXPECT_EQ(vault.subjects, (std::vector<std::string>{"address-7", "u-1"}));
  EXPECT_EQ(json.find("address-7"), std::string::npos) << "inside the report's box: " << json;

  auto both = decodeEvent(json, vault);
  ASSERT_TRUE(both.ok()) << both.error().message;
  const auto& read = std::get<UserCreated>(both->data);
  ASSERT_TRUE(read.managerEmail.has_value());
  EXPECT_EQ(*read.managerEmail, Personal("boss@example.org", "address-7"));
  EXPECT_NE(dataToJson(both->data).find("\"managerEmail\":\"boss@example.org\""), std::string::npos);

  vault.gone = {"address-7"};  // the manager anonymized: the report reads on
  auto withoutManager = decodeEvent(json, vault);
  ASSERT_TRUE(withoutManager.ok()) << withoutManager.error().message;
  const auto& report = std::get<UserCreated>(withoutManager->data);
  EXPECT_EQ(report.email.value, "ada@example.org");
  EXPECT_TRUE(report.managerEmail->shredded);
  EXPECT_EQ(report.managerEmail->value, "anonymized");

  vault.gone = {"u-1"};  // the report anonymized: who their manager was goes too
  auto withoutReport = decodeEvent(json, vault);
  ASSERT_TRUE(withoutReport.ok()) << withoutReport.error().message;
  EXPECT_TRUE(std::get<UserCreated>(withoutReport->data).email.shredded);
  EXPECT_TRUE(std::get<UserCreated>(withoutReport->data).managerEmail->shredded);
}

TEST(Events, PersonalDataWithoutASubjectIsRefused) {
  LoginFailed e;
  e.reason = "bad-credentials";
  e.clientAddress = Personal("203.0.113.9");
  ReversingSealer vault;
  std::string json;
  auto r = encodeEvent(sampleEnvelope(), e, vault, json);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(Events, InvalidUtf8IsRefusedOnEncode) {
  GroupCreated e;
  e.groupId = "g-1";
  e.name = std::string("bad \xC3\x28 text");
  ReversingSealer vault;
  std::string json;
  auto r = encodeEvent(sampleEnvelope(), e, vault, json);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(Events, Utf8ValidationFollowsTheStandard) {
  EXPECT_TRUE(isValidUtf8("plain ascii"));
  EXPECT_TRUE(isValidUtf8("Zoë 日本 🎉"));
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xE6\x97"));          // truncated
}

TEST(Events, ControlCharactersAndQuotesSurviveEscaping) {
  GroupCreated e;
  e.groupId = "g-1";
  e.name = std::string("tab\there \"quoted\" back\\slash \x01 nul:") + std::string(1, '\0');
  ReversingSealer vault;
  std::string json;
  ASSERT_TRUE(encodeEvent(sampleEnvelope(), e, vault, json).ok());
  auto back = decodeEvent(json, vault);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(std::get<GroupCreated>(back->data).name, e.name);
}

struct BadBytesCase {
  const char* name;
  std::string json;
  ErrorCode expected;
};

std::string storedWith(std::string_view search, std::string_view replace) {
  GroupCreated e;
  e.groupId = "g-1";
  e.name = "Engineering";
  ReversingSealer vault;
  std::string json;
  (void)encodeEvent(sampleEnvelope(), e, vault, json);
  const auto at = json.find(search);
  if (at == std::string::npos) return json;
  return json.replace(at, search.size(), replace);
}

TEST(Events, MalformedStoredBytesGiveTypedErrorsNeverACrash) {
  const std::vector<BadBytesCase> cases = {
      {"empty", "", ErrorCode::kCorrupt},
      {"not json", "\x01\x02garbage", ErrorCode::kCorrupt},
      {"truncated", storedWith("}}", ""), ErrorCode::kCorrupt},
      {"an array", "[1,2,3]", ErrorCode::kCorrupt},
      {"unknown type", storedWith("\"GroupCreated\"", "\"GroupExploded\""),
       ErrorCode::kUnknownEventType},
      {"newer schema", storedWith("\"schema\":1", "\"schema\":9"), ErrorCode::kUnsupportedSchema},
      {"field of wrong type", storedWith("\"name\":\"Engineering\"", "\"name\":17"),
       ErrorCode::kCorrupt},
      {"field missing", storedWith(",\"name\":\"Engineering\"", ""), ErrorCode::kCorrupt},
      {"bad time", storedWith("2026-11-23T", "2026-13-23T"), ErrorCode::kCorrupt},
      {"no data", storedWith("\"data\":", "\"atad\":"), ErrorCode::kCorrupt},
  };
  for (const auto& c : cases) {
    ReversingSealer vault;
    auto r = decodeEvent(c.json, vault);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().code, c.expected) << c.name << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(Events, OlderSchemasAreUpcastThroughTheTable) {
  // A made-up schema 0 of GroupCreated called the name "title".
  Upcasters ups;
  ups.add("GroupCreated", 0, [](nlohmann::json& data) -> Result<void> {
    data["name"] = data["title"];
    data.erase("title");
    return {};
  });
  const std::string old = storedWith("\"schema\":1", "\"schema\":0");
  const std::string oldWithTitle =
      old.substr(0, old.find("\"name\"")) + "\"title\"" + old.substr(old.find("\"name\"") + 6);
  ReversingSealer vault;
  auto r = decodeEvent(oldWithTitle, vault, &ups);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::get<GroupCreated>(r->data).name, "Engineering");
  EXPECT_EQ(r->envelope.schema, 1);

  auto noPath = decodeEvent(oldWithTitle, vault);
  ASSERT_FALSE(noPath.ok());
  EXPECT_EQ(noPath.error().code, ErrorCode::kUnsupportedSchema);
}

TEST(JsonReader, ReadsStringsNumbersAndNesting) {
  auto doc = JsonDocument::parse(
      R"( {"a":"plain","b":"tab\tquote\"slash\/u\u00e9\ud83c\udf89","n":18446744073709551615,)"
      R"("m":-42,"f":1.5e3,"t":true,"z":null,"arr":[1,[2,{"x":"y"}],""],"o":{}} )");
  ASSERT_TRUE(doc.has_value());
  auto get = [&](const char* name) { return doc->node(*doc->member(doc->root(), name)); };
  EXPECT_EQ(get("a").text, "plain");
  EXPECT_EQ(get("b").text, "tab\tquote\"slash/u\u00e9\U0001F389");
  EXPECT_TRUE(get("n").isUnsigned);
  EXPECT_EQ(get("n").u, 18446744073709551615ull);
  EXPECT_FALSE(get("m").isUnsigned);
  EXPECT_EQ(get("m").i, -42);
  EXPECT_FALSE(get("f").isInteger);
  EXPECT_TRUE(get("t").boolean);
  EXPECT_EQ(get("z").kind, JsonDocument::Kind::kNull);
  const auto arr = doc->children(*doc->member(doc->root(), "arr"));
  ASSERT_EQ(arr.size(), 3u);
  const auto inner = doc->children(arr[1]);
  EXPECT_EQ(doc->node(*doc->member(inner[1], "x")).text, "y");
  EXPECT_EQ(doc->node(*doc->member(doc->root(), "o")).count, 0u);
  EXPECT_FALSE(doc->member(doc->root(), "missing").has_value());
}

// Found by fuzzing the event decoder: raw bytes that are not UTF-8 inside a string
// were read and then written on, invalid, into answers.
TEST(JsonReader, RefusesTextThatIsNotUtf8) {
  EXPECT_TRUE(JsonDocument::parse("{\"a\":\"Zo\xc3\xab\"}").has_value());
  EXPECT_FALSE(JsonDocument::parse("{\"a\":\"bad-\xff\xfe\"}").has_value());
  EXPECT_FALSE(JsonDocument::parse("{\"a\":\"cut \xc3\"}").has_value());
  EXPECT_FALSE(JsonDocument::parse("{\"a\":\"overlong \xc0\xaf\"}").has_value());
  EXPECT_FALSE(JsonDocument::parse("{\"a\":\"escaped\\n then \xed\xa0\x80\"}").has_value());
  EXPECT_FALSE(JsonDocument::parse("{\"k\xff\":1}").has_value()) << "names too";
}

TEST(JsonReader, AcceptsExactlyWhatIsWellFormed) {
  const std::vector<std::string> inputs = {
      "{}", "[]", "\"\"", "0", "-0", "1e5", "[1,2]", "{\"a\":1}", " [ ] ", "\"\\u0000\"",
      "", " ", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-",
      "1e", "tru", "nul", "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"",
      "\"\\udc00\"", "[1] [2]", "\"tab\tinside\"", "{\"a\":1,}", "[\"\\u12\"]",
      std::string(70, '[') + std::string(70, ']'), std::string(10, '[') + std::string(10, ']')};
  for (const auto& text : inputs) {
    const bool ours = JsonDocument::parse(text).has_value();
    const bool reference = !nlohmann::json::parse(text, nullptr, false).is_discarded();
    // Nesting beyond 64 levels is refused on purpose; nlohmann takes it.
    if (text.size() == 140) EXPECT_FALSE(ours);
    else EXPECT_EQ(ours, reference) << text;
  }
}

// The writer and the reader skip plain bytes eight at a time: a byte that needs
// attention stops the scan exactly where it is, at every offset within a word, and
// whatever follows it (a borrow in the word arithmetic must not hide or invent one).
// Each piece goes out with its comma in one append: the commas, colons and brackets of
// every kind of value, nested, are where JSON wants them (nlohmann reads it back).
TEST(JsonWriter, PutsCommasColonsAndBracketsWhereJsonWantsThem) {
  std::string out;
  JsonWriter w(out);
  w.beginObject();
  w.key("n");
  w.number(std::uint64_t{7});
  w.key("list");
  w.beginArray();
  w.number(std::int64_t{-3});
  w.boolean(true);
  w.boolean(false);
  w.null();
  w.raw("{\"a\":1}");
  w.string("plain");
  w.string("needs \"escapes\"\n\x01");
  w.beginObject();
  w.endObject();
  w.beginArray();
  w.endArray();
  w.endArray();
  w.key("k\"ey");
  w.string(std::string(300, 'x'));  // past the one-append buffer
  w.key("last");
  w.null();
  w.endObject();
  ASSERT_TRUE(w.valid());
  const std::string start =
      "{\"n\":7,\"list\":[-3,true,false,null,{\"a\":1},\"plain\",\"needs "
      "\\\"escapes\\\"\\n\\u0001\",{},[]],";
  EXPECT_EQ(out.substr(0, start.size()), start);
  const auto parsed = nlohmann::json::parse(out);
  EXPECT_EQ(parsed["list"].size(), 9u);
  EXPECT_EQ(parsed["k\"ey"].get<std::string>().size(), 300u);
  EXPECT_TRUE(parsed["last"].is_null());
}

// An email's key is its NFC, with ASCII letters lowered, and NFC again: "J" and a
// combining caron have no composed form, "j" and one have ("ǰ").
TEST(JsonText, AnEmailKeyIsOneWhateverTheFormAndCaseItWasTypedIn) {
  EXPECT_EQ(emailKey(" Zoe\u0308@Acme.Example "), "zo\u00eb@acme.example");
  EXPECT_EQ(emailKey("J\u030c@acme.example"), emailKey("\u01f0@acme.example"));
  EXPECT_EQ(emailKey("j\u030c@acme.example"), emailKey("J\u030C@ACME.example"));
  const std::string once = emailKey("W\u030a@acme.example");
  EXPECT_EQ(emailKey(once), once);
}

// A domain is compared as DNS compares it, in any script: `MÜLLER.test` and its ACE
// form `xn--mller-kva.test` are `müller.test`. A local part's letters past ASCII keep
// their case (its mail system decides), and `ß` is not `ss` (IDNA2008 tells them
// apart).
TEST(JsonText, AnEmailsDomainIsComparedAsDnsComparesIt) {
  const std::string key = emailKey("info@m\u00fcller.test");
  EXPECT_EQ(key, "info@m\u00fcller.test");
  EXPECT_EQ(emailKey("Info@M\u00dcLLER.TEST"), key);
  EXPECT_EQ(emailKey("info@XN--MLLER-KVA.test"), key);
  EXPECT_EQ(emailKey("Info@Mail.xn--mller-kva.TEST"), "info@mail.m\u00fcller.test");
  EXPECT_EQ(emailKey(" Info@Mail.Example-xn--.TEST "), "info@mail.example-xn--.test");
  EXPECT_EQ(emailKey("info@mu\u0308ller.test"), key);
  EXPECT_NE(emailKey("\u00c4nne@m\u00fcller.test"), emailKey("\u00e4nne@m\u00fcller.test"));
  EXPECT_NE(emailKey("a@stra\u00dfe.test"), emailKey("a@strasse.test"));
  EXPECT_EQ(emailKey("a@STRA\u00dfE.test"), emailKey("a@stra\u00dfe.test"));
  // ASCII addresses stay as they were keyed; a local part with "xn--" is no label.
  EXPECT_EQ(emailKey("Xn--A@Acme.Test"), "xn--a@acme.test");
  EXPECT_EQ(emailKey(key), key);
}

// asciiLower goes eight bytes a step: each byte, at each place in the word and in
// the tail, against the plain rule; isAscii alike.
TEST(JsonText, AsciiLowerChangesOnlyTheLettersAToZWhereverTheyStand) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const char lower = b >= 'A' && b <= 'Z' ? static_cast<char>(b + 32) : c;
    for (std::size_t at = 0; at < 19; ++at) {
      std::string s = "Mixed-Case.Text@EX";
      s.insert(at, 1, c);
      std::string expected;
      for (char x : s) expected += x >= 'A' && x <= 'Z' ? static_cast<char>(x + 32) : x;
      EXPECT_EQ(asciiLower(s), expected) << "byte " << b << " at " << at;
      EXPECT_EQ(asciiLower(s)[at], lower);
      EXPECT_EQ(isAscii(s), b < 0x80) << "byte " << b << " at " << at;
    }
  }
}

TEST(JsonText, PlainPrefixStopsAtTheFirstByteThatNeedsAttention) {
  const std::string specials[] = {"\"", "\\", std::string(1, '\0'), "\x1f", "\n", "\x7f", "\x80",
                                  "\xc3\xa9", "\xff", " "};
  for (const std::string& special : specials) {
    for (std::size_t at = 0; at < 20; ++at) {
      for (const std::string& after : {std::string("abc"), std::string(1, '\0'), std::string("\"\\")}) {
        std::string s(at, 'x');
        s += special + after + std::string(9, 'y');
        std::size_t expected = 0;
        while (expected < s.size()) {
          const auto b = static_cast<unsigned char>(s[expected]);
          if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
          ++expected;
        }
        ASSERT_EQ(plainJsonPrefix(s), expected) << "special " << int(special[0]) << " at " << at;

        std::string json;
        JsonWriter w(json);
        w.string(s);
        auto doc = JsonDocument::parse(json);
        const bool utf8 = isValidUtf8(s);
        ASSERT_EQ(w.valid(), utf8);
        if (!utf8) continue;
        ASSERT_TRUE(doc.has_value()) << json;
        EXPECT_EQ(doc->node(doc->root()).text, s);
      }
    }
  }
  EXPECT_EQ(plainJsonPrefix(""), 0u);
  EXPECT_EQ(plainJsonPrefix(std::string(64, 'a')), 64u);
}

TEST(Timestamps, FormatAndParseRoundTrip) {
  for (const char* text : {"1970-01-01T00:00:00.000000Z", "2026-11-23T10:15:30.123456Z",
                           "2000-02-29T23:59:59.999999Z", "1969-12-31T23:59:59.500000Z"}) {
    auto t = parseRfc3339(text);
    ASSERT_TRUE(t.has_value()) << text;
    EXPECT_EQ(formatRfc3339(*t), text);
  }
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2026-11-23T12:15:30+02:00")),
            "2026-11-23T10:15:30.000000Z");
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2026-11-23")), "2026-11-23T00:00:00.000000Z");
  for (const char* bad : {"", "2026-02-30T00:00:00Z", "2026-11-23T25:00:00Z", "yesterday",
                          "2026-11-23T10:15:30", "2026-11-23T10:15:30.Z",
                          // A leap second only ends a UTC day.
                          "2026-11-23T10:15:60Z", "2016-12-31T23:59:60+01:00"})
    EXPECT_FALSE(parseRfc3339(bad).has_value()) << bad;
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2016-12-31T23:59:60Z")), "2017-01-01T00:00:00.000000Z");
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2017-01-01T00:59:60+01:00")),
            "2017-01-01T00:00:00.000000Z");
}

// Past the microsecond a time is truncated, except where a range starts: there it
// rounds up, so that "since 10:00:00.0000005" leaves out an event at 10:00:00.
TEST(Timestamps, DigitsPastTheMicrosecondRoundARangesStartUp) {
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2026-11-23T10:00:00.0000005Z")),
            "2026-11-23T10:00:00.000000Z");
  EXPECT_EQ(formatRfc3339(*parseRangeStart("2026-11-23T10:00:00.0000005Z")),
            "2026-11-23T10:00:00.000001Z");
  EXPECT_EQ(formatRfc3339(*parseRangeStart("2026-11-23T10:00:00.999999000Z")),
            "2026-11-23T10:00:00.999999Z")
      << "zeros past it are no later time";
  EXPECT_EQ(formatRfc3339(*parseRangeStart("2026-11-23T10:00:00.9999991Z")),
            "2026-11-23T10:00:01.000000Z");
  EXPECT_EQ(formatRfc3339(*parseRangeEnd("2026-11-23T10:00:00.0000005Z")),
            "2026-11-23T10:00:00.000000Z");
}

}  // namespace
}  // namespace portal
