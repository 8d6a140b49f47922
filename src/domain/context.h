#pragma once
// What a decider is given besides the state and the command: the time, a source of
// new ids, and the catalogues. Passed in, so that tests fix them and replay gives
// the same answer.

#include <string>

#include "events/timestamp.h"
#include "src/domain/countries.h"

namespace portal {

// New identifiers (UUID strings). Not thread-safe unless the implementation says so.
class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string newId() = 0;
};

// The current time. Thread-safe implementations only.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() = 0;
};

struct DecisionContext {
  Timestamp now;
  IdSource& ids;
  const CountryList& countries;
};

}  // namespace portal
