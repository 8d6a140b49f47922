#pragma once
// Provisioning a company with its owner: a temporary password is made, its
// Argon2id hash goes into the ProvisionCompany command, and the owner's mail with
// the password is queued in the same append. portalctl, the server's operator
// socket and the demo company all provision through here.

#include <string>

#include "events/result.h"
#include "src/domain/commands.h"
#include "src/domain/rejection.h"

namespace portal {

class Portal;
class PasswordHasher;

struct Provisioned {
  std::string companyId, ownerId, temporaryPassword;
};

// Rejected commands come back as an Error whose message names the code and the
// problems ("company-exists: …", "validation-failed: owner.email is required").
Result<Provisioned> provisionCompany(Portal& portal, const PasswordHasher& hasher,
                                     ProvisionCompany command);

// A Rejection as one line: its code, message and problems.
std::string describeRejection(const Rejection& rejection);

}  // namespace portal
