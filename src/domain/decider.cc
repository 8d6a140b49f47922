#include "src/domain/decider.h"

#include <algorithm>
#include <unordered_map>

#include "events/json_writer.h"
#include "events/string_map.h"
#include "events/text.h"
#include "src/domain/email.h"
#include "src/domain/services.h"
#include "src/domain/user_details.h"

namespace portal {
namespace {

// A permission the user holds already: the same service, and the same name in any
// case ("Read all", "read all"), as people type it.
bool samePermission(const ResourceState& held, std::string_view service, std::string_view name) {
  return held.kind == "permission" && held.service == service &&
         nameKey(held.name) == nameKey(name);
}

constexpr std::size_t kMaxDescriptionLength = 2000;

// A description as given, without the spaces around it; one left blank is none.
std::optional<std::string> trimmedDescription(const std::optional<std::string>& given) {
  if (!given) return std::nullopt;
  const std::string_view t = trimText(*given);
  if (t.empty()) return std::nullopt;
  return std::string(t);
}

// Lines of text: tabs and line breaks are fine, other control characters not.
void checkDescription(std::vector<FieldProblem>& problems,
                      const std::optional<std::string>& description) {
  if (!description) return;
  if (auto p = textProblem(*description, kMaxDescriptionLength, true))
    problems.push_back({"description", *p});
}

// --- rejections -------------------------------------------------------------

Rejection invalid(std::vector<FieldProblem> problems) {
  return {RejectionKind::kInvalid, "validation-failed", kValidationDetail, std::move(problems), {}};
}
Rejection invalidField(std::string field, std::string message) {
  return invalid({{std::move(field), std::move(message)}});
}
Rejection conflict(std::string code, std::string message) {
  return {RejectionKind::kConflict, std::move(code), std::move(message), {}, {}};
}
// A refusal about one field of the request: in `errors` too, so that a form marks
// that field (a review of the API for a web front end: a taken email or group name
// came without one).
Rejection onField(Rejection r, std::string field, std::string message) {
  r.problems.push_back({std::move(field), std::move(message)});
  return r;
}
// A refusal (422) of its own code, about one field of the request.
Rejection refusedOn(std::string field, std::string message, std::string code, std::string detail) {
  return {RejectionKind::kInvalid,
          std::move(code),
          std::move(detail),
          {{std::move(field), std::move(message)}},
          {}};
}
// A patched name or job title's problem, judged as new: null or blank removes a
// mandatory field.
std::optional<std::string> patchedTextProblem(const std::optional<std::string>& patch) {
  const std::string_view value = patch ? trimText(*patch) : std::string_view();
  if (blankText(value)) return "is required and cannot be removed";
  return textProblem(value, kMaxTextLength);
}
Rejection forbidden(std::string message) {
  return {RejectionKind::kForbidden, "forbidden", std::move(message), {}, {}};
}
// If-Match (or a form's version) that names another version than the one now.
std::optional<Rejection> versionMismatch(const std::optional<std::uint64_t>& expected,
                                         std::uint64_t version, const std::string& what) {
  if (!expected || *expected == version) return std::nullopt;
  return Rejection{
      RejectionKind::kPreconditionFailed,
      "version-mismatch",
      // Naming the version now, not the one the client read (which it said as
      // "changed since it was read (version 1)" of a group still at 1: a review).
      "The " + what + " is at version " + std::to_string(version) +
          " now, not at the version this request names (If-Match, or the form's version): "
          "read it again and send the ETag it shows.",
      {},
      {}};
}

// --- who may do what --------------------------------------------------------

enum class Who { kSystem, kAdmin, kOwner, kSelfOrSystem };
constexpr std::string_view kOwnerOnly = "Only the company's owner may do this.";

std::optional<Rejection> authorize(const WriteModel& state, const Command& cmd, Who who,
                                   std::string_view target = {}) {
  if (cmd.actor == kSystem) return std::nullopt;
  if (who == Who::kSystem) return forbidden("Only the system may do this.");
  const UserState* actor = state.user(cmd.companyId, cmd.actor);
  if (actor == nullptr || !actor->active || actor->anonymized)
    return forbidden("The acting user is not an active user of this company.");
  switch (who) {
    case Who::kAdmin:
      if (!actor->admin) return forbidden("Only an administrator may do this.");
      break;
    case Who::kOwner: {
      const CompanyState* c = state.company(cmd.companyId);
      if (c == nullptr || c->ownerId != cmd.actor) return forbidden(std::string(kOwnerOnly));
      break;
    }
    case Who::kSelfOrSystem:
      if (cmd.actor != target) return forbidden("Only the user themself may do this.");
      break;
    case Who::kSystem:
      break;
  }
  return std::nullopt;
}

UserCreated userCreated(const std::string& id, const ValidDetails& v, bool notify) {
  UserCreated e;
  e.userId = id;
  e.email = v.email;
  e.givenName = v.givenName;
  e.surname = v.surname;
  e.jobTitle = v.jobTitle;
  e.country = v.country;
  e.active = v.active;
  e.notify = notify;
  return e;
}

// --- the deciders ------------------------------------------------------------

class Decider {
 public:
  Decider(const WriteModel& state, const Command& cmd, DecisionContext& ctx)
      : state_(state), cmd_(cmd), ctx_(ctx) {
    decision_.companyId = cmd.companyId;
  }

