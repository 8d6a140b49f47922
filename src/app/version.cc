#include "src/app/version.h"

#include "portal_version.h"

namespace portal {

std::string portalCommit() { return PORTAL_COMMIT; }

std::string versionLine(const std::string& program) {
  return program + " (company user portal) commit " + portalCommit();
}

}  // namespace portal
