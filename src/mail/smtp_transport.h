#pragma once
// Delivery to an SMTP relay (RFC 5321): one plain connection per message, no TLS and
// no authentication, so the relay is one on this machine or on a trusted network
// that accepts mail from the portal's address (a local Postfix, a company relay).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "src/mail/transport.h"

namespace portal {

struct SmtpOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 25;
  std::string heloName = "localhost";  // this machine's name, sent with EHLO/HELO
  // The most each step may take: resolving, connecting, each reply, sending.
  std::chrono::milliseconds stepTimeout = std::chrono::seconds(30);
  // The wait for the relay to take the message once all of it is sent: RFC 5321's
  // 10 minutes (4.5.3.2.6), since a relay that scans mail may take long, and giving
  // up sooner has the mail sent again after the relay took it.
  std::chrono::milliseconds acceptTimeout = std::chrono::minutes(10);
};

// A small synchronous SMTP client: greeting (220), EHLO (falling back to HELO), MAIL
// FROM (with BODY=8BITMIME when the relay offers it), RCPT TO, DATA with
// dot-stuffing, QUIT. Any unexpected reply, a timeout or a broken connection is an
// Error (kIoError) naming the step and quoting the relay's reply line; addresses
// that would break the command syntax are refused (kInvalidArgument) before
// anything is sent. The transport holds no connection between calls; deliver() may
// be called from one thread at a time.
class SmtpTransport : public MailTransport {
 public:
  explicit SmtpTransport(SmtpOptions options);
  SmtpTransport(std::string host, std::uint16_t port, std::string heloName);
  Result<void> deliver(const Message& message, const std::string& fileStem) override;
  void cancel() override { cancelled_ = true; }
  void resume() override { cancelled_ = false; }

 private:
  SmtpOptions options_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace portal
