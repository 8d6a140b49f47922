#pragma once
// The resources view. Families:
//   resources  company, NUL, resource id -> {id, kind, service, name, ownerId}
//   byOwner    company, NUL, owner id, NUL, resource id -> ""

#include "projections/projection.h"

namespace portal {

class ResourcesProjection final : public Projection {
 public:
  static constexpr const char* kName = "resources_v1";
  enum Family { kResources = 0, kByOwner = 1 };
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"resources", "byOwner"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
};

}  // namespace portal
