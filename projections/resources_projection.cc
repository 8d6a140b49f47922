#include "projections/resources_projection.h"

#include "projections/row_json.h"

namespace portal {
namespace {

std::string ownerKey(const std::string& company, const std::string& owner, const std::string& id) {
  std::string k = rows::key(company, owner);
  k.push_back('\0');
  k += id;
  return k;
}

}  // namespace

const std::set<std::string_view>& ResourcesProjection::handles() const {
  static const std::set<std::string_view> types = {
      ResourceAssigned::kType, ResourceReleased::kType, ResourcesTransferred::kType};
  return types;
}

Result<void> ResourcesProjection::apply(const RecordedEvent& event, RowView& view) {
  const std::string& company = event.envelope.companyId;
  auto remove = [&](const std::string& id) -> Result<void> {
    auto row = rows::load(view, kResources, rows::key(company, id));
    if (!row) return row.error();
    if (!*row) return {};
    view.remove(kByOwner, ownerKey(company, (**row).value("ownerId", ""), id));
    view.remove(kResources, rows::key(company, id));
    return {};
  };
  if (const auto* e = std::get_if<ResourceAssigned>(&event.data)) {
    rows::save(view, kResources, rows::key(company, e->resourceId),
               rows::json{{"id", e->resourceId},
                          {"kind", e->kind},
                          {"service", e->service},
                          {"name", e->name},
                          {"ownerId", e->ownerId}});
    view.put(kByOwner, ownerKey(company, e->ownerId, e->resourceId), "");
  } else if (const auto* r = std::get_if<ResourceReleased>(&event.data)) {
    return remove(r->resourceId);
  } else if (const auto* t = std::get_if<ResourcesTransferred>(&event.data)) {
    for (const auto& moved : t->resources) {
      if (moved.mergedInto) {
        if (auto r = remove(moved.resourceId); !r) return r;
        continue;
      }
      auto row = rows::load(view, kResources, rows::key(company, moved.resourceId));
      if (!row) return row.error();
      if (!*row) continue;
      view.remove(kByOwner, ownerKey(company, (**row).value("ownerId", ""), moved.resourceId));
      (**row)["ownerId"] = t->toUserId;
      rows::save(view, kResources, rows::key(company, moved.resourceId), **row);
      view.put(kByOwner, ownerKey(company, t->toUserId, moved.resourceId), "");
    }
  }
  return {};
}

}  // namespace portal