  Outcome operator()(const ProvisionCompany& c) {
    if (auto r = authorize(state_, cmd_, Who::kSystem)) return *r;
    std::vector<FieldProblem> problems;
    const std::string slug(trim(c.slug));
    if (slug.size() < 2 || slug.size() > 63 ||
        !std::all_of(slug.begin(), slug.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
        }) ||
        slug.front() == '-' || slug.back() == '-')
      problems.push_back({"company",
                          "must be 2 to 63 lower-case letters, digits or hyphens, not beginning "
                          "or ending with a hyphen"});
    const std::string name(trimText(c.name));
    requireText(problems, "", "name", name);
    std::vector<std::string> services = c.services.empty() ? defaultServices() : c.services;
    for (std::size_t i = 0; i < services.size(); ++i) {
      const std::string& s = services[i];
      if (findService(s) == nullptr)
        problems.push_back({"services", "'" + s + "' is not a service this portal offers"});
      else if (std::find(services.begin(), services.begin() + static_cast<std::ptrdiff_t>(i), s) !=
               services.begin() + static_cast<std::ptrdiff_t>(i))
        problems.push_back({"services", "'" + s + "' is named twice"});
    }
    ValidDetails owner;
    auto ownerProblems = validateDetails(c.owner, ctx_.countries, owner, "owner.");
    problems.insert(problems.end(), ownerProblems.begin(), ownerProblems.end());
    if (c.temporaryPasswordHash.empty())
      problems.push_back({"owner.password", "a temporary password is required"});
    if (!problems.empty()) return invalid(std::move(problems));
    if (state_.companyBySlug(slug) != nullptr)
      return conflict("company-exists", "A company with the slug '" + slug + "' exists already.");

    const std::string companyId = ctx_.ids.newId();
    const std::string ownerId = ctx_.ids.newId();
    decision_.companyId = companyId;
    decision_.id = companyId;
    decision_.ids = {ownerId};
    add(companyStream(companyId),
        CompanyProvisioned{companyId, slug, name, services, ownerId});
    UserCreated created = userCreated(ownerId, owner, /*notify=*/false);
    setManager(owner.managerEmail, {{emailKey(owner.email), ownerId}}, created.managerUserId,
               created.managerEmail);
    add(userStream(ownerId), std::move(created));
    add(userStream(ownerId), AdminIncluded{ownerId, std::string(kSystem)});
    add(userStream(ownerId), PasswordSet{ownerId, Personal(c.temporaryPasswordHash), true, "provisioned"});
    return std::move(decision_);
  }

  Outcome operator()(const CreateUser& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    ValidDetails v;
    auto problems = validateDetails(c.details, ctx_.countries, v);
    if (!problems.empty()) {
      // A valid email already taken is said with the other problems, as an import's
      // row has it, so that fixing them does not only then reveal it (a review).
      if (std::none_of(problems.begin(), problems.end(),
                       [](const FieldProblem& p) { return p.field == "email"; }))
        if (const UserState* taken = state_.userByEmail(cmd_.companyId, v.email))
          problems.push_back({"email", alreadyInPool(taken->active, "creating")});
      return invalid(std::move(problems));
    }
    if (const UserState* taken = state_.userByEmail(cmd_.companyId, v.email))
      // One deactivated is someone coming back (a review: nothing said where to look).
      return onField(
          conflict("email-taken",
                   taken->active
                       ? std::string("A user with this email is already in the pool.")
                       : "A user with this email is already in the pool, deactivated (" +
                             taken->id + "): reactivate them instead of creating them again."),
          "email", alreadyInPool(taken->active, "creating"));
    const std::string id = ctx_.ids.newId();
    UserCreated e = userCreated(id, v, c.notify);
    // Their own manager: a reference to themself, as an import or provisioning makes.
    setManager(v.managerEmail, {{emailKey(v.email), id}}, e.managerUserId, e.managerEmail);
    add(userStream(id), std::move(e));
    linkReports(*state_.company(cmd_.companyId), v.email, id);
    decision_.id = id;
    return std::move(decision_);
  }

