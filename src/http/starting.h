#pragma once
// While portal-server opens its log (seconds for a long one, minutes when a view is
// rebuilt after an upgrade), its port, bound first, answers for it: `/healthz` 200
// `{"status":"starting"}` (the process is alive: a liveness probe must not kill it in
// the middle of that rebuild), and every other request 503 `starting` with
// `Retry-After`, `/readyz` included (a load balancer sends it nothing yet). Before, the
// connections waited in the socket's queue unanswered, and a probe with a timeout
// of a second failed all along (a review). A stop signal meanwhile is taken at once
// (it waited for the whole start, then the server listened and stopped).
//
// One thread polling up to 64 connections at once (a client that connects and says
// nothing holds up no probe): each has 2 s to send its request's header (16 KiB at
// most; a longer one is 431), is answered and closed. At the handover, the
// connections it holds have 0.5 s more to send a whole header, then are answered
// 503 all the same. Plain sockets: probes and retrying clients are all it serves.

#include <signal.h>

#include <functional>
#include <memory>

namespace portal {

class StartingResponder {
 public:
  // Answers on `listenFd` (left open and as it was, for the server proper) until
  // stop(). When one of `stopSignals` (blocked in every thread of the process)
  // arrives, calls `onStopSignal` with it on the responder's thread.
  // nullptr when it cannot start (no thread, no descriptor): the start goes on
  // without it, as before.
  static std::unique_ptr<StartingResponder> start(int listenFd, const sigset_t& stopSignals,
                                                  std::function<void(int)> onStopSignal);
  ~StartingResponder();  // stop()
  StartingResponder(const StartingResponder&) = delete;
  StartingResponder& operator=(const StartingResponder&) = delete;

  // Stops answering: the connections it holds are answered (within 0.5 s), those
  // waiting stay in the socket's queue for the server proper, and a stop signal not
  // taken yet stays pending (sigwait takes it). Idempotent.
  void stop();

 private:
  struct State;
  explicit StartingResponder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace portal
