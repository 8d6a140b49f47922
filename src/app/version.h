#pragma once
// What was built: the commit of the sources (`git describe --always --dirty`, or
// "unknown" when built outside a git checkout), for the programs' --version and the
// server's /metrics.

#include <string>

namespace portal {

std::string portalCommit();

// "<program> (company user portal) commit <commit>", what --version prints.
std::string versionLine(const std::string& program);

}  // namespace portal
