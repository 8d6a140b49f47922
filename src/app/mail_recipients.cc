#include "src/app/mail_recipients.h"

#include <nlohmann/json.hpp>

#include "src/app/portal.h"
#include "src/auth/passwords.h"
#include "src/domain/context.h"

namespace portal {

RecipientLookupFn mailRecipients(Portal& portal, Clock& clock) {
  return [&portal, &clock](const MailRecord& record, std::uint64_t position) -> RecipientLookup {
    if (portal.projector().position() < position) return RecipientLookup::notYetKnown();
    // A stopped view shows people as they were: someone deactivated or anonymized
    // since would still be written to. So every mail waits (and is dropped after its
    // time, as any mail whose recipient stays unknown).
    if (portal.projector().stopped(UsersProjection::kName) ||
        portal.projector().stopped(CredentialsProjection::kName))
      return RecipientLookup::notYetKnown();
    auto row = portal.users().row(record.companyId, record.userId);
    if (!row) return RecipientLookup::notYetKnown();
    auto u = nlohmann::json::parse(*row, nullptr, false);
    if (!u.is_object() || u.value("anonymized", false) || !u.value("active", true) ||
        !u["email"].is_string())
      return RecipientLookup::gone();
    // A reset mail whose link no longer works (five minutes passed while the relay
    // was down, or a newer request, a password change or a deactivation voided it)
    // would only mislead: it is not sent.
    std::optional<Timestamp> expiresAt;
    if (record.kind == kPasswordResetMail) {
      auto reset = portal.credentials().reset(tokenHash(record.secret));
      if (!reset || reset->userId != record.userId || clock.now() >= reset->expiresAt)
        return RecipientLookup::obsolete();
      expiresAt = reset->expiresAt;
    }
    // A temporary password already replaced (the owner changed it, or reset it), or
    // past its 7 days (the mail held that long by a relay that was down), no longer
    // signs in: its mail is not sent either.
    if (record.kind == kTemporaryPasswordMail) {
      auto account = portal.credentials().account(record.companyId, record.userId);
      if (!account || !account->mustChangePassword ||
          temporaryPasswordExpired(true, account->passwordSetAt, clock.now()))
        return RecipientLookup::obsolete();
      if (account->passwordSetAt.micros > 0)
        expiresAt = Timestamp{account->passwordSetAt.micros + kTemporaryPasswordMicros};
    }
    auto company = portal.credentials().companyById(record.companyId);
    return RecipientLookup::ready(Recipient{u["email"].get<std::string>(), u.value("givenName", ""),
                                            u.value("surname", ""), company ? company->name : "",
                                            expiresAt});
  };
}

}  // namespace portal
