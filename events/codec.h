#pragma once
// The stored form of an event: one JSON object holding the envelope (without the
// hashes, which the store keeps beside it) and the data, with the personal fields
// sealed together under the key of the person they describe:
//
//   {"position":7,"stream":"user-…","version":1,"type":"UserCreated","schema":1,
//    "occurredAt":"2026-11-23T10:15:30.123456Z","actor":"…","companyId":"…",
//    "commandId":"…","correlationId":"…",
//    "data":{"userId":"…","active":true,…,
//            "personal":{"key":"<subject>","fields":["email",…],"box":"<sealed>"}}}
//
// A personal field that describes someone else (Personal::sealedFor: a manager's
// email kept as given) is sealed alone under that person's key, and that box goes
// among the event's other personal fields, "managerEmail":{"key":…,"box":…}: it
// opens only while both keys live.
//
// Thread-safe: these functions keep no state; the sealer and opener are the
// caller's and are used only during the call.

#include <optional>
#include <string>
#include <string_view>

#include "events/event.h"
#include "events/personal.h"
#include "events/result.h"

namespace portal {

class Upcasters;  // events/upcasters.h

// The envelope fields that encoding reads, as views: the write path encodes from
// the caller's strings without copying them into an EventEnvelope first.
struct EnvelopeView {
  std::uint64_t position = 0;
  std::string_view stream;
  std::uint64_t version = 0;
  Timestamp occurredAt;
  std::string_view actor;
  std::string_view companyId;
  std::string_view commandId;
  std::string_view correlationId;

  static EnvelopeView of(const EventEnvelope& e) {
    return {e.position, e.stream, e.version, e.occurredAt, e.actor, e.companyId, e.commandId,
            e.correlationId};
  }
};

// Appends the stored JSON of (envelope, data) to `out`. Fails with kInvalidArgument
// when a text field is not valid UTF-8, or when the event has personal fields but no
// subject to seal them for; with the sealer's error when sealing fails.
Result<void> encodeEvent(const EnvelopeView& envelope, const EventData& data,
                         PersonalDataSealer& sealer, std::string& out);
inline Result<void> encodeEvent(const EventEnvelope& envelope, const EventData& data,
                                PersonalDataSealer& sealer, std::string& out) {
  return encodeEvent(EnvelopeView::of(envelope), data, sealer, out);
}

// Decodes stored JSON, opening personal fields with `opener` (shredded ones read as
// Personal::Shredded()) and upgrading older schemas with `upcasters` (the built-in
// table when null). Never throws: malformed text is kCorrupt, an unknown type
// kUnknownEventType, a schema with no upcaster path kUnsupportedSchema.
Result<RecordedEvent> decodeEvent(std::string_view json, PersonalDataOpener& opener,
                                  const Upcasters* upcasters = nullptr);

// What a reader of the log would refuse in a stored event's envelope, its hash
// holding: it is not a whole envelope, names another position than `position`
// (where it is stored), a type this program does not know or a newer schema of it,
// or has no data object; nullopt when none. For verify, which opens no personal
// field and decodes no data: an envelope rewritten with the hashes recomputed is
// caught here, as the server's start catches it (a review: verify said ok of a log
// the server refused). Cheap for an envelope as the writer writes it.
std::optional<std::string> envelopeProblem(std::string_view json, std::uint64_t position);

// The type of a stored event without parsing it (the writer puts "type" among the
// first fields); nullopt when it cannot be seen that way.
std::optional<std::string_view> peekEventType(std::string_view json);
// The company of a stored event, alike.
std::optional<std::string_view> peekCompanyId(std::string_view json);

// The data of an event as JSON text with personal fields in the clear (or as
// "anonymized"): what the audit views and the replay tool show. The hashes of
// secrets (passwordHash, sessionHash, tokenHash) are left out.
std::string dataToJson(const EventData& data);

// A whole event as one JSON object, as GET /api/v1/events and portal-replay show it:
// position, stream, version, type, schema, occurredAt, actor, companyId, commandId,
// correlationId, then data as dataToJson() writes it.
std::string eventToJson(const RecordedEvent& event);

}  // namespace portal
