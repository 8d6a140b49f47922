#include "src/app/provisioning.h"

#include "src/app/portal.h"
#include "src/auth/passwords.h"
#include "src/mail/outbox.h"

namespace portal {

std::string describeRejection(const Rejection& rejection) {
  // "validation-failed: Some fields are missing or invalid: company must be …; …"
  std::string line = rejection.code + ": " + rejection.message;
  if (!rejection.problems.empty() && line.ends_with('.')) line.pop_back();
  for (std::size_t i = 0; i < rejection.problems.size(); ++i)
    line +=
        (i == 0 ? ": " : "; ") + rejection.problems[i].field + " " + rejection.problems[i].message;
  return line;
}

Result<Provisioned> provisionCompany(Portal& portal, const PasswordHasher& hasher,
                                     ProvisionCompany command) {
  Provisioned out;
  out.temporaryPassword = newTemporaryPassword();
  auto hash = hasher.hash(out.temporaryPassword);
  if (!hash) return hash.error();
  command.temporaryPasswordHash = *hash;
  const std::string slug = command.slug;
  Submission s;
  s.command = Command{"", kSystem, std::move(command)};
  s.commandId = "provision-" + slug;
  s.correlationId = s.commandId;
  // The mail names the sign-in address the mailer knows when it makes the mail.
  s.outbox = [secret = out.temporaryPassword, slug](const Decision& d) {
    MailRecord mail;
    mail.kind = std::string(kTemporaryPasswordMail);
    mail.companyId = d.companyId;
    mail.userId = d.ids.empty() ? std::string() : d.ids.front();
    mail.secret = secret;
    mail.companySlug = slug;
    return std::vector<std::string>{encodeMailRecord(mail)};
  };
  CommandReply reply = portal.execute(std::move(s));
  if (reply.status == CommandReply::Status::kFailed)
    return makeError(ErrorCode::kIoError, reply.failure);
  if (reply.status == CommandReply::Status::kRejected)
    return makeError(ErrorCode::kInvalidArgument, describeRejection(reply.rejection));
  out.companyId = reply.decision.companyId;
  out.ownerId = reply.decision.ids.empty() ? std::string() : reply.decision.ids.front();
  return out;
}

}  // namespace portal
