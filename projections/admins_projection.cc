#include "projections/admins_projection.h"

#include "projections/row_json.h"

namespace portal {

const std::set<std::string_view>& AdminsProjection::handles() const {
  static const std::set<std::string_view> types = {AdminIncluded::kType, AdminRemoved::kType};
  return types;
}

Result<void> AdminsProjection::apply(const RecordedEvent& event, RowView& view) {
  const std::string& company = event.envelope.companyId;
  if (const auto* e = std::get_if<AdminIncluded>(&event.data)) {
    rows::save(view, 0, rows::key(company, e->userId),
               rows::json{{"userId", e->userId},
                          {"since", rows::time(event.envelope)},
                          {"includedBy", e->includedBy}});
  } else if (const auto* r = std::get_if<AdminRemoved>(&event.data)) {
    view.remove(0, rows::key(company, r->userId));
  }
  return {};
}

std::string adminEntryJson(std::string_view userJson, std::string_view adminRowJson) {
  const rows::json u = rows::json::parse(userJson, nullptr, false);
  rows::json a = rows::json::parse(adminRowJson, nullptr, false);
  if (!a.is_object()) a = rows::json::object();
  return rows::json{{"user", u.is_discarded() ? rows::json(nullptr) : u},
                    {"isOwner", u.is_object() && u.value("isOwner", false)},
                    // An administrator no more (a repeated request's answer, after a
                    // removal): null, not an empty time and id.
                    {"since", a.contains("since") ? a["since"] : rows::json(nullptr)},
                    {"includedBy", a.contains("includedBy") ? a["includedBy"] : rows::json(nullptr)}}
      .dump();
}

}  // namespace portal
