#pragma once
// A fixed set of threads running queued jobs in order of arrival. The server runs
// requests that may block (commands waiting for their fsync) on one, and Argon2id
// hashing on a small one, so that neither blocks the network threads and hashing
// never takes more memory than its threads need.
//
// Thread-safe. The destructor runs what is queued, then joins.

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portal {

class WorkPool {
 public:
  WorkPool(std::size_t threads, std::string name);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void post(std::function<void()> job);

  // Runs fn on the pool and waits for its result.
  template <class F>
  auto call(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

  std::size_t queued() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace portal
