#pragma once

// The programs' log: one line on stderr for each thing an operator should know
// (an answered request, a mail given up, a projection stopped), stamped with the
// time it happened (RFC 3339, UTC, milliseconds).
//
// Lines are written by a thread of their own: a reader of stderr that stops
// reading (a full pipe, a journal that stalls) holds up no request. Past
// kMaxWaitingLines waiting, new lines are dropped and counted (logLinesDropped),
// and the count is said in the next line written. At exit what waits is written,
// for up to two seconds.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portal {

inline constexpr std::size_t kMaxWaitingLines = 10'000;

// Queues `line` (no line break at its end) with the time now; a control character
// (C0, DEL, C1) or a byte that is not UTF-8 in it is written as \xHH.
void logLine(std::string_view line);

// Lines dropped since the start because too many waited.
std::uint64_t logLinesDropped();

// Waits until every line queued so far is written, for up to `timeoutMs`; false
// when some still wait then (stderr does not take them).
bool flushLog(int timeoutMs = 2'000);

}  // namespace portal
