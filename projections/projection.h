#pragma once
// A projection: one view of the log (users, administrators, resources, groups,
// audit). It declares the event types it handles and the column families it owns;
// the Projector feeds it only those events, in log order, and writes its row
// changes and its checkpoint in one WriteBatch, so that a crash can neither skip
// nor repeat an event.
//
// A projection's name carries a version ("users_v1"): one whose logic changes gets a
// new name and is rebuilt beside the old one. Its column families are named
// "<name>.<family>.g<generation>"; a rebuild fills the next generation while the
// current one serves, then switches.
//
// Reducers read the rows they update through a RowView (which sees the changes of
// the batch being built) and write through it; they do no other I/O.

#include <array>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/event.h"
#include "events/result.h"

namespace portal {

// Rows of one projection, by family index (the position in families()).
class RowView {
 public:
  virtual ~RowView() = default;
  virtual std::optional<std::string> get(int family, std::string_view key) = 0;
  virtual void put(int family, std::string_view key, std::string_view value) = 0;
  virtual void remove(int family, std::string_view key) = 0;
  // Calls fn for each row whose key starts with `prefix`, in key order, until it
  // returns false, the batch's own changes included.
  virtual void scan(int family, std::string_view prefix,
                    const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;
};

class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> families() const = 0;
  // The event types it handles; the projector skips the others.
  virtual const std::set<std::string_view>& handles() const = 0;
  // Applies one event. An Error stops this projection at this position.
  virtual Result<void> apply(const RecordedEvent& event, RowView& rows) = 0;
  // True when the rows of an event depend on that event alone (apply reads no row)
  // and no two events write the same key: a rebuild may then apply stretches of
  // the log out of order, on several threads at once.
  virtual bool eventsIndependent() const { return false; }
};

// The event types a projection handles, by EventData's alternative: one look-up
// an event where the set of names costs a search with a string compare at each step
// (a rebuild asks for every event and every projection).
class HandledTypes {
 public:
  explicit HandledTypes(const std::set<std::string_view>& names) {
    const auto& all = allEventTypeNames();
    for (std::size_t i = 0; i < all.size(); ++i) handled_[i] = names.count(all[i]) > 0;
  }
  bool operator()(const EventData& data) const { return handled_[data.index()]; }

 private:
  std::array<bool, std::variant_size_v<EventData>> handled_{};
};

// The key prefix of a company's rows: the company id and a NUL.
inline std::string companyPrefix(std::string_view companyId) {
  std::string p(companyId);
  p.push_back('\0');
  return p;
}

// The key prefix of a row's members in a family of their own (a group's: company,
// NUL, group id, NUL, then each member's id).
inline std::string memberPrefix(std::string_view companyId, std::string_view rowId) {
  std::string p = companyPrefix(companyId);
  p.append(rowId);
  p.push_back('\0');
  return p;
}

// Big-endian bytes of a position, so that keys sort by position.
std::string positionBytes(std::uint64_t position);
std::uint64_t positionFromBytes(std::string_view bytes);

}  // namespace portal
