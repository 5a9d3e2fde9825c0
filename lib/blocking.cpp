#include "dally/blocking.hpp"

#include <condition_variable>
#include <deque>
#include <thread>

namespace dally {
namespace {

// Process-wide pool. Never destroyed: its idle threads may still wait on it at exit.
class Pool {
public:
    void configure(const BlockingPoolOptions& o) {
        std::lock_guard lock(m_mutex);
        m_options = o;
        if (m_options.max_threads == 0) m_options.max_threads = 1;
    }

    unsigned threads() {
        std::lock_guard lock(m_mutex);
        return m_threads;
    }

    void submit(std::shared_ptr<detail::BlockingJob> job) {
        std::unique_lock lock(m_mutex);
        m_queue.push_back(std::move(job));
        if (m_idle > 0) {
            lock.unlock();
            m_cv.notify_one();
            return;
        }
        if (m_threads < m_options.max_threads) {
            ++m_threads;
            std::thread([this] { work(); }).detach();
        }
    }

private:
    void work() {
        std::unique_lock lock(m_mutex);
        for (;;) {
            while (m_queue.empty()) {
                ++m_idle;
                const bool woke = m_cv.wait_for(lock, m_options.idle_timeout,
                                                [&] { return !m_queue.empty(); });
                --m_idle;
                if (!woke) {
                    --m_threads;
                    return;
                }
            }
            auto job = std::move(m_queue.front());
            m_queue.pop_front();
            lock.unlock();
            job->run();
            job.reset();
            lock.lock();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<std::shared_ptr<detail::BlockingJob>> m_queue;
    BlockingPoolOptions m_options;
    unsigned m_threads = 0;
    unsigned m_idle = 0;
};

Pool& pool() {
    static Pool* p = new Pool;
    return *p;
}

void resume_waiter(detail::MpscNode* n, bool run) {
    auto* w = static_cast<detail::BlockingWaiter*>(n);
    std::shared_ptr<detail::BlockingWaiter> keep = std::move(w->self);  // may free w at scope end
    if (run) w->runtime->schedule(w->handle);
}

}  // namespace

void configure_blocking_pool(const BlockingPoolOptions& options) { pool().configure(options); }

unsigned blocking_pool_threads() noexcept { return pool().threads(); }

namespace detail {

void submit_blocking(std::shared_ptr<BlockingJob> job) { pool().submit(std::move(job)); }

void blocking_done(const std::shared_ptr<BlockingWaiter>& w) noexcept {
    // Under the mutex, so a frame being destroyed (shutdown) cannot race the post: either
    // the waiter is abandoned and nothing is posted, or the post reaches a live runtime.
    std::lock_guard lock(w->mutex);
    if (w->abandoned) return;
    w->self = w;
    w->fn = &resume_waiter;
    w->runtime->post_node(w.get());
}

}  // namespace detail
}  // namespace dally
