// channel_bench: Channel<T> throughput between two runtimes (one producer task on one,
// one consumer task on the other) against a std::mutex + std::condition_variable bounded
// queue between two plain threads. Same item type, capacity and count. Target: >= 2x.
//
//     build/release/bench/bench_channel [items] [capacity] [rounds]
// Prints items/s for both (best of `rounds`) and the ratio.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dally/runtime.hpp>
#include <dally/sync.hpp>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- dally::Channel between two runtimes

dally::Task<void> producer(dally::Channel<std::uint64_t>& ch, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) {
        if (!co_await ch.send(i)) std::abort();
    }
}

dally::Task<std::uint64_t> consumer(dally::Channel<std::uint64_t>& ch, std::uint64_t n) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        auto r = co_await ch.recv();
        if (!r) std::abort();
        sum += *r;
    }
    co_return sum;
}

double run_channel(std::uint64_t n, std::size_t capacity) {
    dally::Channel<std::uint64_t> ch(capacity);
    std::promise<void> go_p;
    std::shared_future<void> go = go_p.get_future().share();
    std::uint64_t sum = 0;
    // Each thread hosts its own runtime; both wait for `go` so setup is not timed.
    std::thread prod([&] {
        dally::Runtime rt;
        go.wait();
        rt.block_on(producer(ch, n));
    });
    std::thread cons([&] {
        dally::Runtime rt;
        go.wait();
        sum = rt.block_on(consumer(ch, n));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto t0 = Clock::now();
    go_p.set_value();
    prod.join();
    cons.join();
    const double s = seconds_since(t0);
    if (sum != n * (n - 1) / 2) std::abort();
    return static_cast<double>(n) / s;
}

// ---- baseline: a bounded queue guarded by a mutex and two condition variables

class CvQueue {
  public:
    explicit CvQueue(std::size_t cap) : m_cap(cap) {}
    void push(std::uint64_t v) {
        std::unique_lock lock(m_mutex);
        m_not_full.wait(lock, [&] { return m_items.size() < m_cap; });
        m_items.push_back(v);
        m_not_empty.notify_one();
    }
    std::uint64_t pop() {
        std::unique_lock lock(m_mutex);
        m_not_empty.wait(lock, [&] { return !m_items.empty(); });
        std::uint64_t v = m_items.front();
        m_items.pop_front();
        m_not_full.notify_one();
        return v;
    }

  private:
    std::mutex m_mutex;
    std::condition_variable m_not_full;
    std::condition_variable m_not_empty;
    std::deque<std::uint64_t> m_items;
    std::size_t m_cap;
};

double run_cv(std::uint64_t n, std::size_t capacity) {
    CvQueue q(capacity);
    std::promise<void> go_p;
    std::shared_future<void> go = go_p.get_future().share();
    std::uint64_t sum = 0;
    std::thread prod([&] {
        go.wait();
        for (std::uint64_t i = 0; i < n; ++i) q.push(i);
    });
    std::thread cons([&] {
        go.wait();
        for (std::uint64_t i = 0; i < n; ++i) sum += q.pop();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto t0 = Clock::now();
    go_p.set_value();
    prod.join();
    cons.join();
    const double s = seconds_since(t0);
    if (sum != n * (n - 1) / 2) std::abort();
    return static_cast<double>(n) / s;
}

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
    const std::size_t capacity = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
    double best_channel = 0;
    double best_cv = 0;
    for (int r = 0; r < rounds; ++r) {
        best_channel = std::max(best_channel, run_channel(n, capacity));
        best_cv = std::max(best_cv, run_cv(n, capacity));
    }
    std::printf("items=%llu capacity=%zu rounds=%d (best of rounds)\n",
                static_cast<unsigned long long>(n), capacity, rounds);
    std::printf("dally::Channel, 2 runtimes:     %8.2f M items/s\n", best_channel / 1e6);
    std::printf("mutex+condvar queue, 2 threads: %8.2f M items/s\n", best_cv / 1e6);
    std::printf("ratio: %.2fx (target >= 2x)\n", best_channel / best_cv);
    return 0;
}