  Outcome operator()(const UpdateUser& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    if (u == nullptr) return notInCompany("User", c.userId);
    // First: an anonymized user sent back as read has a null email, which is no
    // change of email but the state of the user (a review got email-immutable).
    if (u->anonymized) return conflict("user-anonymized", "An anonymized user cannot change.");
    // A changed email is refused with every other field's problem (a review found it
    // hid them), under its own code.
    const bool emailChanged = c.email && emailKey(*c.email) != emailKey(u->email);
    if (!emailChanged)
      if (auto r = versionMismatch(c.expectedVersion, u->version, "user")) return *r;
    std::vector<FieldProblem> problems;
    if (emailChanged) problems.push_back({"email", "cannot be changed"});
    UserUpdated e;
    e.userId = c.userId;
    // A field sent with the value it has is no change (a form sends the user back
    // whole): only what differs goes into the event.
    auto text = [&](const char* field, const std::optional<std::optional<std::string>>& patch,
                    std::optional<Personal>& target, DetailField detail) {
      if (!patch) return;
      const std::string value = patch->has_value() ? std::string(trimText(**patch)) : std::string();
      // (A value kept from an older log, whose rules were not today's, is not judged
      // again when sent back unchanged.)
      if (!value.empty() && detailDigest(value) == u->detailDigests[detail]) return;
      if (auto p = patchedTextProblem(*patch))
        problems.push_back({field, *p});
      else
        target = Personal(value);
    };
    text("givenName", c.givenName, e.givenName, kGivenNameDetail);
    text("surname", c.surname, e.surname, kSurnameDetail);
    text("jobTitle", c.jobTitle, e.jobTitle, kJobTitleDetail);
    if (c.managerEmail) {
      const std::string m = c.managerEmail->has_value() ? std::string(trim(**c.managerEmail)) : "";
      // (As for the names: a manager kept from an older log, whose rules were not
      // today's, is not judged again when sent back unchanged.)
      const bool unchanged = !m.empty() && managerDigestOf(m) == u->detailDigests[kManagerDetail];
      if (!unchanged) {
        if (auto p = emailProblem(m))
          problems.push_back({"managerEmail", *p});
        else
          setManager(m, {}, e.managerUserId, e.managerEmail);
      }
      // Setting the manager one way clears the other way only when the user has it
      // that way now (a review: an outside manager replaced by another outside
      // manager read "cleared: managerUserId" in the audit trail).
      const bool heldAsEmail = !u->managerCopy().empty();
      const bool heldAsUser = !heldAsEmail && u->detailDigests[kManagerDetail] != 0;
      if (e.managerUserId && heldAsEmail)
        e.cleared.push_back("managerEmail");
      else if (e.managerEmail && heldAsUser)
        e.cleared.push_back("managerUserId");
    }
    if (c.country) {
      if (!c.country->has_value() || trimText(**c.country).empty()) {
        if (!u->country.empty()) e.cleared.push_back("country");
      } else if (auto code = ctx_.countries.find(**c.country)) {
        if (*code != u->country) e.country = *code;
      } else {
        problems.push_back({"country", ctx_.countries.problemWith(**c.country)});
      }
    }
    if (emailChanged)
      return Rejection{RejectionKind::kInvalid,
                       "email-immutable",
                       "A user's email cannot change.",
                       std::move(problems),
                       {}};
    if (!problems.empty()) return invalid(std::move(problems));
    decision_.id = c.userId;
    if (e.givenName || e.surname || e.jobTitle || e.managerUserId || e.managerEmail || e.country ||
        !e.cleared.empty())
      add(userStream(c.userId), std::move(e));
    return std::move(decision_);
  }

