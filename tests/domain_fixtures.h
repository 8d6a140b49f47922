#pragma once
// A small world for decider tests: a write model fed only by the deciders'
// accepted events, sequential ids and a fixed clock.

#include <map>
#include <string>
#include <vector>

#include "src/domain/decider.h"

namespace portal::test {

class SequentialIds final : public IdSource {
 public:
  std::string newId() override { return "id-" + std::to_string(++n_); }

 private:
  int n_ = 0;
};

// A few countries, enough for the rules.
const CountryList& testCountries();

class World {
 public:
  World();  // provisions "acme" with its owner "owner"

  // Decides as `actor` (a name given to create/provision, or "system"); applies
  // the events when accepted.
  Outcome run(const std::string& actor, CommandBody body);
  // Same, for a company other than acme.
  Outcome runIn(const std::string& companyId, const std::string& actor, CommandBody body);

  // Creates a user named `name` (email name@acme.test), optionally an administrator,
  // optionally deactivated; returns the id.
  std::string create(const std::string& name, bool admin = false, bool active = true);
  std::string id(const std::string& name) const { return names_.at(name); }

  static NewUserDetails details(const std::string& name);

  WriteModel model;
  SequentialIds ids;
  Timestamp now{1'795'000'000'000'000};
  std::string companyId;
  std::map<std::string, std::string> names_;

 private:
  std::string actorId(const std::string& actor) const;
};

// The type names of a decision's events, in order.
std::vector<std::string> typesOf(const Outcome& outcome);
// The rejection code, or "" when accepted.
std::string codeOf(const Outcome& outcome);

}  // namespace portal::test
