// tests/test_support.hpp: helpers shared by the unit tests (not part of the library).
//
// - `slowdown`: how much slower this build runs than a release build (TSan ~5x, ASan ~2x);
//   scale iteration counts and time bounds with it.
// - A per-test watchdog: including this header registers a GoogleTest listener that aborts
//   the binary with the test's name if one test runs longer than its limit, so a hang in
//   the runtime fails quickly and says where, instead of waiting for ctest's timeout.
// - RuntimeThread: a Runtime that lives and dies on its own std::thread, running run().
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <dally/dally.hpp>
#include <future>
#include <mutex>
#include <thread>

namespace dally_test {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool tsan = true;
#else
inline constexpr bool tsan = false;
#endif
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool asan = true;
#else
inline constexpr bool asan = false;
#endif

inline constexpr int slowdown = tsan ? 5 : (asan ? 2 : 1);

inline long long ms_since(dally::Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(dally::Clock::now() - t0).count();
}

// Aborts the process if the current test outlives `limit` (scaled, kept under ctest's 120 s).
class Watchdog : public ::testing::EmptyTestEventListener {
  public:
    void OnTestStart(const ::testing::TestInfo& info) override {
        std::lock_guard lock(m_mutex);
        m_running = true;
        m_name = std::string(info.test_suite_name()) + "." + info.name();
        m_thread = std::thread([this] {
            const auto limit = std::chrono::seconds(std::min(30 * slowdown, 100));
            std::unique_lock lock(m_mutex);
            if (!m_cv.wait_for(lock, limit, [this] { return !m_running; })) {
                std::fprintf(stderr, "\nwatchdog: %s still running after %lld s: aborting\n",
                             m_name.c_str(), static_cast<long long>(limit.count()));
                std::fflush(stderr);
                std::abort();
            }
        });
    }
    void OnTestEnd(const ::testing::TestInfo&) override {
        {
            std::lock_guard lock(m_mutex);
            m_running = false;
        }
        m_cv.notify_all();
        if (m_thread.joinable()) m_thread.join();
    }

  private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_running = false;
    std::string m_name;
    std::thread m_thread;
};

inline const bool watchdog_installed = [] {
    ::testing::UnitTest::GetInstance()->listeners().Append(new Watchdog);
    return true;
}();

// A Runtime created, run and destroyed on its own thread. stop() or the destructor ends it.
// The thread destroys the runtime only after stop() has returned: Runtime::stop() touches
// the runtime after run() may already have returned (see runtime_test's
// StopFromAnotherThreadRacingWithTheRuntimesOwnShutdownIsSafe), and this helper is for
// testing everything else.
class RuntimeThread {
  public:
    RuntimeThread() {
        std::promise<dally::Runtime*> started;
        auto f = started.get_future();
        m_thread = std::thread([&started, release = m_released.get_future()]() mutable {
            dally::Runtime rt;
            started.set_value(&rt);
            rt.run();
            release.wait();
        });
        m_rt = f.get();
    }
    ~RuntimeThread() { stop(); }
    RuntimeThread(const RuntimeThread&) = delete;
    RuntimeThread& operator=(const RuntimeThread&) = delete;

    dally::Runtime& operator*() const noexcept { return *m_rt; }
    dally::Runtime* operator->() const noexcept { return m_rt; }
    dally::Runtime* get() const noexcept { return m_rt; }

    // Stops the loop and waits for the thread, which destroys the runtime.
    void stop() {
        if (m_thread.joinable()) {
            m_rt->stop();
            m_released.set_value();
            m_thread.join();
        }
    }

  private:
    dally::Runtime* m_rt = nullptr;
    std::promise<void> m_released;
    std::thread m_thread;
};

// Waits (bounded, scaled by `slowdown`) for a std::future or std::shared_future.
template <class Future>
bool ready_within(Future& f, std::chrono::milliseconds limit) {
    return f.wait_for(limit * slowdown) == std::future_status::ready;
}

}  // namespace dally_test
