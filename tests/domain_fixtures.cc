#include "tests/domain_fixtures.h"

#include <stdexcept>

namespace portal::test {

const CountryList& testCountries() {
  static const CountryList list(
      {{"DE", "Germany", {"Federal Republic of Germany", "DEU"}, {}},
       {"FR", "France", {"French Republic", "FRA"}, {}},
       {"BO", "Bolivia", {"Bolivia, Plurinational State of", "BOL"}, {}}});
  return list;
}

NewUserDetails World::details(const std::string& name) {
  NewUserDetails d;
  d.email = name + "@acme.test";
  d.givenName = "Given" + name;
  d.surname = "Surname" + name;
  d.jobTitle = "Engineer";
  d.managerEmail = "manager@elsewhere.test";
  d.country = "DE";
  return d;
}

World::World() {
  ProvisionCompany p;
  p.slug = "acme";
  p.name = "Acme Corp";
  p.owner = details("owner");
  p.temporaryPasswordHash = "$argon2id$fake";
  auto out = runIn("", "system", p);
  const auto& d = std::get<Decision>(out);
  companyId = d.companyId;
  names_["owner"] = d.ids.at(0);
}

std::string World::actorId(const std::string& actor) const {
  if (actor == "system") return std::string(kSystem);
  auto it = names_.find(actor);
  return it == names_.end() ? actor : it->second;
}

Outcome World::run(const std::string& actor, CommandBody body) {
  return runIn(companyId, actor, std::move(body));
}

Outcome World::runIn(const std::string& company, const std::string& actor, CommandBody body) {
  Command cmd{company, actorId(actor), std::move(body)};
  DecisionContext ctx{now, ids, testCountries()};
  Outcome out = decide(model, cmd, ctx);
  if (auto* d = std::get_if<Decision>(&out)) {
    for (const auto& e : d->events) {
      EventEnvelope env;
      env.stream = e.stream;
      env.companyId = d->companyId;
      env.actor = cmd.actor;
      env.occurredAt = now;
      model.apply(env, e.data);
    }
  }
  return out;
}

std::string World::create(const std::string& name, bool admin, bool active) {
  auto out = run("owner", CreateUser{details(name), false});
  if (!std::holds_alternative<Decision>(out))
    throw std::runtime_error("cannot create " + name + ": " + std::get<Rejection>(out).code);
  const std::string id = std::get<Decision>(out).id;
  names_[name] = id;
  if (admin) run("owner", IncludeAdmin{id});
  if (!active) run("owner", DeactivateUser{id, std::nullopt});
  return id;
}

std::vector<std::string> typesOf(const Outcome& outcome) {
  std::vector<std::string> types;
  if (const auto* d = std::get_if<Decision>(&outcome))
    for (const auto& e : d->events) types.emplace_back(eventTypeName(e.data));
  return types;
}

std::string codeOf(const Outcome& outcome) {
  if (const auto* r = std::get_if<Rejection>(&outcome)) return r->code;
  return "";
}

}  // namespace portal::test
