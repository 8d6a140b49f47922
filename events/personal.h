#pragma once
// Personal data inside events. A Personal field is stored only sealed under the
// data key of the person the event is about (its personalSubject()); someone
// else's data in the event (a manager's email kept as given) is sealed under the
// key it names first, then with the rest. Once a key it is sealed under is
// shredded the field reads as the "anonymized" marker and the read goes on.

#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"

namespace portal {

inline constexpr std::string_view kAnonymizedMarker = "anonymized";

struct Personal {
  std::string value;      // the plaintext, or kAnonymizedMarker when shredded
  bool shredded = false;  // true when the person's key is gone
  // The subject whose key seals this field when it is not the event's subject's
  // data; empty: sealed with the event's other personal fields.
  std::string sealedFor;

  Personal() = default;
  Personal(std::string v) : value(std::move(v)) {}  // NOLINT(implicit)
  Personal(const char* v) : value(v) {}              // NOLINT(implicit)
  Personal(std::string v, std::string subject) : value(std::move(v)), sealedFor(std::move(subject)) {}
  static Personal Shredded(std::string subject = {}) {
    Personal p{std::string(kAnonymizedMarker), std::move(subject)};
    p.shredded = true;
    return p;
  }
  bool operator==(const Personal&) const = default;
};

// Seals the personal fields of one event, as one JSON text, under the key of the
// person `subject`; returns printable text to store. The implementation (the key
// vault in src/store) creates the person's key on first use.
class PersonalDataSealer {
 public:
  virtual ~PersonalDataSealer() = default;
  virtual Result<std::string> seal(std::string_view subject, std::string_view plaintext) = 0;
};

// Opens what a PersonalDataSealer sealed. nullopt when the subject's key has been
// shredded; an Error when the sealed text is damaged or the key does not fit.
class PersonalDataOpener {
 public:
  virtual ~PersonalDataOpener() = default;
  virtual Result<std::optional<std::string>> open(std::string_view subject,
                                                  std::string_view sealed) = 0;
};

}  // namespace portal
