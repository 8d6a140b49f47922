#include "tests/nats_server.h"

#include <nats/nats.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "tests/programs.h"
#include "tests/test_support.h"

namespace portal::test {

NatsServer::NatsServer(const std::string& dir, const std::string& config) : dir_(dir) {
  std::filesystem::create_directories(dir_);
  if (!config.empty()) {
    config_ = dir_ + "/nats.conf";
    std::ofstream(config_) << config << "\n";
  }
  // The port is free when looked up, not necessarily when nats-server binds it
  // (other tests run beside): a server that exits at once is started on another.
  for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
    port_ = freePort();
    if (!start() && !exited_) break;  // hung: the destructor stops it
  }
}

NatsServer::~NatsServer() { stop(); }

std::string NatsServer::log() const { return readFile(dir_ + "/nats.log"); }

void NatsServer::stop() {
  ready_ = false;
  if (exited_) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exited_ = true;
}

bool NatsServer::start() {
  std::vector<std::string> args{
      kBinary, "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd", dir_ + "/store"};
  if (!config_.empty()) args.insert(args.end(), {"-c", config_});
  pid_ = spawn(args, dir_ + "/nats.log");
  if (pid_ < 0) return false;
  exited_ = false;
  ready_ = waitFor([&] { return exited() || greets(port_, "INFO"); }) && !exited();
  return ready_;
}

void NatsServer::pause() {
  if (!exited_) ::kill(pid_, SIGSTOP);
}

void NatsServer::resume() {
  if (!exited_) ::kill(pid_, SIGCONT);
}

int NatsServer::connections() const {
  // Lines "sl local_address rem_address st ...": 0100007F:PPPP, state 01 established.
  std::istringstream table(readFile("/proc/net/tcp"));
  std::string line;
  char port[5];
  std::snprintf(port, sizeof port, "%04X", port_);
  int count = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (local == std::string("0100007F:") + port && state == "01") ++count;
  }
  return count;
}

bool NatsServer::exited() {
  if (exited_) return true;
  int status = 0;
  exited_ = ::waitpid(pid_, &status, WNOHANG) == pid_;
  return exited_;
}

namespace {

struct Connection {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit Connection(const std::string& url) {
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK ||
        natsConnection_JetStream(&js, nc, nullptr) != NATS_OK)
      throw std::runtime_error("cannot reach JetStream at " + url);
  }
  ~Connection() {
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
  }
};

}  // namespace

std::vector<StreamMessage> streamMessages(const std::string& url, const std::string& stream) {
  Connection c(url);
  jsStreamInfo* info = nullptr;
  if (js_GetStreamInfo(&info, c.js, stream.c_str(), nullptr, nullptr) != NATS_OK)
    throw std::runtime_error("no stream " + stream);
  const std::uint64_t first = info->State.FirstSeq, last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  std::vector<StreamMessage> out;
  for (std::uint64_t seq = first; last != 0 && seq <= last; ++seq) {
    natsMsg* msg = nullptr;
    if (js_GetMsg(&msg, c.js, stream.c_str(), seq, nullptr, nullptr) != NATS_OK)
      throw std::runtime_error("cannot read message " + std::to_string(seq) + " of " + stream);
    StreamMessage m;
    m.subject = natsMsg_GetSubject(msg);
    m.data.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char* value = nullptr;
        if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK) m.headers[keys[i]] = value;
      }
      std::free(static_cast<void*>(keys));
    }
    natsMsg_Destroy(msg);
    out.push_back(std::move(m));
  }
  return out;
}

void makeStream(const std::string& url, const std::string& name, const std::string& subjects,
                std::int32_t maxMessageBytes, std::int64_t maxMessages, bool discardNew) {
  Connection c(url);
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = name.c_str();
  const char* list[] = {subjects.c_str()};
  config.Subjects = list;
  config.SubjectsLen = 1;
  config.MaxMsgSize = maxMessageBytes;
  config.MaxMsgs = maxMessages;
  config.Discard = discardNew ? js_DiscardNew : js_DiscardOld;
  jsStreamInfo* info = nullptr;
  if (js_AddStream(&info, c.js, &config, nullptr, nullptr) != NATS_OK)
    throw std::runtime_error("cannot make the stream " + name);
  jsStreamInfo_Destroy(info);
}

void makeCertificate(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const ProgramRun made =
      runProgram({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/key.pem", "-out",
                  dir + "/cert.pem", "-days", "2", "-subj", "/CN=portal-test", "-addext",
                  "subjectAltName=IP:127.0.0.1"});
  if (made.exitCode != 0) throw std::runtime_error("openssl made no certificate: " + made.err);
}

std::string tlsConfig(const std::string& dir, const std::string& clientCa) {
  return "tls { cert_file: \"" + dir + "/cert.pem\", key_file: \"" + dir + "/key.pem\"" +
         (clientCa.empty() ? std::string() : ", ca_file: \"" + clientCa + "\", verify: true") +
         " }";
}

void publishByHand(const std::string& url, const StreamMessage& message) {
  Connection c(url);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, message.subject.c_str(), nullptr, message.data.data(),
                                static_cast<int>(message.data.size()));
  for (const auto& [key, value] : message.headers)
    // (Not the expectations it was stored with: they were of its first stream.)
    if (s == NATS_OK && !key.starts_with("Nats-Expected"))
      s = natsMsgHeader_Set(msg, key.c_str(), value.c_str());
  jsPubAck* ack = nullptr;
  if (s == NATS_OK) s = js_PublishMsg(&ack, c.js, msg, nullptr, nullptr);
  jsPubAck_Destroy(ack);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) throw std::runtime_error("cannot publish to " + message.subject);
}

}  // namespace portal::test
