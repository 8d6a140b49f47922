#pragma once
// The write model: what the deciders need to know of every company, kept in memory
// by the command processor's single thread and rebuilt from the log at start by
// the same evolve() that follows each decision. It holds emails (for uniqueness and
// manager references) but no names (only digests of the details a change compares
// with); an anonymized user's email is dropped.
//
// Not thread-safe: one thread owns it.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "events/event.h"
#include "events/string_map.h"

namespace portal {

struct UserState {
  std::string id;
  std::string_view companyId;  // the company's own id (CompanyState::id, which never moves)
  std::string email;           // as entered; empty once anonymized
  bool active = true;
  bool anonymized = false;
  bool admin = false;
  // Their personal data read as shredded (no data key) before any UserAnonymized:
  // the key vault was edited (WriteModel::usersWithoutTheirKey).
  bool keyMissing = false;
  // Counts the events that change what GET /users/{id} shows, its ETag: UserCreated,
  // UserUpdated, UserDeactivated, UserReactivated, UserAnonymized, AdminIncluded,
  // AdminRemoved, and OwnershipTransferred (for both users). The users projection
  // counts the same.
  std::uint64_t version = 0;
  // (service, role), sorted; a user holds a few.
  std::vector<std::pair<std::string, std::string>> roles;
  // What a change of details is compared with, so that a form sending a user back
  // as it read them changes nothing (no event, the same version): digests of the
  // given name, surname, job title and manager (detailDigest, DetailField), and the
  // country's code (empty: none).
  std::array<std::uint64_t, 4> detailDigests{};
  std::string country;

  bool holdsRole(std::string_view service, std::string_view role) const;
  // The one valid reset token, if any (empty: none), and until when it is valid.
  const std::string& resetTokenHash() const { return rare ? rare->resetTokenHash : kNone; }
  Timestamp resetExpiresAt() const { return rare ? rare->resetExpiresAt : Timestamp{}; }
  // The key of the manager's email when it is kept as given (nobody of the pool had
  // it then); empty when the manager is a user of the pool, or none.
  const std::string& managerCopy() const { return rare ? rare->managerCopy : kNone; }
  // The keys that sealed the reports' copies of this user's email before they
  // joined the pool (CompanyState::addressKeys): shredded with theirs.
  const std::vector<std::string>& addressKeys() const { return rare ? rare->addressKeys : kNoKeys; }

  // What few users have, apart, so that each of millions does not carry its room
  // (WriteModel makes it when one of them is set).
  struct Rare {
    std::string resetTokenHash;
    Timestamp resetExpiresAt;
    std::string managerCopy;
    std::vector<std::string> addressKeys;
  };
  std::unique_ptr<Rare> rare;

 private:
  static const std::string kNone;
  static const std::vector<std::string> kNoKeys;
};

enum DetailField : std::size_t { kGivenNameDetail, kSurnameDetail, kJobTitleDetail, kManagerDetail };

// A 64-bit digest (FNV-1a) of a detail as stored; a manager is "i" + their user id,
// or "e" + the email as given when they are not in the pool (managerDigest). A new
// value with the old one's digest (odds of 2^-64) would be taken for no change.
std::uint64_t detailDigest(std::string_view value);
std::uint64_t managerDigest(const std::optional<std::string>& userId, const std::optional<Personal>& email);

struct ResourceState {
  std::string id, kind, service, name, ownerId;
};

struct GroupState {
  std::string id, name;
  std::optional<std::string> description;
  std::set<std::string> members;
  std::uint64_t version = 1;  // its events so far (the ETag; If-Match is checked against it)
};

struct CompanyState {
  std::string id, slug, name;
  std::vector<std::string> services;
  std::string ownerId;
  // Email key -> the user (a pointer into the write model's users, which never move).
  StringMap<UserState*> usersByEmail;
  // Email key -> the other users who have it, not anonymized: a log written before
  // a change of emailKey (NFC, domains compared as DNS does) may hold two users whose
  // addresses were two keys then and are one now. The key stays taken until the last
  // of them is anonymized (it was free once the one indexed was: a review).
  std::unordered_map<std::string, std::vector<UserState*>> usersSharingEmail;
  std::map<std::string, ResourceState> resources;             // by id
  std::unordered_map<std::string, std::set<std::string>> resourcesByOwner;
  std::map<std::string, GroupState> groups;                    // by id
  std::unordered_map<std::string, std::string> groupsByName;  // groupNameKey(name) -> id
  // Email key -> the users whose manager is kept as that email (UserState::managerCopy).
  std::unordered_map<std::string, std::set<std::string>> reportsByManagerCopy;
  // Email key -> the subjects whose keys seal the copies of that email (a manager's
  // email kept as given is that person's data, not the report's): one key per
  // address, the first, which new copies use, until a user of that email joins and
  // takes them over. (More than one where the log has copies of spellings that one
  // key only joined later: `MÜLLER.test` and `müller.test` before domains were
  // compared as DNS does; each is shredded with that user.)
  std::unordered_map<std::string, std::vector<std::string>> addressKeys;

  bool holdsService(std::string_view service) const;
};

// What makes two group names the same: trimmed, and case folded in any script
// ("Équipe" and "équipe").
std::string groupNameKey(std::string_view name);

class WriteModel {
 public:
  // evolve: applies one recorded event. Events are applied in log order; an event
  // naming something unknown is ignored (it cannot come from our own deciders).
  void apply(const EventEnvelope& envelope, const EventData& data);

  const CompanyState* company(std::string_view id) const;
  const CompanyState* companyBySlug(std::string_view slug) const;
  // The user, if it belongs to `companyId`.
  const UserState* user(std::string_view companyId, std::string_view userId) const;
  const UserState* userByEmail(std::string_view companyId, std::string_view email) const;
  const UserState* userByResetToken(std::string_view tokenHash) const;

  std::size_t userCount() const { return users_.size(); }
  // Up to `max` ids of users whose data key is gone although they were never
  // anonymized (their details read as shredded): only an edit of the key vault
  // makes one, and the model cannot tell their email (a review deleted a key: the
  // user's address was then given to a second person).
  std::vector<std::string> usersWithoutTheirKey(std::size_t max) const;
  // Everything it holds as text, in an order of its own (not the maps'): two models
  // that decide alike dump alike. For tests.
  std::string dump() const;

 private:
  CompanyState* mutableCompany(std::string_view id);
  UserState* mutableUser(std::string_view id);

  StableStringMap<CompanyState> companies_;
  StableStringMap<std::string> companiesBySlug_;
  // One entry per person: a flat map, each user on the heap so that pointers to
  // them (usersByEmail, the deciders') survive the table growing; the key is a
  // view of the user's own id.
  boost::unordered_flat_map<std::string_view, std::unique_ptr<UserState>, StringHash> users_;
  StableStringMap<std::string> resetTokens_;  // token hash -> user id
  std::size_t keysMissing_ = 0;               // users with keyMissing
};

}  // namespace portal
