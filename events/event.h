#pragma once
// Every event type of the portal, the envelope every stored event carries, and the
// variant that holds any one event's data.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/auth_events.h"
#include "events/company_events.h"
#include "events/group_events.h"
#include "events/resource_events.h"
#include "events/timestamp.h"
#include "events/user_events.h"

namespace portal {

using EventData =
    std::variant<CompanyProvisioned, OwnershipTransferred, UsersImported, IdentityProviderChanged,
                 UserCreated, UserUpdated, UserDeactivated, UserReactivated, UserAnonymized,
                 AdminIncluded, AdminRemoved, RoleGranted, RoleRevoked, ResourceAssigned,
                 ResourceReleased, ResourcesTransferred, GroupCreated, GroupRenamed, GroupDeleted,
                 GroupMemberAdded, GroupMemberRemoved, PasswordSet, PasswordResetRequested,
                 PasswordResetCompleted, LoginSucceeded, LoginFailed>;

using Hash = std::array<std::uint8_t, 32>;  // SHA-256

inline constexpr std::string_view kSystemActor = "system";

// What every stored event carries besides its data. position, prevHash and hash are
// given by the store when it appends.
struct EventEnvelope {
  std::uint64_t position = 0;  // global, gapless from 1
  std::string stream;          // company-<id> | user-<id> | group-<id>
  std::uint64_t version = 0;   // within the stream, from 1
  std::string type;
  int schema = 0;
  Timestamp occurredAt;
  std::string actor;      // a user id, or "system"
  std::string companyId;  // the company the event belongs to
  std::string commandId;
  std::string correlationId;
  Hash prevHash{};
  Hash hash{};
};

struct RecordedEvent {
  EventEnvelope envelope;
  EventData data;
};

// The type name ("UserCreated") and current schema of the event held.
std::string_view eventTypeName(const EventData& data);
int eventSchema(const EventData& data);

// The names of all event types, in the order of EventData's alternatives.
const std::vector<std::string_view>& allEventTypeNames();
// Whether `name` is one of them (exactly: names are case-sensitive), and all of them
// comma-separated, for messages.
bool isEventTypeName(std::string_view name);
std::string eventTypeNameList();

// Stream names, so that nobody spells them by hand.
inline std::string companyStream(std::string_view id) { return "company-" + std::string(id); }
inline std::string userStream(std::string_view id) { return "user-" + std::string(id); }
inline std::string groupStream(std::string_view id) { return "group-" + std::string(id); }

}  // namespace portal
