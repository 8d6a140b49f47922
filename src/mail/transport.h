#pragma once
// How a rendered mail leaves the portal: to .eml files in a directory (the default,
// for development and for relays that pick files up) or to an SMTP relay
// (smtp_transport.h).

#include <string>

#include "events/result.h"
#include "src/mail/message.h"

namespace portal {

class MailTransport {
 public:
  virtual ~MailTransport() = default;
  // Hands `message` over for delivery. `fileStem` names this delivery uniquely and
  // in log order (mailFileStem); delivering the same stem again replaces, or
  // duplicates, the earlier one. An Error when it was not handed over: kIoError
  // when a later try may succeed (the caller retries), kInvalidArgument when none
  // can (an address that cannot be sent, a recipient or a message the relay refuses
  // for good with a 5xx reply: the caller drops it). Called from one thread at a time.
  virtual Result<void> deliver(const Message& message, const std::string& fileStem) = 0;
  // Deletes what the transport still keeps of mails to `address` (compared
  // case-insensitively) in company `companyId`, when that person is anonymized.
  // Mail handed to a relay has left the portal: nothing to do. Any thread, beside
  // deliver().
  virtual Result<void> forgetRecipient(const std::string& companyId, const std::string& address) {
    (void)companyId;
    (void)address;
    return {};
  }
  // Whether it keeps what it delivers (forgetRecipient has something to delete).
  virtual bool keepsMail() const { return false; }
  // Makes a delivery in progress, and any later one, give up within a moment (the
  // Mailer stopping: a relay's wait may otherwise hold a shutdown for minutes). Any
  // thread.
  virtual void cancel() {}
  // Undoes cancel() (the Mailer started again).
  virtual void resume() {}
};

// Writes each message to "<dir>/<fileStem>.eml" (RFC 5322, CRLF; last in the header
// an `X-Portal-Company` field with the company's id, for forgetRecipient) atomically: a
// temporary file in the same directory, fsync'd, then renamed over the final name,
// so a reader of the directory sees whole messages or none. Creates the directory
// (mode 0700) when missing; the files are 0600, for they hold passwords and links.
class EmlDirectoryTransport : public MailTransport {
 public:
  explicit EmlDirectoryTransport(std::string dir);
  Result<void> deliver(const Message& message, const std::string& fileStem) override;
  // Deletes the company's .eml files whose To: is `address` (and those of files
  // from before the company header with that To:): the mail drop is in the data
  // directory, which keeps nothing of an anonymized person (DESIGN.md).
  Result<void> forgetRecipient(const std::string& companyId, const std::string& address) override;
  bool keepsMail() const override { return true; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace portal
