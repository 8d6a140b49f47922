#include "projections/credentials_projection.h"

#include <algorithm>

#include "events/text.h"
#include "projections/flat_row.h"
#include "projections/row_json.h"
#include "src/store/sha256.h"

namespace portal {
namespace {

std::string slugKey(std::string_view slug) {
  return "slug" + std::string(1, '\0') + std::string(slug);
}
std::string idKey(std::string_view id) { return "id" + std::string(1, '\0') + std::string(id); }

// Logins are keyed by a hash of the email, not the email: RocksDB keeps the first
// and last keys of its table files in the MANIFEST for a while after a row is
// deleted, and an anonymized person's email must leave every file.
std::string loginKey(std::string_view company, std::string_view email) {
  return rows::key(company, toHex(sha256(emailKey(email))));
}

// The account row of `userId`: nullopt when there is none.
Result<std::optional<FlatRow>> loadAccount(RowView& view, const std::string& key) {
  auto text = view.get(CredentialsProjection::kAccounts, key);
  if (!text) return std::optional<FlatRow>();
  auto row = FlatRow::parse(*text);
  if (!row) return makeError(ErrorCode::kCorrupt, "an account row is not a flat JSON object");
  return row;
}

Result<void> saveAccount(RowView& view, const std::string& key, const FlatRow& row) {
  auto text = row.dump();
  if (!text) return makeError(ErrorCode::kCorrupt, "an account's details are not UTF-8");
  view.put(CredentialsProjection::kAccounts, key, *text);
  return {};
}

// Applies `change` to the account row of `userId`, if there is one.
template <class F>
Result<void> updateAccount(RowView& view, const std::string& company, const std::string& userId,
                           F change) {
  const std::string key = rows::key(company, userId);
  auto row = loadAccount(view, key);
  if (!row) return row.error();
  if (!*row) return {};
  change(**row);
  return saveAccount(view, key, **row);
}

}  // namespace

const std::set<std::string_view>& CredentialsProjection::handles() const {
  static const std::set<std::string_view> types = {
      CompanyProvisioned::kType,     UserCreated::kType,
      UserDeactivated::kType,        UserReactivated::kType,
      UserAnonymized::kType,         PasswordSet::kType,
      PasswordResetRequested::kType, PasswordResetCompleted::kType,
      LoginSucceeded::kType};
  return types;
}

Result<void> CredentialsProjection::apply(const RecordedEvent& event, RowView& view) {
  const std::string& company = event.envelope.companyId;
  // The account's outstanding reset link, if any, no longer works.
  auto voidReset = [&](FlatRow& r) {
    const std::string_view token = r.text("resetTokenHash");
    if (!token.empty()) view.remove(kResets, token);
    r.setString("resetTokenHash", "");
  };
  return std::visit(
      Overloaded{
          [&](const CompanyProvisioned& e) -> Result<void> {
            const rows::json row = {
                {"id", e.companyId}, {"slug", e.slug}, {"name", e.name}, {"services", e.services}};
            rows::save(view, kCompanies, slugKey(e.slug), row);
            rows::save(view, kCompanies, idKey(e.companyId), row);
            return {};
          },
          [&](const UserCreated& e) -> Result<void> {
            const std::string login = loginKey(company, e.email.value);
            // Another user's login already (a log written before emailKey's NFC or
            // domainKey): that user kept beside it, for the day this one goes.
            if (auto earlier = view.get(kLogins, login); earlier && *earlier != e.userId)
              view.put(kLogins, login + '\0' + *earlier, "");
            view.put(kLogins, login, e.userId);
            FlatRow row;
            row.setBoolean("active", e.active);
            row.setString("email", e.email.value);
            row.setBoolean("mustChangePassword", false);
            row.setString("passwordHash", "");
            row.setString("resetTokenHash", "");
            return saveAccount(view, rows::key(company, e.userId), row);
          },
          [&](const UserDeactivated& e) {
            return updateAccount(view, company, e.userId, [&](FlatRow& r) {
              r.setBoolean("active", false);
              voidReset(r);
            });
          },
          [&](const UserReactivated& e) {
            return updateAccount(view, company, e.userId,
                                 [](FlatRow& r) { r.setBoolean("active", true); });
          },
          [&](const UserAnonymized& e) -> Result<void> {
            const std::string key = rows::key(company, e.userId);
            auto row = loadAccount(view, key);
            if (!row) return row.error();
            if (*row) {
              // The login is theirs to remove only if it leads to them: a log may hold
              // two users whose addresses have one key (emailKey's NFC came later),
              // and the login leads to the later one. It then goes to the latest
              // other user of the key still there (as the write model's email index
              // does: a review found the address taken and nobody's login).
              const std::string login = loginKey(company, (**row).text("email"));
              const std::string others = login + '\0';
              view.remove(kLogins, others + e.userId);
              if (view.get(kLogins, login) == std::optional<std::string>(e.userId)) {
                view.remove(kLogins, login);
                std::vector<std::string> ids;  // by id: UUIDv7s, in the order made
                view.scan(kLogins, others, [&](std::string_view k, std::string_view) {
                  ids.emplace_back(k.substr(others.size()));
                  return true;
                });
                for (auto id = ids.rbegin(); id != ids.rend(); ++id) {
                  view.remove(kLogins, others + *id);
                  auto other = loadAccount(view, rows::key(company, *id));
                  if (!other) return other.error();
                  if (!*other) continue;  // anonymized since
                  view.put(kLogins, login, *id);
                  break;
                }
              }
              const std::string_view token = (**row).text("resetTokenHash");
              if (!token.empty()) view.remove(kResets, token);
              view.remove(kAccounts, key);
            }
            return {};
          },
          [&](const PasswordSet& e) {
            return updateAccount(view, company, e.userId, [&](FlatRow& r) {
              r.setString("passwordHash", e.passwordHash.shredded ? "" : e.passwordHash.value);
              r.setBoolean("mustChangePassword", e.temporary);
              r.setNumber("passwordSetAt",
                          static_cast<std::uint64_t>(std::max<std::int64_t>(0, event.envelope.occurredAt.micros)));
              voidReset(r);
            });
          },
          [&](const PasswordResetRequested& e) {
            return updateAccount(view, company, e.userId, [&](FlatRow& r) {
              voidReset(r);  // a newer request voids the older token
              r.setString("resetTokenHash", e.tokenHash);
              rows::save(
                  view, kResets, e.tokenHash,
                  rows::json{
                      {"companyId", company}, {"userId", e.userId}, {"expiresAt", e.expiresAt}});
            });
          },
          [&](const LoginSucceeded& e) -> Result<void> {
            if (!e.passwordHash || e.passwordHash->shredded || !e.replacesHash) return {};
            return updateAccount(view, company, e.userId, [&](FlatRow& r) {
              if (toHex(sha256(r.text("passwordHash"))) == *e.replacesHash)
                r.setString("passwordHash", e.passwordHash->value);
            });
          },
          [&](const PasswordResetCompleted& e) {
            view.remove(kResets, e.tokenHash);
            return updateAccount(view, company, e.userId,
                                 [](FlatRow& r) { r.setString("resetTokenHash", ""); });
          },
          [](const auto&) -> Result<void> { return {}; },
      },
      event.data);
}

namespace {

std::optional<CompanyRecord> parseCompany(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  rows::json j = rows::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return CompanyRecord{j.value("id", ""), j.value("slug", ""), j.value("name", ""),
                       j.value("services", std::vector<std::string>{})};
}

}  // namespace

std::optional<CompanyRecord> CredentialsReader::companyBySlug(std::string_view slug) const {
  return parseCompany(get(families_[CredentialsProjection::kCompanies], slugKey(slug)));
}

std::optional<CompanyRecord> CredentialsReader::companyById(std::string_view id) const {
  return parseCompany(get(families_[CredentialsProjection::kCompanies], idKey(id)));
}

std::optional<AccountRecord> CredentialsReader::account(std::string_view companyId,
                                                        std::string_view userId) const {
  auto text = get(families_[CredentialsProjection::kAccounts], rows::key(companyId, userId));
  if (!text) return std::nullopt;
  auto row = FlatRow::parse(*text);
  if (!row) return std::nullopt;
  return AccountRecord{std::string(companyId),
                       std::string(userId),
                       std::string(row->text("email")),
                       std::string(row->text("passwordHash")),
                       row->boolean("mustChangePassword", false),
                       row->boolean("active", false),
                       std::string(row->text("resetTokenHash")),
                       Timestamp{static_cast<std::int64_t>(row->number("passwordSetAt", 0))}};
}

std::optional<AccountRecord> CredentialsReader::accountByEmail(std::string_view companyId,
                                                               std::string_view email) const {
  auto userId = get(families_[CredentialsProjection::kLogins], loginKey(companyId, email));
  if (!userId) return std::nullopt;
  return account(companyId, *userId);
}

std::optional<ResetRecord> CredentialsReader::reset(std::string_view tokenHash) const {
  if (tokenHash.empty()) return std::nullopt;
  auto text = get(families_[CredentialsProjection::kResets], tokenHash);
  if (!text) return std::nullopt;
  rows::json j = rows::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return ResetRecord{j.value("companyId", ""), j.value("userId", ""),
                     parseRfc3339(j.value("expiresAt", "")).value_or(Timestamp{0})};
}

}  // namespace portal
