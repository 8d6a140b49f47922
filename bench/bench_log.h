#pragma once
// The log the read-side benchmarks share (bench_commands' rebuild, bench_tools): one
// company "bench" (id kBenchCompany) and `events` mixed events: half of them
// UserCreated (users "u0", "u1", …), the rest updates, role grants, groups, group
// members and resources of earlier users, written straight through the store in
// appends of 1,000.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "src/store/event_store.h"

namespace portal::bench {

inline constexpr std::string_view kBenchCompany = "7f2e4d10-3a4b-4c5d-8e9f-a0b1c2d3e4f5";

// A log of `events` mixed events, written straight through the store.
inline void buildLog(EventStore& store, std::uint64_t events) {
  const std::string company(kBenchCompany);
  auto envelope = [&](std::string stream, EventData data) {
    return NewEvent{std::move(stream), std::move(data), Timestamp{1'795'000'000'000'000},
                    "owner", company, "cmd", "corr"};
  };
  AppendRequest first;
  first.events.push_back(envelope(companyStream(company),
                                  CompanyProvisioned{company, "bench", "Bench", {"modeler"}, "u0"}));
  if (!store.append(first)) std::exit(1);
  std::uint64_t written = 1, users = 0, groups = 0;
  while (written < events) {
    AppendRequest r;
    for (int i = 0; i < 1000 && written < events; ++i, ++written) {
      const std::uint64_t n = written;
      const std::string uid = "u" + std::to_string(users ? n % users : 0);
      switch (n % 10) {
        case 0: case 1: case 2: case 3: case 4: {
          UserCreated e;
          e.userId = "u" + std::to_string(users++);
          e.email = "person." + std::to_string(n) + "@example-company.com";
          e.givenName = "Given" + std::to_string(n);
          e.surname = "Surname" + std::to_string(n);
          e.jobTitle = "Senior Process Analyst";
          e.managerUserId = "u0";
          e.country = "DE";
          r.events.push_back(envelope(userStream(e.userId), std::move(e)));
          break;
        }
        case 5: {
          UserUpdated e;
          e.userId = uid;
          e.surname = Personal("Renamed" + std::to_string(n));
          r.events.push_back(envelope(userStream(uid), std::move(e)));
          break;
        }
        case 6: r.events.push_back(envelope(userStream(uid), RoleGranted{uid, "modeler", "editor"})); break;
        case 7: r.events.push_back(envelope(groupStream("g" + std::to_string(groups)),
                                            GroupCreated{"g" + std::to_string(groups), "Group " + std::to_string(groups), std::nullopt}));
                ++groups;
                break;
        case 8:
          r.events.push_back(
              envelope(groupStream("g" + std::to_string(n % (groups + 1))),
                       GroupMemberAdded{"g" + std::to_string(n % (groups + 1)), uid,
                                        "Group " + std::to_string(n % (groups + 1))}));
          break;
        case 9: r.events.push_back(envelope(companyStream(company),
                                            ResourceAssigned{"r" + std::to_string(n), "project", "modeler", "Project", uid}));
                break;
      }
    }
    if (!store.append(r)) std::exit(1);
  }
}

}  // namespace portal::bench
