#pragma once
// The portal's core wired together: the event log, the command processor (the one
// writer), the projector that follows the log, and the readers of the views. The
// server, the tools and the tests all start it the same way.
//
// Threads: execute()/submit() and every reader are safe from any thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "projections/audit_projection.h"
#include "projections/credentials_projection.h"
#include "projections/list_reader.h"
#include "projections/projector.h"
#include "projections/users_projection.h"
#include "src/app/command_processor.h"
#include "src/store/event_store.h"

namespace portal {

struct PortalOptions {
  std::string dataDir;
  bool createIfMissing = true;
  bool recoverDamagedWal = true;  // StoreOptions'
  ProcessorOptions processor;
  // How long execute() waits for the projections to show a command's events.
  std::chrono::milliseconds readYourWritesTimeout{10'000};
  // Called with the new last position after each write that made events durable,
  // on the store's sync thread, after the projector is woken: another follower of
  // the log (the server's publisher). It must be quick.
  std::function<void(std::uint64_t)> onDurable;
};

class Portal {
 public:
  // Opens the log, rebuilds the write model, brings every projection up to the log's
  // head and starts following it. `countries`, `clock` and `ids` must outlive it.
  static Result<std::unique_ptr<Portal>> open(const PortalOptions& options,
                                              const CountryList& countries, Clock& clock,
                                              IdSource& ids);
  ~Portal();  // stop()s
  Portal(const Portal&) = delete;
  Portal& operator=(const Portal&) = delete;

  // Runs a command and returns once it is durable and, when accepted, shown by the
  // projections (read-your-writes; `projected` is false when they did not get there
  // within the timeout, e.g. because one has stopped).
  CommandReply execute(Submission submission);
  // The same without waiting: `done` gets the reply once it is durable and
  // projected, on the store's or the projector's thread; it must be short.
  void submit(Submission submission, std::function<void(CommandReply)> done);
  // The first answer to the submission's Idempotency-Key without running anything
  // (CommandProcessor::firstAnswer), once durable and projected as execute()'s are:
  // `projected` false when it did not get there within the timeout.
  std::optional<CommandReply> firstAnswer(const Submission& submission);
  // CommandProcessor::sentRecently.
  bool sentRecently(const Submission& submission, std::chrono::steady_clock::duration within) const;
  // Stops taking commands and answers every one submitted (those whose views had
  // not caught up with `projected` false), before it returns: a server stops its
  // portal while the connections those answers go to still exist. Queries still
  // work afterwards.
  void stop();
  // Runs `command` with a generated command id (no idempotency).
  CommandReply execute(Command command);
  // How long an answer waits for the views (PortalOptions::readYourWritesTimeout).
  void setReadYourWritesTimeout(std::chrono::milliseconds t) { readYourWrites_ = t.count(); }

  EventStore& store() { return *store_; }
  CommandProcessor& processor() { return *processor_; }
  Projector& projector() { return *projector_; }

  // Readers of the current generation of the views. Each holds a Projector::Reading
  // while it lives, so a rebuild's switch waits for it: keep them short-lived.
  // `at`: the moment they read (moment()), for an answer that joins views; empty:
  // each read sees the latest.
  UsersReader users(const ViewMoment& at = {}) const;
  AuditReader audit() const;
  CredentialsReader credentials() const;
  ListReader admins(const ViewMoment& at = {}) const;
  ListReader resources(const ViewMoment& at = {}) const;
  ListReader groups(const ViewMoment& at = {}) const;
  // The groups view the other way round: its memberIds(company, userId, ...) are the
  // ids of the user's groups (read their rows through groups()).
  ListReader groupsByMember(const ViewMoment& at = {}) const;
  // A user's roles: list(RolesProjection::userList(company, user), ...).
  ListReader roles(const ViewMoment& at = {}) const;
  // The views as they are now, for readers that must agree (ViewMoment).
  ViewMoment moment() const;
  // The ids of the resources `ownerId` owns, from the resources view.
  std::vector<std::string> resourcesOf(const std::string& companyId, const std::string& ownerId,
                                       const ViewMoment& at = {}) const;

 private:
  // `members`: the family of the rows' members (ListReader), or -1.
  ListReader listOf(std::string_view projection, int family, int members,
                    const ViewMoment& at) const;
  std::uint64_t answeredAt(const CommandReply& reply) const;
  Portal() = default;
  PortalOptions options_;
  std::atomic<std::int64_t> readYourWrites_;  // milliseconds
  IdSource* ids_ = nullptr;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Projector> projector_;
  std::unique_ptr<CommandProcessor> processor_;
};

}  // namespace portal
