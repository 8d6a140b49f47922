#include "src/http/work_pool.h"

#include <pthread.h>

namespace portal {

WorkPool::WorkPool(std::size_t threads, std::string name) {
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this, name] {
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      while (true) {
        std::function<void()> job;
        {
          std::unique_lock lock(mu_);
          ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        job();
      }
    });
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkPool::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  ready_.notify_one();
}

std::size_t WorkPool::queued() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

}  // namespace portal