  Outcome operator()(const DeactivateUser& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    if (c.userId.empty()) return invalid({{"userId", "is required"}});
    const CompanyState& company = *state_.company(cmd_.companyId);
    const UserState* u = nullptr;
    if (auto r = userAtVersion(c.userId, c.expectedVersion, u)) return *r;
    if (company.ownerId == c.userId)
      return conflict("owner-cannot-be-deactivated",
                      "The owner cannot be deactivated; transfer ownership first.");
    if (c.userId == cmd_.actor)
      return conflict("cannot-deactivate-self", "Administrators cannot deactivate themselves.");
    // Deactivation takes an administrator's rights away, which only the owner may do
    // (DELETE /admins): another administrator deactivating and reactivating them
    // would remove them without being the owner.
    if (u->admin)
      if (auto r = authorize(state_, cmd_, Who::kOwner)) {
        // The same administrator deactivates other users: "do this" puzzled (a review).
        if (r->message == kOwnerOnly)
          r->message =
              "Only the company's owner may deactivate an administrator: ask the owner to, or "
              "to remove their administrator rights (DELETE /api/v1/admins/{userId}) first.";
        return *r;
      }
    if (!u->active) return conflict("already-inactive", "The user is already deactivated.");

    std::vector<const ResourceState*> owned;
    if (auto it = company.resourcesByOwner.find(c.userId); it != company.resourcesByOwner.end())
      for (const auto& id : it->second) owned.push_back(&company.resources.at(id));

    // A recipient that cannot take anything (a mistyped id, the user themself) is
    // refused also when there is nothing to hand over.
    const UserState* to = c.transferTo ? state_.user(cmd_.companyId, *c.transferTo) : nullptr;
    std::string whole;  // a reason that refuses every resource
    if (c.transferTo) {
      if (to == nullptr && c.transferTo->find('@') != std::string::npos)
        whole = std::string("the recipient is given as ") + kEmailNotId;
      else if (to == nullptr)
        whole = "the recipient is not a user of this company";
      else if (to->id == c.userId) whole = "the recipient is the user being deactivated";
      else if (to->anonymized) whole = "the recipient is anonymized";
      else if (!to->active) whole = "the recipient is not active";
    }
    if (owned.empty() && !whole.empty())
      return refusedOn("transferTo", whole, "transfer-refused",
                       "The recipient cannot take the user's resources.");

    ResourcesTransferred transfer;
    if (!owned.empty()) {
      if (!c.transferTo) {
        Rejection r = conflict("resources-must-be-transferred",
                               "The user owns resources; name a recipient to transfer them to.");
        // On `transferTo`, the field to fill in, each with the resource it is about
        // (a form shows them where the recipient is picked; a review found resource ids
        // as fields).
        for (const auto* res : owned) {
          r.ids.push_back(res->id);
          r.problems.push_back(
              {"transferTo",
               resourceInWords(res->kind, res->name, res->service) + " needs a recipient",
               res->id});
        }
        return r;
      }
      // A recipient who can take nothing: said on `transferTo` (the field to put
      // right), then for each resource, as API.md has a reason for each.
      Rejection refused{RejectionKind::kInvalid,
                        "transfer-refused",
                        whole.empty() ? "The recipient cannot take some of the resources."
                                      : "The recipient cannot take the user's resources.",
                        {},
                        {}};
      if (!whole.empty()) refused.problems.push_back({"transferTo", whole});
      for (const auto* res : owned) {
        std::string reason = whole;
        if (reason.empty()) {
          if (res->kind == "subscription" && !to->admin) {
            reason = "a subscription goes only to an administrator";
          } else if ((res->kind == "project" || res->kind == "model") &&
                     std::none_of(to->roles.begin(), to->roles.end(),
                                  [&](const auto& r) { return r.first == res->service; })) {
            reason = "the recipient has no role in " + res->service;
          }
        }
        if (!reason.empty()) {
          refused.problems.push_back(
              {"transferTo", resourceInWords(res->kind, res->name, res->service) + ": " + reason,
               res->id});
          refused.ids.push_back(res->id);
          continue;
        }
        TransferredResource t{res->id, res->kind, std::nullopt};
        if (res->kind == "permission") {
          if (auto it = company.resourcesByOwner.find(*c.transferTo);
              it != company.resourcesByOwner.end())
            for (const auto& theirs : it->second) {
              if (const ResourceState& held = company.resources.at(theirs);
                  samePermission(held, res->service, res->name))
                t.mergedInto = held.id;
            }
        }
        decision_.transferred.push_back(
            {res->id, res->kind, res->service, res->name, *c.transferTo, t.mergedInto});
        transfer.resources.push_back(std::move(t));
      }
      if (!refused.problems.empty()) return refused;
      transfer.fromUserId = c.userId;
      transfer.toUserId = *c.transferTo;
      add(userStream(c.userId), std::move(transfer));
    }
    if (u->admin) add(userStream(c.userId), AdminRemoved{c.userId, "deactivated"});
    add(userStream(c.userId), UserDeactivated{c.userId, owned.empty() ? std::nullopt : c.transferTo});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const ReactivateUser& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const UserState* u = nullptr;
    if (auto r = userAtVersion(c.userId, c.expectedVersion, u)) return *r;
    if (u->anonymized) return conflict("user-anonymized", "An anonymized user cannot come back.");
    if (u->active) return conflict("already-active", "The user is active.");
    add(userStream(c.userId), UserReactivated{c.userId});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const AnonymizeUser& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const UserState* u = nullptr;
    if (auto r = userAtVersion(c.userId, c.expectedVersion, u)) return *r;
    if (u->anonymized) return conflict("already-anonymized", "The user is already anonymized.");
    if (u->active)
      return conflict("must-deactivate-first", "Only a deactivated user can be anonymized.");
    // An anonymized user holds no roles (GrantRole refuses them): the ones kept
    // through the deactivation go, each recorded.
    for (const auto& [service, role] : u->roles)
      add(userStream(c.userId), RoleRevoked{c.userId, service, role});
    add(userStream(c.userId), UserAnonymized{c.userId});
    decision_.shred.push_back(c.userId);
    decision_.shred.insert(decision_.shred.end(), u->addressKeys().begin(), u->addressKeys().end());
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const IncludeAdmin& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    if (c.userId.empty()) return invalid({{"userId", "is required"}});
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    // An anonymized user is still in the pool (and inactive): 422, not 404.
    if (u == nullptr) return notInCompany("User", c.userId);
    if (u->admin) return conflict("already-admin", "The user is already an administrator.");
    // 422 as for any inactive user (API.md), with the code the other routes give.
    if (u->anonymized)
      return refusedOn("userId", "is an anonymized user", "user-anonymized",
                       "An anonymized user cannot become an administrator.");
    if (!u->active)
      return refusedOn("userId", "is not an active user", "user-inactive",
                       "Only an active user can become an administrator.");
    add(userStream(c.userId), AdminIncluded{c.userId, cmd_.actor});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const RemoveAdmin& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kOwner)) return *r;
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    if (u == nullptr) return notInCompany("User", c.userId);
    if (!u->admin)
      return Rejection{RejectionKind::kNotFound,
                       "not-found",
                       "User " + c.userId + " is not an administrator.",
                       {},
                       {}};
    if (state_.company(cmd_.companyId)->ownerId == c.userId)
      return conflict("owner-cannot-be-removed", "The owner is always an administrator.");
    add(userStream(c.userId), AdminRemoved{c.userId, "removed"});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const TransferOwnership& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kOwner)) return *r;
    if (c.userId.empty()) return invalid({{"userId", "is required"}});
    const CompanyState& company = *state_.company(cmd_.companyId);
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    if (u == nullptr) return notInCompany("User", c.userId);
    if (company.ownerId == c.userId) return conflict("already-owner", "The user is the owner.");
    if (!u->admin || !u->active)
      return refusedOn("userId", "is not an active administrator", "not-an-active-administrator",
                       "The new owner must be an active administrator.");
    add(companyStream(cmd_.companyId), OwnershipTransferred{company.ownerId, c.userId});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const RegisterResource& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const CompanyState& company = *state_.company(cmd_.companyId);
    std::vector<FieldProblem> problems = resourceFieldProblems(c, company.services);
    const std::string name(trimText(c.name));
    const UserState* owner = state_.user(cmd_.companyId, c.ownerId);
    if (owner != nullptr && !owner->active)  // deactivated or anonymized
      problems.push_back({"ownerId", "is not an active user"});
    if (!problems.empty()) return invalid(std::move(problems));
    // An id that is no user here reads as unknown, as ids of other companies do.
    if (owner == nullptr) return notInCompany("User", c.ownerId);
    // A permission is held once (a transfer merges one into the recipient's own).
    if (c.kind == "permission")
      if (auto it = company.resourcesByOwner.find(c.ownerId); it != company.resourcesByOwner.end())
        for (const auto& theirs : it->second) {
          if (const ResourceState& held = company.resources.at(theirs); samePermission(held, c.service, name))
            return conflict("permission-held", "The user holds this permission already (" + held.id + ").");
        }
    const std::string id = ctx_.ids.newId();
    add(companyStream(cmd_.companyId), ResourceAssigned{id, c.kind, c.service, name, c.ownerId});
    decision_.id = id;
    return std::move(decision_);
  }

  Outcome operator()(const ReleaseResource& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const CompanyState& company = *state_.company(cmd_.companyId);
    auto it = company.resources.find(c.resourceId);
    if (it == company.resources.end()) return notInCompany("Resource", c.resourceId);
    if (auto r = untaggedRefusal(c.conditions, true, "resource")) return *r;
    const ResourceState& r = it->second;
    add(companyStream(cmd_.companyId),
        ResourceReleased{r.id, r.ownerId, r.kind, r.service, r.name});
    decision_.id = c.resourceId;
    return std::move(decision_);
  }

  Outcome operator()(const GrantRole& c) {
    if (auto r = roleTarget(c.userId, c.service, c.role)) return *r;
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    if (u->anonymized) return conflict("user-anonymized", "An anonymized user holds no roles.");
    const bool held = u->holdsRole(c.service, c.role);
    if (auto r = untaggedRefusal(c.conditions, held, "user's role")) return *r;
    if (!held) add(userStream(c.userId), RoleGranted{c.userId, c.service, c.role});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const RevokeRole& c) {
    if (auto r = roleTarget(c.userId, c.service, c.role)) return *r;
    const bool held = state_.user(cmd_.companyId, c.userId)->holdsRole(c.service, c.role);
    if (auto r = untaggedRefusal(c.conditions, held, "user's role")) return *r;
    if (held) add(userStream(c.userId), RoleRevoked{c.userId, c.service, c.role});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const CreateGroup& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const std::string name(trimText(c.name));
    const std::optional<std::string> description = trimmedDescription(c.description);
    if (auto problems = groupFieldProblems(c.name, c.description); !problems.empty())
      return invalid(std::move(problems));
    if (state_.company(cmd_.companyId)->groupsByName.count(groupNameKey(name)))
      return onField(conflict("group-name-taken", "A group with this name exists already."), "name",
                     "is another group's name");
    const std::string id = ctx_.ids.newId();
    add(groupStream(id), GroupCreated{id, name, description});
    decision_.id = id;
    return std::move(decision_);
  }

  Outcome operator()(const UpdateGroup& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const CompanyState& company = *state_.company(cmd_.companyId);
    const GroupState* found = nullptr;
    if (auto r = groupAtVersion(c.groupId, c.expectedVersion, found)) return *r;
    const GroupState& g = *found;
    std::string name = c.name ? std::string(trimText(*c.name)) : g.name;
    std::optional<std::string> description = c.description ? trimmedDescription(*c.description) : g.description;
    std::vector<FieldProblem> problems;
    // What is sent is checked: a name or description kept from an older log (whose
    // rules were not those of today) does not stop a change of the other.
    if (c.name && name != g.name) requireText(problems, "", "name", name);
    if (c.description && description != g.description) checkDescription(problems, description);
    if (!problems.empty()) return invalid(std::move(problems));
    // Only a new name is checked: one that folds like another group's in an older
    // log (names were folded in ASCII alone) stays the group's own.
    if (const std::string key = groupNameKey(name); key != groupNameKey(g.name))
      if (auto other = company.groupsByName.find(key);
          other != company.groupsByName.end() && other->second != c.groupId)
        return onField(conflict("group-name-taken", "A group with this name exists already."),
                       "name", "is another group's name");
    if (name != g.name || description != g.description)
      add(groupStream(c.groupId),
          GroupRenamed{c.groupId, name, description,
                       name != g.name ? std::optional<std::string>(g.name) : std::nullopt,
                       description != g.description
                           ? std::optional<std::string>(g.description.value_or(""))
                           : std::nullopt});
    decision_.id = c.groupId;
    return std::move(decision_);
  }

  Outcome operator()(const DeleteGroup& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const GroupState* g = nullptr;
    if (auto r = groupAtVersion(c.groupId, c.expectedVersion, g)) return *r;
    add(groupStream(c.groupId),
        GroupDeleted{c.groupId, g->name,
                     std::vector<std::string>(g->members.begin(), g->members.end())});
    decision_.id = c.groupId;
    return std::move(decision_);
  }

  Outcome operator()(const AddGroupMember& c) {
    return membership(c.groupId, c.userId, c.conditions, true);
  }
  Outcome operator()(const RemoveGroupMember& c) {
    return membership(c.groupId, c.userId, c.conditions, false);
  }

  Outcome operator()(const ImportUsers& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    if (c.rows.empty()) return invalidField("rows", "the file holds no users");
    decision_.events.reserve(c.rows.size() + 1);
    std::vector<FieldProblem> problems;
    std::vector<ValidDetails> rows(c.rows.size());
    StringMap<std::string> newByEmail;  // email key -> new id
    newByEmail.reserve(c.rows.size());
    std::vector<std::string> keys(c.rows.size());  // each row's email key
    std::vector<std::string> ids;
    ids.reserve(c.rows.size());
    for (std::size_t i = 0; i < c.rows.size(); ++i) {
      const std::size_t row = i < c.rowNumbers.size() ? c.rowNumbers[i] : i + 2;
      const std::string prefix = "row " + std::to_string(row) + ": ";
      auto p = validateDetails(c.rows[i], ctx_.countries, rows[i], prefix);
      problems.insert(problems.end(), p.begin(), p.end());
      const std::string& key = keys[i] = emailKey(rows[i].email);
      if (!p.empty() && std::any_of(p.begin(), p.end(), [&](const FieldProblem& f) {
            return f.field == prefix + "email";
          }))
        continue;
      if (const UserState* taken = state_.userByEmail(cmd_.companyId, key); taken != nullptr) {
        problems.push_back({prefix + "email", alreadyInPool(taken->active)});
      } else if (newByEmail.count(key)) {
        problems.push_back({prefix + "email", "appears more than once in the file"});
      } else {
        newByEmail[key] = "";
      }
    }
    if (!problems.empty()) return invalid(std::move(problems));
    decision_.id = c.importId;
    // Each row's manager, as the pool is now: the file's check read a view that may
    // be behind (a review deactivated a manager while the file was read, and the
    // import said nothing of it).
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::string manager = emailKey(rows[i].managerEmail);
      if (newByEmail.count(manager)) continue;
      const UserState* m = state_.userByEmail(cmd_.companyId, manager);
      if (m == nullptr || !m->active)
        decision_.warnings.push_back(
            {"row " + std::to_string(i < c.rowNumbers.size() ? c.rowNumbers[i] : i + 2) +
                 ": managerEmail",
             std::string(m == nullptr ? kManagerNotInPool : kManagerDeactivated)});
    }
    if (c.dryRun) return std::move(decision_);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      ids.push_back(ctx_.ids.newId());
      newByEmail[keys[i]] = ids.back();
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
      UserCreated e = userCreated(ids[i], rows[i], c.notify);
      e.importId = c.importId;
      setManager(rows[i].managerEmail, newByEmail, e.managerUserId, e.managerEmail);
      add(userStream(ids[i]), std::move(e));
    }
    const CompanyState& company = *state_.company(cmd_.companyId);
    for (std::size_t i = 0; i < rows.size(); ++i) linkReports(company, rows[i].email, ids[i]);
    add(companyStream(cmd_.companyId),
        UsersImported{c.importId, c.rows.size(), ids, c.warnings + decision_.warnings.size(),
                      c.notify});
    decision_.ids = std::move(ids);
    return std::move(decision_);
  }

  Outcome operator()(const SetPassword& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kSelfOrSystem, c.userId)) return *r;
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    if (u == nullptr || u->anonymized) return notInCompany("User", c.userId);
    if (c.passwordHash.empty()) return invalidField("password", "is required");
    add(userStream(c.userId), PasswordSet{c.userId, Personal(c.passwordHash), c.temporary, c.reason});
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const RequestPasswordReset& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kSystem)) return *r;
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    // Unknown and inactive users get the same answer and nothing happens, but one
    // event as for a user, naming nobody (no address, no token): event positions are
    // global, and an administrator of any company who reads the newest one before and
    // after asking a reset for another company's address learnt whether it is a user
    // there when only a user's request appended one (a review).
    if (u != nullptr && u->active && !u->anonymized) {
      add(userStream(c.userId),
          PasswordResetRequested{c.userId, c.tokenHash, formatRfc3339(c.expiresAt)});
      decision_.id = c.userId;  // empty otherwise: nobody's link is mailed
    } else {
      add(companyStream(cmd_.companyId), PasswordResetRequested{});
    }
    return std::move(decision_);
  }

  // Completed by the system, or as the user whose link it is (the server's way: the
  // link, mailed to them, is their word; the audit trail then says who did it).
  Outcome operator()(const CompletePasswordReset& c) {
    const UserState* u = state_.userByResetToken(c.tokenHash);
    if (u == nullptr || u->resetTokenHash() != c.tokenHash || !u->active || u->anonymized ||
        ctx_.now >= u->resetExpiresAt())
      return Rejection{RejectionKind::kBadRequest, "reset-token-invalid",
                       "The reset link is expired, used, replaced by a newer one, or unknown.",
                       {}, {}};
    if (auto r = authorize(state_, cmd_, Who::kSelfOrSystem, u->id)) return *r;
    if (c.passwordHash.empty()) return invalidField("newPassword", "is required");
    decision_.companyId = std::string(u->companyId);
    add(userStream(u->id), PasswordResetCompleted{u->id, c.tokenHash});
    add(userStream(u->id), PasswordSet{u->id, Personal(c.passwordHash), false, "reset"});
    decision_.id = u->id;
    return std::move(decision_);
  }

  // Recorded by the system, or as the user who signed in with their password.
  Outcome operator()(const RecordLogin& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kSelfOrSystem, c.userId)) return *r;
    const UserState* u = state_.user(cmd_.companyId, c.userId);
    if (u == nullptr || !u->active || u->anonymized) return notInCompany("User", c.userId);
    LoginSucceeded e{c.userId,     c.sessionHash, formatRfc3339(c.expiresAt),
                     std::nullopt, std::nullopt,  std::nullopt};
    if (c.clientAddress) e.clientAddress = Personal(*c.clientAddress);
    if (c.upgradedHash) {
      e.passwordHash = Personal(*c.upgradedHash);
      e.replacesHash = c.replacesHash;
    }
    add(userStream(c.userId), std::move(e));
    decision_.id = c.userId;
    return std::move(decision_);
  }

  Outcome operator()(const RecordLoginFailure& c) {
    if (auto r = requireCompanyAndAuthorize(Who::kSystem)) return *r;
    const UserState* u = c.userId ? state_.user(cmd_.companyId, *c.userId) : nullptr;
    LoginFailed e;
    e.reason = c.reason;
    if (u != nullptr && !u->anonymized) {
      e.userId = u->id;
      if (c.clientAddress) e.clientAddress = Personal(*c.clientAddress);
      add(userStream(u->id), std::move(e));
    } else {
      add(companyStream(cmd_.companyId), std::move(e));
    }
    return std::move(decision_);
  }

 private:
  // The manager's reference: a user of the pool (or of `alsoNew`, email key -> id)
  // by id, else the email as given.
  // The manager digest (write_model.h) the email `m` would be stored as, in this
  // company: the id of its user in the pool, or the email as given.
  std::uint64_t managerDigestOf(const std::string& m) const {
    const UserState* manager = state_.userByEmail(cmd_.companyId, m);
    return manager ? managerDigest(manager->id, std::nullopt) : managerDigest(std::nullopt, Personal(m));
  }

  void setManager(const std::string& email, const StringMap<std::string>& alsoNew,
                  std::optional<std::string>& managerUserId,
                  std::optional<Personal>& managerEmail) {
    managerUserId.reset();
    managerEmail.reset();
    if (const UserState* m = state_.userByEmail(cmd_.companyId, email)) {
      managerUserId = m->id;
    } else if (auto it = alsoNew.find(emailKey(email)); it != alsoNew.end()) {
      managerUserId = it->second;
    } else {
      managerEmail = addressCopy(email);
    }
  }

  // An email of nobody in the pool, kept as given: that person's data, sealed under
  // a key of the address (one per address and company), which its user takes over
  // on joining and which is shredded with them.
  Personal addressCopy(const std::string& email) {
    const std::string key = emailKey(email);
    std::string& subject = newAddressKeys_[key];
    if (subject.empty()) {
      const CompanyState* company = state_.company(decision_.companyId);
      if (company != nullptr)
        if (auto it = company->addressKeys.find(key);
            it != company->addressKeys.end() && !it->second.empty())
          subject = it->second.front();
      if (subject.empty()) subject = "address-" + ctx_.ids.newId();
    }
    return Personal(email, subject);
  }

  void add(std::string stream, EventData data) {
    decision_.events.push_back({std::move(stream), std::move(data)});
  }

  // The users whose manager was kept as `email` (nobody of the pool had it then)
  // now reference its new owner `managerId` instead, and the copy goes: the email
  // is then shredded with its owner (DESIGN.md, a manager "stored by reference").
  void linkReports(const CompanyState& company, const std::string& email, const std::string& managerId) {
    if (company.reportsByManagerCopy.empty()) return;  // most often: nobody waits
    auto it = company.reportsByManagerCopy.find(emailKey(email));
    if (it == company.reportsByManagerCopy.end()) return;
    for (const std::string& report : it->second) {
      UserUpdated e;
      e.userId = report;
      e.managerUserId = managerId;
      e.cleared.push_back("managerEmail");
      add(userStream(report), std::move(e));
    }
  }

  // The user `userId` of the command's company into `u`, at the version the command
  // expects (If-Match): or why not (404, 412).
  std::optional<Rejection> userAtVersion(const std::string& userId,
                                         const std::optional<std::uint64_t>& expected,
                                         const UserState*& u) const {
    u = state_.user(cmd_.companyId, userId);
    if (u == nullptr) return notInCompany("User", userId);
    return versionMismatch(expected, u->version, "user");
  }

  // The same for a group, into `g`.
  std::optional<Rejection> groupAtVersion(const std::string& groupId,
                                          const std::optional<std::uint64_t>& expected,
                                          const GroupState*& g) const {
    const CompanyState& company = *state_.company(cmd_.companyId);
    auto it = company.groups.find(groupId);
    if (it == company.groups.end()) return notInCompany("Group", groupId);
    g = &it->second;
    return versionMismatch(expected, g->version, "group");
  }

  std::optional<Rejection> requireCompanyAndAuthorize(Who who, std::string_view target = {}) {
    if (state_.company(cmd_.companyId) == nullptr)
      return Rejection{RejectionKind::kNotFound,
                       "not-found",
                       "Company " + cmd_.companyId + " does not exist.",
                       {},
                       {}};
    return authorize(state_, cmd_, who, target);
  }

  std::optional<Rejection> roleTarget(const std::string& userId, const std::string& service,
                                      const std::string& role) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return r;
    if (state_.user(cmd_.companyId, userId) == nullptr) return notInCompany("User", userId);
    if (const CompanyState& company = *state_.company(cmd_.companyId);
        !company.holdsService(service)) {
      // Which services it holds, as POST /resources says (a review). Like notInCompany, it
      // repeats no email nor a text too long to be a service.
      const std::string named = service.find('@') != std::string::npos || service.size() > 64
                                    ? "The service given"
                                    : "Service " + service;
      return Rejection{
          RejectionKind::kNotFound,
          "not-found",
          named + " is not in this company: " + heldServicesText(company.services) + ".",
          {},
          {}};
    }
    if (!serviceHasRole(service, role)) {
      // Said of the service, with its roles: "Role modeler/superuser is not in this
      // company" blamed the company (a review).
      // (Like notInCompany, it repeats no email nor a text too long to be a role.)
      std::string roles;
      if (const ServiceDefinition* s = findService(service))
        for (const auto& r : s->roles) roles += (roles.empty() ? "" : ", ") + r;
      const std::string named = role.find('@') != std::string::npos || role.size() > 64
                                    ? "no such role"
                                    : "no role '" + role + "'";
      return Rejection{
          RejectionKind::kNotFound,
          "not-found",
          "The service " + service + " has " + named + "; its roles are: " + roles + ".",
          {},
          {}};
    }
    return std::nullopt;
  }

  // The preconditions of a target without an ETag (Untagged), `exists` or not:
  // nullopt when they hold.
  static std::optional<Rejection> untaggedRefusal(const Untagged& c, bool exists,
                                                  const std::string& noun) {
    std::string detail;
    if (c.ifMatchTag)
      detail = "A " + noun +
               " has no ETag, so If-Match can name none of its versions: send the request "
               "without it (or with If-Match: *).";
    else if (c.ifMatchAny && !exists)
      detail = "If-Match: * asks for a " + noun +
               " that exists, and there is none: nothing was "
               "changed.";
    else if (c.ifNoneMatchAny && exists)
      detail = "If-None-Match: * asks for a " + noun +
               " that does not exist yet, and there is "
               "one: nothing was changed.";
    if (detail.empty()) return std::nullopt;
    return Rejection{RejectionKind::kPreconditionFailed, "version-mismatch", detail, {}, {}};
  }

  Outcome membership(const std::string& groupId, const std::string& userId,
                     const Untagged& conditions, bool add_) {
    if (auto r = requireCompanyAndAuthorize(Who::kAdmin)) return *r;
    const CompanyState& company = *state_.company(cmd_.companyId);
    auto it = company.groups.find(groupId);
    if (it == company.groups.end()) return notInCompany("Group", groupId);
    const UserState* u = state_.user(cmd_.companyId, userId);
    if (u == nullptr) return notInCompany("User", userId);
    const bool member = it->second.members.count(userId) > 0;
    if (add_ && !member && u->anonymized)
      return conflict("user-anonymized", "An anonymized user joins no group.");
    if (auto r = untaggedRefusal(conditions, member, "group membership")) return *r;
    const std::string& groupName = it->second.name;
    if (add_ && !member) add(groupStream(groupId), GroupMemberAdded{groupId, userId, groupName});
    if (!add_ && member) add(groupStream(groupId), GroupMemberRemoved{groupId, userId, groupName});
    decision_.id = groupId;
    return std::move(decision_);
  }

  const WriteModel& state_;
  const Command& cmd_;
  DecisionContext& ctx_;
  Decision decision_;
  // Email key -> the subject of the address's key, for the copies this decision makes.
  std::unordered_map<std::string, std::string> newAddressKeys_;
};

}  // namespace

