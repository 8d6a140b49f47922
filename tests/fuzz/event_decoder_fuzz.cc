// The stored-event decoder: any bytes, read as if they came from the log.

#include <nlohmann/json.hpp>
#include <string>

#include "events/codec.h"
#include "tests/fuzz/fuzz_targets.h"

namespace portal::fuzz {
namespace {

// Personal boxes hold their plaintext as it is, so that the fuzzer reaches the
// decoding of the personal fields too: "shredded" reads as a shredded key, an empty
// box as a damaged one.
class PlainBoxes final : public PersonalDataSealer, public PersonalDataOpener {
 public:
  Result<std::string> seal(std::string_view, std::string_view plaintext) override {
    return std::string(plaintext);
  }
  Result<std::optional<std::string>> open(std::string_view, std::string_view box) override {
    if (box == "shredded") return std::optional<std::string>();
    if (box.empty()) return makeError(ErrorCode::kCorrupt, "an empty box");
    return std::optional<std::string>(std::string(box));
  }
};

bool sameEnvelope(const EventEnvelope& a, const EventEnvelope& b) {
  return a.position == b.position && a.stream == b.stream && a.version == b.version &&
         a.type == b.type && a.schema == b.schema && a.occurredAt.micros == b.occurredAt.micros &&
         a.actor == b.actor && a.companyId == b.companyId && a.commandId == b.commandId &&
         a.correlationId == b.correlationId;
}

}  // namespace

int eventDecoder(const std::uint8_t* data, std::size_t size) {
  const std::string_view stored(reinterpret_cast<const char*>(data), size);
  PlainBoxes boxes;
  (void)peekEventType(stored);
  auto decoded = decodeEvent(stored, boxes);
  if (!decoded) return 0;
  check(decoded->envelope.type == eventTypeName(decoded->data), "type and data disagree");
  const std::string shown = dataToJson(decoded->data);
  check(!nlohmann::json::parse(shown, nullptr, false).is_discarded(),
        "dataToJson wrote invalid JSON");

  // What was read is written again and read back the same.
  std::string again;
  if (!encodeEvent(decoded->envelope, decoded->data, boxes, again)) return 0;
  auto redecoded = decodeEvent(again, boxes);
  check(static_cast<bool>(redecoded), "a decoded event does not decode after encoding");
  check(sameEnvelope(decoded->envelope, redecoded->envelope), "the envelope changed");
  check(dataToJson(redecoded->data) == shown, "the data changed");
  return 0;
}

}  // namespace portal::fuzz
