#include "src/domain/write_model.h"

#include <algorithm>

#include "events/text.h"
#include "src/domain/email.h"
#include "src/domain/services.h"

namespace portal {
namespace {

// A log written when names were folded in ASCII alone may hold two groups whose
// names fold alike now: the name stays taken while another group still has it.
void forgetGroupName(CompanyState& company, const GroupState& group) {
  const std::string key = groupNameKey(group.name);
  auto it = company.groupsByName.find(key);
  if (it == company.groupsByName.end() || it->second != group.id) return;
  company.groupsByName.erase(it);
  for (const auto& [id, other] : company.groups)
    if (id != group.id && groupNameKey(other.name) == key) {
      company.groupsByName.emplace(key, id);
      break;
    }
}

}  // namespace

std::string groupNameKey(std::string_view name) { return nameKey(name); }

const std::string UserState::kNone;
const std::vector<std::string> UserState::kNoKeys;

bool UserState::holdsRole(std::string_view service, std::string_view role) const {
  // The order of std::pair's <, which keeps `roles` sorted.
  return std::binary_search(roles.begin(), roles.end(), std::pair(service, role),
                            [](const auto& a, const auto& b) {
                              const std::string_view af = a.first, bf = b.first;
                              return af < bf || (af == bf && std::string_view(a.second) < b.second);
                            });
}

std::uint64_t detailDigest(std::string_view value) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : value) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::uint64_t managerDigest(const std::optional<std::string>& userId, const std::optional<Personal>& email) {
  if (userId) return detailDigest("i" + *userId);
  return email ? detailDigest("e" + email->value) : 0;
}

bool CompanyState::holdsService(std::string_view service) const {
  return portal::holdsService(services, service);
}

const CompanyState* WriteModel::company(std::string_view id) const {
  auto it = companies_.find(id);
  return it == companies_.end() ? nullptr : &it->second;
}

const CompanyState* WriteModel::companyBySlug(std::string_view slug) const {
  auto it = companiesBySlug_.find(slug);
  return it == companiesBySlug_.end() ? nullptr : company(it->second);
}

const UserState* WriteModel::user(std::string_view companyId, std::string_view userId) const {
  auto it = users_.find(userId);
  if (it == users_.end() || it->second->companyId != companyId) return nullptr;
  return it->second.get();
}

const UserState* WriteModel::userByEmail(std::string_view companyId, std::string_view email) const {
  const CompanyState* c = company(companyId);
  if (c == nullptr) return nullptr;
  auto it = c->usersByEmail.find(emailKey(email));
  return it == c->usersByEmail.end() ? nullptr : it->second;
}

const UserState* WriteModel::userByResetToken(std::string_view tokenHash) const {
  auto it = resetTokens_.find(tokenHash);
  if (it == resetTokens_.end()) return nullptr;
  auto u = users_.find(it->second);
  return u == users_.end() ? nullptr : u->second.get();
}

CompanyState* WriteModel::mutableCompany(std::string_view id) {
  auto it = companies_.find(id);
  return it == companies_.end() ? nullptr : &it->second;
}

UserState* WriteModel::mutableUser(std::string_view id) {
  auto it = users_.find(id);
  return it == users_.end() ? nullptr : it->second.get();
}

std::vector<std::string> WriteModel::usersWithoutTheirKey(std::size_t max) const {
  std::vector<std::string> ids;
  if (keysMissing_ == 0) return ids;
  for (const auto& [id, user] : users_)
    if (user->keyMissing) ids.emplace_back(id);
  std::sort(ids.begin(), ids.end());
  if (ids.size() > max) ids.resize(max);
  return ids;
}

