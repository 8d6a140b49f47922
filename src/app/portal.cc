#include "src/app/portal.h"

#include "events/text.h"

#include "projections/admins_projection.h"
#include "projections/groups_projection.h"
#include "projections/resources_projection.h"
#include "projections/roles_projection.h"

namespace portal {

Result<std::unique_ptr<Portal>> Portal::open(const PortalOptions& options,
                                             const CountryList& countries, Clock& clock,
                                             IdSource& ids) {
  std::unique_ptr<Portal> p(new Portal());
  p->options_ = options;
  p->readYourWrites_ = options.readYourWritesTimeout.count();
  p->ids_ = &ids;
  StoreOptions so;
  so.path = options.dataDir;
  so.createIfMissing = options.createIfMissing;
  so.recoverDamagedWal = options.recoverDamagedWal;
  auto store = EventStore::open(so);
  if (!store) return store.error();
  p->store_ = std::move(*store);
  auto projector = Projector::open(*p->store_, allProjections());
  if (!projector) return projector.error();
  p->projector_ = std::move(*projector);
  if (auto r = p->projector_->catchUp(true); !r) return r.error();
  Projector* follower = p->projector_.get();
  p->store_->onDurable([follower, also = options.onDurable](std::uint64_t position) {
    follower->notify();
    if (also) also(position);
  });
  p->projector_->start();
  auto processor = CommandProcessor::start(*p->store_, countries, clock, ids, options.processor);
  if (!processor) return processor.error();
  p->processor_ = std::move(*processor);
  return p;
}

Portal::~Portal() {
  stop();
  processor_.reset();
  projector_.reset();
  store_.reset();
}

void Portal::stop() {
  // The writer first (it answers what is queued), then the follower (it answers who
  // waits for the views); the log closes with the portal.
  // (Either is missing only in a portal whose open failed.)
  if (processor_) processor_->stop();
  if (projector_) projector_->shutDown();
}

bool Portal::sentRecently(const Submission& submission,
                          std::chrono::steady_clock::duration within) const {
  return processor_->sentRecently(submission, within);
}

std::optional<CommandReply> Portal::firstAnswer(const Submission& submission) {
  auto reply = processor_->firstAnswer(submission);
  if (reply && reply->accepted())
    reply->projected = projector_->waitFor(reply->lastPosition, std::chrono::milliseconds(readYourWrites_.load()));
  return reply;
}

// The position the views must reach before `reply` is answered (0: none). A
// decision that appended nothing (a change to what is there already, a refusal) was
// made on state that may hold events the views do not show yet, another command's
// just written: its answer waits for those too, so that what it reads back is what
// it was decided on. They are durable when it is answered.
std::uint64_t Portal::answeredAt(const CommandReply& reply) const {
  if (reply.lastPosition != 0) return reply.lastPosition;
  return reply.status == CommandReply::Status::kFailed ? 0 : store_->lastPosition();
}

CommandReply Portal::execute(Submission submission) {
  CommandReply reply = processor_->execute(std::move(submission));
  if (const std::uint64_t position = answeredAt(reply); position != 0)
    reply.projected = projector_->waitFor(position, std::chrono::milliseconds(readYourWrites_.load()));
  return reply;
}

void Portal::submit(Submission submission, std::function<void(CommandReply)> done) {
  processor_->submit(std::move(submission), [this, done = std::move(done)](CommandReply reply) mutable {
    const std::uint64_t position = answeredAt(reply);
    if (position == 0) return done(std::move(reply));
    auto shared = std::make_shared<CommandReply>(std::move(reply));
    projector_->whenReached(position, std::chrono::milliseconds(readYourWrites_.load()),
                            [shared, done = std::move(done)](bool reached) mutable {
      shared->projected = reached;
      done(std::move(*shared));
    });
  });
}

CommandReply Portal::execute(Command command) {
  Submission s;
  s.command = std::move(command);
  s.commandId = ids_->newId();
  s.correlationId = s.commandId;
  return execute(std::move(s));
}

UsersReader Portal::users(const ViewMoment& at) const {
  auto pin = std::make_shared<Projector::Reading>(*projector_);
  return UsersReader(
      store_->db(), projector_->handle(UsersProjection::kName, UsersProjection::kRows),
      projector_->handle(UsersProjection::kName, UsersProjection::kSearch), std::move(pin), at);
}

ViewMoment Portal::moment() const {
  // The generation first: the snapshot then sees the rows the readers' handles name.
  return momentOf(store_->db(), std::make_shared<Projector::Reading>(*projector_));
}

AuditReader Portal::audit() const {
  UsersReader users = this->users();  // pins the generations of both views
  return AuditReader(*store_, projector_->handle(AuditProjection::kName, 0), std::move(users),
                     processor_ && processor_->timesOrdered());
}

CredentialsReader Portal::credentials() const {
  auto pin = std::make_shared<Projector::Reading>(*projector_);
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  for (int f = 0; f < 4; ++f) families.push_back(projector_->handle(CredentialsProjection::kName, f));
  return CredentialsReader(store_->db(), std::move(families), std::move(pin));
}

ListReader Portal::listOf(std::string_view projection, int family, int members,
                          const ViewMoment& at) const {
  // The generation is pinned before its handles are read: a switch in between would
  // drop them.
  auto pin = std::make_shared<Projector::Reading>(*projector_);
  return ListReader(store_->db(), projector_->handle(projection, family), std::move(pin),
                    members < 0 ? nullptr : projector_->handle(projection, members), at);
}

ListReader Portal::admins(const ViewMoment& at) const {
  return listOf(AdminsProjection::kName, 0, -1, at);
}

ListReader Portal::resources(const ViewMoment& at) const {
  return listOf(ResourcesProjection::kName, ResourcesProjection::kResources, -1, at);
}

ListReader Portal::groups(const ViewMoment& at) const {
  return listOf(GroupsProjection::kName, GroupsProjection::kGroups, GroupsProjection::kMembers, at);
}

ListReader Portal::groupsByMember(const ViewMoment& at) const {
  return listOf(GroupsProjection::kName, GroupsProjection::kGroups, GroupsProjection::kByMember,
                at);
}

ListReader Portal::roles(const ViewMoment& at) const {
  return listOf(RolesProjection::kName, 0, -1, at);
}

std::vector<std::string> Portal::resourcesOf(const std::string& companyId,
                                             const std::string& ownerId,
                                             const ViewMoment& at) const {
  ViewReader reader(store_->db(), std::make_shared<Projector::Reading>(*projector_), at);
  return resourcesOwnedBy(reader, projector_->handle(ResourcesProjection::kName, ResourcesProjection::kByOwner),
                          companyId, ownerId);
}

}  // namespace portal
