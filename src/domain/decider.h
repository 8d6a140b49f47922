#pragma once
// The deciders: decide(state, command, context) -> events or a Rejection. Pure: no
// I/O, no clock or randomness but what the context passes in. The command processor
// applies the events to the write model with WriteModel::apply (evolve) before it
// decides the next command.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/event.h"
#include "src/domain/commands.h"
#include "src/domain/context.h"
#include "src/domain/rejection.h"
#include "src/domain/write_model.h"

namespace portal {

// An event to append, with the stream it goes to. The processor adds the rest of
// the envelope (time, actor, company, command and correlation ids).
struct PendingEvent {
  std::string stream;
  EventData data;
};

// A resource a deactivation handed over, as its answer shows it (also when the answer
// is given again later): as it was named, now the recipient's; a permission merged
// into the recipient's own names that one in `mergedInto` (this one is gone).
struct HandedOver {
  std::string resourceId, kind, service, name, ownerId;
  std::optional<std::string> mergedInto;
};

struct Decision {
  std::string companyId;  // the company the events belong to
  std::vector<PendingEvent> events;  // may be empty: accepted with nothing to change
  std::vector<std::string> shred;    // people whose data keys go with these events
  // What the caller gets back: the id of what was created or acted on, and for a
  // deactivation the resources handed over.
  std::string id;
  std::vector<std::string> ids;  // created users of an import, or other ids
  std::vector<HandedOver> transferred;
  // An import's warnings about the managers of its rows ("row N: managerEmail",
  // kManagerNotInPool or kManagerDeactivated), judged against the pool as it is
  // when the users are created, a dry run's too. Not kept for a repeated key.
  std::vector<FieldProblem> warnings;
};

using Outcome = std::variant<Decision, Rejection>;

Outcome decide(const WriteModel& state, const Command& command, DecisionContext& context);

// The rules on a new group's and a new resource's fields that need nothing of the
// write model but the company's services: the decider's own, and the API's for the
// fields whose JSON type was right when another's was not, so that a form learns
// every problem at once.
std::vector<FieldProblem> groupFieldProblems(std::string_view name,
                                             const std::optional<std::string>& description);
std::vector<FieldProblem> resourceFieldProblems(const RegisterResource& c,
                                                const std::vector<std::string>& services);
// The same for a user's patch, each value judged as new (the decider passes over one
// sent back unchanged, which may be of an older log's rules).
std::vector<FieldProblem> userPatchProblems(const UpdateUser& c, const CountryList& countries);

}  // namespace portal