std::string WriteModel::dump() const {
  std::vector<std::string> lines;
  auto line = [&](std::initializer_list<std::string_view> parts) {
    std::string l;
    for (std::string_view part : parts) l.append(part).push_back('|');
    lines.push_back(std::move(l));
  };
  auto list = [](const auto& items) {
    std::vector<std::string> all;
    for (const auto& item : items) {
      if constexpr (requires { item.first; })
        all.push_back(std::string(item.first) + "=" + std::string(item.second));
      else
        all.push_back(std::string(item));
    }
    std::sort(all.begin(), all.end());
    std::string text;
    for (const auto& a : all) text += a + ",";
    return text;
  };
  for (const auto& [key, u] : users_) {
    std::string digests;
    for (std::uint64_t d : u->detailDigests) digests += std::to_string(d) + ",";
    line({"user", key, u->id, u->companyId, u->email, u->active ? "active" : "inactive",
          u->anonymized ? "anonymized" : "", u->admin ? "admin" : "", std::to_string(u->version),
          list(u->roles), digests, u->country, u->resetTokenHash(),
          std::to_string(u->resetExpiresAt().micros), u->managerCopy(), list(u->addressKeys())});
  }
  for (const auto& [key, c] : companies_) {
    line({"company", key, c.id, c.slug, c.name, list(c.services), c.ownerId});
    for (const auto& [email, u] : c.usersByEmail) line({"email", c.id, email, u->id});
    for (const auto& [id, r] : c.resources)
      line({"resource", c.id, id, r.id, r.kind, r.service, r.name, r.ownerId});
    for (const auto& [owner, ids] : c.resourcesByOwner) line({"owns", c.id, owner, list(ids)});
    for (const auto& [id, g] : c.groups)
      line({"group", c.id, id, g.id, g.name, g.description.value_or("(none)"), list(g.members),
            std::to_string(g.version)});
    line({"group names", c.id, list(c.groupsByName)});
    for (const auto& [email, ids] : c.reportsByManagerCopy)
      line({"reports of", c.id, email, list(ids)});
    for (const auto& [email, keys] : c.addressKeys) line({"address keys", c.id, email, list(keys)});
  }
  line({"slugs", list(companiesBySlug_)});
  line({"reset tokens", list(resetTokens_)});
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

void WriteModel::apply(const EventEnvelope& env, const EventData& data) {
  CompanyState* company = mutableCompany(env.companyId);
  auto forUser = [&](const std::string& id, auto&& fn) {
    if (UserState* u = mutableUser(id)) fn(*u);
  };
  auto rare = [](UserState& u) -> UserState::Rare& {
    if (!u.rare) u.rare = std::make_unique<UserState::Rare>();
    return *u.rare;
  };
  auto dropRareIfEmpty = [](UserState& u) {
    if (u.rare && u.rare->resetTokenHash.empty() && u.rare->managerCopy.empty() &&
        u.rare->addressKeys.empty())
      u.rare.reset();
  };
  // The user's outstanding reset link, if any, no longer works.
  auto voidReset = [&](UserState& u) {
    if (u.resetTokenHash().empty()) return;
    resetTokens_.erase(u.resetTokenHash());
    u.rare->resetTokenHash.clear();
    dropRareIfEmpty(u);
  };
  // Where a user's manager is kept as an email, indexed so that the manager's
  // arrival in the pool finds them.
  auto setManagerCopy = [&](UserState& u, std::string key) {
    if (company == nullptr || key == u.managerCopy()) return;
    if (!u.managerCopy().empty()) {
      auto it = company->reportsByManagerCopy.find(u.managerCopy());
      if (it != company->reportsByManagerCopy.end() && it->second.erase(u.id) && it->second.empty())
        company->reportsByManagerCopy.erase(it);
    }
    if (!key.empty()) company->reportsByManagerCopy[key].insert(u.id);
    rare(u).managerCopy = std::move(key);
    dropRareIfEmpty(u);
  };
  // A copy of an address sealed under that address's own key: later copies use it too.
  auto noteAddressKey = [&](const std::optional<Personal>& copy) {
    if (company != nullptr && copy && !copy->shredded && !copy->sealedFor.empty())
      if (auto& keys = company->addressKeys[emailKey(copy->value)];
          std::find(keys.begin(), keys.end(), copy->sealedFor) == keys.end())
        keys.push_back(copy->sealedFor);
  };
  std::visit(
      Overloaded{
          [&](const CompanyProvisioned& e) {
            CompanyState& c = companies_[e.companyId];
            if (c.id.empty()) c.id = e.companyId;  // users hold views of it: set once
            c.slug = e.slug;
            c.name = e.name;
            c.services = e.services;
            c.ownerId = e.ownerId;
            companiesBySlug_[e.slug] = e.companyId;
          },
          [&](const OwnershipTransferred& e) {
            if (company != nullptr) company->ownerId = e.toUserId;
            forUser(e.fromUserId, [](UserState& u) { ++u.version; });
            forUser(e.toUserId, [](UserState& u) { ++u.version; });
          },
          [&](const UsersImported&) {},
          [&](const IdentityProviderChanged&) {},
          [&](const UserCreated& e) {
            // A user belongs to a company: one created in none the log knows is
            // passed over (our deciders create none).
            if (company == nullptr) return;
            UserState* existing = mutableUser(e.userId);
            if (existing == nullptr) {
              auto made = std::make_unique<UserState>();
              made->id = e.userId;
              existing = made.get();
              users_.emplace(std::string_view(made->id), std::move(made));
            }
            UserState& u = *existing;
            u.companyId = company->id;
            if (e.email.shredded != u.keyMissing) {
              u.keyMissing = e.email.shredded;
              keysMissing_ += u.keyMissing ? 1 : -1;
            }
            u.email = e.email.value;
            u.active = e.active;
            u.version = 1;
            u.detailDigests = {detailDigest(e.givenName.value), detailDigest(e.surname.value),
                               detailDigest(e.jobTitle.value),
                               managerDigest(e.managerUserId, e.managerEmail)};
            u.country = e.country.value_or("");
            setManagerCopy(u, e.managerEmail ? emailKey(e.managerEmail->value) : std::string());
            noteAddressKey(e.managerEmail);
            const std::string key = emailKey(e.email.value);
            UserState*& holder = company->usersByEmail[key];
            if (holder != nullptr && holder != &u && !holder->anonymized)
              company->usersSharingEmail[key].push_back(holder);
            holder = &u;
            // Their address's key is theirs now.
            if (auto it = company->addressKeys.find(key); it != company->addressKeys.end()) {
              auto& keys = rare(u).addressKeys;
              keys.insert(keys.end(), it->second.begin(), it->second.end());
              company->addressKeys.erase(it);
            }
          },
          [&](const UserUpdated& e) {
            forUser(e.userId, [&](UserState& u) {
              ++u.version;
              if (e.managerEmail) setManagerCopy(u, emailKey(e.managerEmail->value));
              else if (e.managerUserId) setManagerCopy(u, {});
              noteAddressKey(e.managerEmail);
              if (e.givenName) u.detailDigests[kGivenNameDetail] = detailDigest(e.givenName->value);
              if (e.surname) u.detailDigests[kSurnameDetail] = detailDigest(e.surname->value);
              if (e.jobTitle) u.detailDigests[kJobTitleDetail] = detailDigest(e.jobTitle->value);
              if (e.managerUserId || e.managerEmail)
                u.detailDigests[kManagerDetail] = managerDigest(e.managerUserId, e.managerEmail);
              if (e.country) u.country = *e.country;
              else if (std::find(e.cleared.begin(), e.cleared.end(), "country") != e.cleared.end())
                u.country.clear();
            });
          },
          [&](const UserDeactivated& e) {
            forUser(e.userId, [&](UserState& u) {
              u.active = false;
              voidReset(u);  // a link sent before must not work after a reactivation
              ++u.version;
            });
          },
          [&](const UserReactivated& e) {
            forUser(e.userId, [](UserState& u) {
              u.active = true;
              ++u.version;
            });
          },
          [&](const UserAnonymized& e) {
            forUser(e.userId, [&](UserState& u) {
              if (company != nullptr) {
                const std::string key = emailKey(u.email);
                auto it = company->usersByEmail.find(key);
                const bool held = it != company->usersByEmail.end() && it->second == &u;
                if (held) company->usersByEmail.erase(it);
                if (auto s = company->usersSharingEmail.find(key);
                    s != company->usersSharingEmail.end()) {
                  std::erase(s->second, &u);
                  if (held && !s->second.empty()) {
                    company->usersByEmail.emplace(key, s->second.back());
                    s->second.pop_back();
                  }
                  if (s->second.empty()) company->usersSharingEmail.erase(s);
                }
              }
              voidReset(u);
              setManagerCopy(u, {});
              u.rare.reset();  // the address keys are shredded with the user's own
              u.email.clear();
              u.detailDigests = {};  // digests of names can be looked up in a dictionary
              u.anonymized = true;
              if (u.keyMissing) --keysMissing_;
              u.keyMissing = false;
              ++u.version;
            });
          },
          [&](const AdminIncluded& e) {
            forUser(e.userId, [](UserState& u) {
              u.admin = true;
              ++u.version;
            });
          },
          [&](const AdminRemoved& e) {
            forUser(e.userId, [](UserState& u) {
              u.admin = false;
              ++u.version;
            });
          },
          [&](const RoleGranted& e) {
            forUser(e.userId, [&](UserState& u) {
              std::pair<std::string, std::string> role(e.service, e.role);
              auto at = std::lower_bound(u.roles.begin(), u.roles.end(), role);
              if (at == u.roles.end() || *at != role) u.roles.insert(at, std::move(role));
            });
          },
          [&](const RoleRevoked& e) {
            forUser(e.userId, [&](UserState& u) {
              std::erase(u.roles, std::pair<std::string, std::string>(e.service, e.role));
            });
          },
          [&](const ResourceAssigned& e) {
            if (company == nullptr) return;
            company->resources[e.resourceId] =
                ResourceState{e.resourceId, e.kind, e.service, e.name, e.ownerId};
            company->resourcesByOwner[e.ownerId].insert(e.resourceId);
          },
          [&](const ResourceReleased& e) {
            if (company == nullptr) return;
            auto it = company->resources.find(e.resourceId);
            if (it == company->resources.end()) return;
            company->resourcesByOwner[it->second.ownerId].erase(e.resourceId);
            company->resources.erase(it);
          },
          [&](const ResourcesTransferred& e) {
            if (company == nullptr) return;
            for (const auto& t : e.resources) {
              auto it = company->resources.find(t.resourceId);
              if (it == company->resources.end()) continue;
              company->resourcesByOwner[it->second.ownerId].erase(t.resourceId);
              if (t.mergedInto) {
                company->resources.erase(it);
              } else {
                it->second.ownerId = e.toUserId;
                company->resourcesByOwner[e.toUserId].insert(t.resourceId);
              }
            }
          },
          [&](const GroupCreated& e) {
            if (company == nullptr) return;
            company->groups[e.groupId] = GroupState{e.groupId, e.name, e.description, {}};
            company->groupsByName[groupNameKey(e.name)] = e.groupId;
          },
          [&](const GroupRenamed& e) {
            if (company == nullptr) return;
            auto it = company->groups.find(e.groupId);
            if (it == company->groups.end()) return;
            forgetGroupName(*company, it->second);
            it->second.name = e.name;
            it->second.description = e.description;
            ++it->second.version;
            company->groupsByName[groupNameKey(e.name)] = e.groupId;
          },
          [&](const GroupDeleted& e) {
            if (company == nullptr) return;
            auto it = company->groups.find(e.groupId);
            if (it == company->groups.end()) return;
            forgetGroupName(*company, it->second);
            company->groups.erase(it);
          },
          [&](const GroupMemberAdded& e) {
            if (company == nullptr) return;
            if (auto it = company->groups.find(e.groupId); it != company->groups.end()) {
              it->second.members.insert(e.userId);
              ++it->second.version;
            }
          },
          [&](const GroupMemberRemoved& e) {
            if (company == nullptr) return;
            if (auto it = company->groups.find(e.groupId); it != company->groups.end()) {
              it->second.members.erase(e.userId);
              ++it->second.version;
            }
          },
          [&](const PasswordSet& e) {
            // (Passwords are checked against the credentials view: nothing here.)
            forUser(e.userId, [&](UserState& u) {
              // A link asked for before the password was changed would undo the
              // change (changing it is what one does after an unexpected reset mail).
              voidReset(u);
            });
          },
          [&](const PasswordResetRequested& e) {
            forUser(e.userId, [&](UserState& u) {
              voidReset(u);  // a newer request voids the older token
              rare(u).resetTokenHash = e.tokenHash;
              u.rare->resetExpiresAt = parseRfc3339(e.expiresAt).value_or(Timestamp{});
              resetTokens_[e.tokenHash] = u.id;
            });
          },
          [&](const PasswordResetCompleted& e) {
            forUser(e.userId, [&](UserState& u) {
              resetTokens_.erase(e.tokenHash);
              if (!e.tokenHash.empty() && u.resetTokenHash() == e.tokenHash) {
                u.rare->resetTokenHash.clear();
                dropRareIfEmpty(u);
              }
            });
          },
          [&](const LoginSucceeded&) {},
          [&](const LoginFailed&) {},
      },
      data);
}

}  // namespace portal
