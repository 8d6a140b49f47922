#pragma once
// Events of resources (projects, subscriptions, models, permissions) that users of
// the company own. Assignment and release go to the company stream; a transfer goes
// to the stream of the user who gives the resources away.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/fields.h"

namespace portal {

struct ResourceAssigned {
  static constexpr std::string_view kType = "ResourceAssigned";
  static constexpr int kSchema = 1;
  std::string resourceId;
  std::string kind;  // project | subscription | model | permission
  std::string service;
  std::string name;
  std::string ownerId;
  PORTAL_FIELDS(ResourceAssigned, resourceId, kind, service, name, ownerId)
};

// What the resource was and who held it when it was released, so that the release
// is in its last owner's history too (events written before these fields were
// added have only the resource's id).
struct ResourceReleased {
  static constexpr std::string_view kType = "ResourceReleased";
  static constexpr int kSchema = 1;
  std::string resourceId;
  std::optional<std::string> ownerId;
  std::optional<std::string> kind;
  std::optional<std::string> service;
  std::optional<std::string> name;
  PORTAL_FIELDS(ResourceReleased, resourceId, ownerId, kind, service, name)
};

struct TransferredResource {
  std::string resourceId;
  std::string kind;
  // For a permission the recipient already held: the recipient's resource it was
  // merged into (the transferred one ceases to exist).
  std::optional<std::string> mergedInto;
  PORTAL_FIELDS(TransferredResource, resourceId, kind, mergedInto)
};

struct ResourcesTransferred {
  static constexpr std::string_view kType = "ResourcesTransferred";
  static constexpr int kSchema = 1;
  std::string fromUserId;
  std::string toUserId;
  std::vector<TransferredResource> resources;
  PORTAL_FIELDS(ResourcesTransferred, fromUserId, toUserId, resources)
};

}  // namespace portal
