#pragma once
// Debian's nats-server with JetStream, run by a test on a loopback port, and what a
// JetStream stream holds, read through the NATS C client: for the tests of the log
// published to NATS (src/publish).

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace portal::test {

class NatsServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/nats-server";
  // Started on a free port, its store and its log in `dir` (made if missing), with
  // `config` as its configuration file's text when given ("max_payload: 2048").
  explicit NatsServer(const std::string& dir, const std::string& config = "");
  ~NatsServer();  // stop()s
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  bool ready() const { return ready_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  std::string log() const;
  // Stops it (SIGTERM) and waits for its end.
  void stop();
  // Starts it again, on the same port with the same store; whether it is ready.
  bool start();
  // Freezes it (SIGSTOP): connections to it are made by the system, and wait for
  // it; and thaws it (SIGCONT).
  void pause();
  void resume();
  // Connections made to it that it has not closed, those waiting while it is
  // frozen too (from /proc/net/tcp).
  int connections() const;

 private:
  bool exited();
  std::string dir_, config_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool exited_ = true, ready_ = false;
};

struct StreamMessage {
  std::string subject, data;
  std::map<std::string, std::string> headers;
};

// Every message of `stream`, by sequence from the first; throws std::runtime_error
// when it cannot be read.
std::vector<StreamMessage> streamMessages(const std::string& url, const std::string& stream);

// Makes a stream named `name` that takes `subjects` (as an operator would by hand),
// with messages of `maxMessageBytes` at most (-1: any), holding `maxMessages` at most
// (-1: any), past which it drops its oldest or, `discardNew`, refuses the new one.
void makeStream(const std::string& url, const std::string& name, const std::string& subjects,
                std::int32_t maxMessageBytes = -1, std::int64_t maxMessages = -1,
                bool discardNew = false);

// Publishes one message to JetStream by hand; throws when it is not stored.
void publishByHand(const std::string& url, const StreamMessage& message);

// Makes `dir`/cert.pem, a certificate for 127.0.0.1 that is its own CA, and its key
// `dir`/key.pem, with Debian's openssl (as an operator would); throws when it fails.
// (TLS to a NATS server: `tlsConfig` is the configuration that serves with them,
// and with `clientCa` asks each client for a certificate that chains to it.)
void makeCertificate(const std::string& dir);
std::string tlsConfig(const std::string& dir, const std::string& clientCa = "");

}  // namespace portal::test
