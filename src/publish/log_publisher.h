#pragma once
// Publishes the event log, in order and exactly once, to a NATS JetStream stream
// (DESIGN.md "Scale"), from which read replicas and other services follow it.
//
// Each event goes as its stored bytes, to the subject `<stream>.<companyId>`, with
// these headers:
//   Nats-Msg-Id       its position, '.', its hash (JetStream's de-duplication)
//   Portal-Position   its position
//   Portal-Type       its type (UserCreated, ...)
//   Portal-Prev-Hash  the hash chain's links, lower-case hex: a follower checks the
//   Portal-Hash       chain as portal-replay verify does (chainProblem)
// The stored bytes hold every person's fields sealed under their key, which stays
// here: the stream holds no one's data in clear, and an anonymization (the key
// deleted) closes their fields there as here.
//
// Exactly once, in order, with no gap: the stream's sequence numbers are the log's
// positions. At each connection the publisher reads the stream's last message and
// goes on after the position it holds, once it has checked that its sequence is
// that position and its hash is this log's event's. A stream of another log, one
// with a message lost or added, or a log restored from a copy older than what the
// stream holds, is refused (said, and nothing more published), not written into.
// Each message is sent expecting the stream's last sequence to be its position
// less one, and (after a connection's first) its last message to be this log's
// event before it, so that when one is lost every later one is refused too, and
// the next connection sends them again from the stream's last; and another log's
// messages sent at the same moment are refused, not taken for repeats.
//
// A stream it does not find it creates: file storage, subjects `<stream>.>`, with
// deleting and purging its messages denied.
//
// Threads: one of its own, and nats.c's. Every member is safe from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace portal {

class EventStore;

struct PublisherOptions {
  std::string url;                // nats://HOST:PORT, or tls://HOST:PORT for TLS
  std::string stream = "portal";  // the stream's name, and its subjects' first word
  // With a tls:// URL: the CA certificates (PEM text) that the server's certificate
  // must chain to, empty for the system's; the certificate must also name the URL's
  // HOST (nats.c checks the name only when told it).
  std::string caPem;
  // With a tls:// URL, for a server that verifies its clients: this one's certificate
  // (chain) and its private key, not encrypted (PEM text); both or neither.
  std::string certPem, keyPem;
  // The NATS server's authorization, when it asks for one: a user and password, or
  // a token (see credentialProblem).
  std::string user, password, token;
  // Where its lines go: connected, lost, refused (one line each, no line break).
  std::function<void(const std::string&)> log;
  // After a lost or failed connection: the first wait, doubled up to the last.
  std::chrono::milliseconds retryFirst{1000}, retryMost{30'000};
  std::size_t batch = 512;  // messages sent before their acknowledgements are awaited
  std::chrono::milliseconds timeout{5000};  // a request's, a batch's acknowledgements
  // A connection's to be made (a stop waits for one being made: a server that does
  // not answer, an address that goes nowhere, held a stop 5.9 s with 5 s here).
  std::chrono::milliseconds connectTimeout{2000};
};

class LogPublisher {
 public:
  LogPublisher(const EventStore& store, PublisherOptions options);
  ~LogPublisher();  // stop()s
  LogPublisher(const LogPublisher&) = delete;
  LogPublisher& operator=(const LogPublisher&) = delete;

  void start();
  // Returns once its thread has ended: at once, or within the options' timeout when
  // it is connecting to a server that does not answer.
  void stop();
  // The log has grown (EventStore::onDurable).
  void notify();

  // The last position the stream holds, as JetStream acknowledged it (0: none yet,
  // or not known yet: see streamKnown()).
  std::uint64_t published() const;
  // Whether published() is what the stream holds: once a connection has read it.
  bool streamKnown() const;
  bool connected() const;
  // Connections that failed or were lost.
  std::uint64_t failures() const;
  // Why it publishes no more (a stream that is not this log's), empty while it does.
  std::string refused() const;
  // Waits until published() reaches `position`, it has refused, or `timeout` has
  // passed; whether published() reached it.
  bool waitPublished(std::uint64_t position, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// What is wrong with a stream's name (letters, digits, '-' and '_', 1 to 64 of
// them: it is the first word of the subjects too), nullopt when it can be taken.
std::optional<std::string> streamNameProblem(const std::string& name);
// A file given to a --nats-… flag, read once at the start: nothing is read, nor a
// passphrase asked for, on the publisher's thread. `problem`, when it cannot be
// taken: it cannot be read, is a directory, or is empty (said after its path).
struct NatsFile {
  std::string text, problem;
};
NatsFile readNatsFile(const std::string& path);
// What is wrong with CA certificates for `caPem` (none that the NATS client can
// load), nullopt when they can be taken.
std::optional<std::string> caProblem(const std::string& pem);
// What is wrong with a client certificate and key for `certPem` and `keyPem` (an
// encrypted key, which would have OpenSSL ask for its passphrase on the terminal;
// not PEM; a key that is not the certificate's), nullopt when they can be taken.
std::optional<std::string> clientCertificateProblem(const std::string& certPem,
                                                    const std::string& keyPem);
// What is wrong with a NATS user name, password or token: nats.c writes them into
// its CONNECT message's JSON as they are, so a quote, a backslash or a control
// character would break it (or add fields to it).
std::optional<std::string> credentialProblem(std::string_view value);

}  // namespace portal