Outcome decide(const WriteModel& state, const Command& command, DecisionContext& context) {
  Decider decider(state, command, context);
  return std::visit(decider, command.body);
}

std::vector<FieldProblem> groupFieldProblems(std::string_view name,
                                             const std::optional<std::string>& description) {
  std::vector<FieldProblem> problems;
  requireText(problems, "", "name", trimText(name));
  checkDescription(problems, trimmedDescription(description));
  return problems;
}

std::vector<FieldProblem> userPatchProblems(const UpdateUser& c, const CountryList& countries) {
  std::vector<FieldProblem> problems;
  for (const auto& [field, patch] :
       {std::pair{"givenName", &c.givenName}, std::pair{"surname", &c.surname},
        std::pair{"jobTitle", &c.jobTitle}})
    if (*patch)
      if (auto p = patchedTextProblem(**patch)) problems.push_back({field, *p});
  if (c.managerEmail)
    if (auto p = emailProblem(c.managerEmail->has_value() ? trim(**c.managerEmail) : ""))
      problems.push_back({"managerEmail", *p});
  if (c.country && c.country->has_value() && !trimText(**c.country).empty() &&
      !countries.find(**c.country))
    problems.push_back({"country", countries.problemWith(**c.country)});
  return problems;
}

std::vector<FieldProblem> resourceFieldProblems(const RegisterResource& c,
                                                const std::vector<std::string>& services) {
  std::vector<FieldProblem> problems;
  if (c.kind != "project" && c.kind != "subscription" && c.kind != "model" &&
      c.kind != "permission")
    problems.push_back({"kind", "must be project, subscription, model or permission"});
  if (c.service.empty())
    problems.push_back({"service", "is required"});
  else if (!holdsService(services, c.service))
    problems.push_back(
        {"service", "is not a service this company holds: " + heldServicesText(services)});
  requireText(problems, "", "name", trimText(c.name));
  if (c.ownerId.empty()) problems.push_back({"ownerId", "is required"});
  return problems;
}

}  // namespace portal
