#include <dally/blocking.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using dally::Task;

TEST(Blocking, SpawnBlockingRunsOnAPoolThreadAndResumesOnTheCallersRuntime) {
    dally::Runtime rt;
    auto caller = std::this_thread::get_id();
    rt.block_on([&]() -> Task<void> {
        dally::Runtime* before = dally::Runtime::current();
        auto ran_on = co_await dally::spawn_blocking([] { return std::this_thread::get_id(); });
        EXPECT_NE(ran_on, caller);
        EXPECT_EQ(dally::Runtime::current(), before);
        EXPECT_EQ(std::this_thread::get_id(), caller);
    }());
}

TEST(Blocking, SpawnBlockingYieldsTheFunctionsValue) {
    dally::Runtime rt;
    std::string s = rt.block_on([]() -> Task<std::string> {
        co_return co_await dally::spawn_blocking([] { return std::string(1000, 'x'); });
    }());
    EXPECT_EQ(s, std::string(1000, 'x'));
}

TEST(Blocking, SpawnBlockingOfAVoidFunctionCompletes) {
    dally::Runtime rt;
    std::atomic<bool> ran{false};
    rt.block_on([&]() -> Task<void> { co_await dally::spawn_blocking([&] { ran = true; }); }());
    EXPECT_TRUE(ran.load());
}

TEST(Blocking, SpawnBlockingRethrowsTheFunctionsException) {
    dally::Runtime rt;
    EXPECT_THROW(rt.block_on([]() -> Task<int> {
        co_return co_await dally::spawn_blocking([]() -> int { throw std::runtime_error("boom"); });
    }()),
                 std::runtime_error);
}

TEST(Blocking, TheRuntimeKeepsRunningOtherTasksWhileBlockingWorkRuns) {
    dally::Runtime rt;
    std::atomic<int> ticks{0};
    rt.block_on([&]() -> Task<void> {
        // Coroutine lambdas take state as parameters: a capturing temporary closure would
        // be gone before the spawned task runs.
        auto ticker = dally::spawn([](std::atomic<int>& ticks) -> Task<void> {
            for (int i = 0; i < 5; ++i) {
                (void)co_await dally::sleep_for(5ms);
                ticks.fetch_add(1);
            }
        }(ticks));
        co_await dally::spawn_blocking([&] {
            // Blocks a pool thread until the ticker has run on the runtime meanwhile.
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (ticks.load() < 5 && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
            }
        });
        co_await ticker;
    }());
    EXPECT_EQ(ticks.load(), 5);
}

TEST(Blocking, ManyConcurrentJobsAllComplete) {
    dally::Runtime rt;
    constexpr int n = 200;
    int done = rt.block_on([]() -> Task<int> {
        std::vector<dally::JoinHandle<int>> hs;
        for (int i = 0; i < n; ++i) {
            hs.push_back(dally::spawn([](int i) -> Task<int> {
                co_return co_await dally::spawn_blocking([i] {
                    std::this_thread::sleep_for(2ms);
                    return i;
                });
            }(i)));
        }
        int sum = 0;
        for (auto& h : hs) sum += co_await h;
        co_return sum;
    }());
    EXPECT_EQ(done, n * (n - 1) / 2);
}

TEST(Blocking, ThePoolNeverRunsMoreThanItsLimitAtOnce) {
    dally::configure_blocking_pool({.max_threads = 2});
    dally::Runtime rt;
    std::atomic<int> running{0};
    std::atomic<int> peak{0};
    rt.block_on([&]() -> Task<void> {
        std::vector<dally::JoinHandle<void>> hs;
        for (int i = 0; i < 8; ++i) {
            hs.push_back(dally::spawn([](std::atomic<int>& running, std::atomic<int>& peak) -> Task<void> {
                co_await dally::spawn_blocking([&] {
                    int now = running.fetch_add(1) + 1;
                    int p = peak.load();
                    while (now > p && !peak.compare_exchange_weak(p, now)) {
                    }
                    std::this_thread::sleep_for(5ms);
                    running.fetch_sub(1);
                });
            }(running, peak)));
        }
        for (auto& h : hs) co_await h;
    }());
    dally::configure_blocking_pool({});
    EXPECT_GE(peak.load(), 1);
    EXPECT_LE(peak.load(), 2);
    EXPECT_LE(dally::blocking_pool_threads(), 64u);
}

TEST(Blocking, RuntimeDestroyedWhileAJobRunsDropsTheResultSafely) {
    std::atomic<bool> finished{false};
    {
        dally::Runtime rt;
        (void)rt.spawn([](std::atomic<bool>& finished) -> Task<void> {
            co_await dally::spawn_blocking([&] {
                std::this_thread::sleep_for(100ms);
                finished = true;
                return std::vector<int>(1000, 1);
            });
            ADD_FAILURE() << "the task must not resume after its runtime is gone";
        }(finished));
        rt.block_on([]() -> Task<void> { (void)co_await dally::sleep_for(10ms); }());
    }  // the suspended task's frame is destroyed here, the job still runs
    auto deadline = std::chrono::steady_clock::now() + 10s * dally_test::slowdown;
    while (!finished.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    EXPECT_TRUE(finished.load());
    std::this_thread::sleep_for(20ms);  // let the job drop its state
}

namespace {
// A coroutine type of our own, started eagerly on a plain thread with no runtime.
struct Eager {
    struct promise_type {
        std::exception_ptr* out;
        explicit promise_type(std::exception_ptr& e) : out(&e) {}
        Eager get_return_object() { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() {}
        void unhandled_exception() { *out = std::current_exception(); }
    };
};
Eager blocking_outside_a_runtime(std::exception_ptr&) {
    co_await dally::spawn_blocking([] { return 1; });
}
}  // namespace

TEST(Blocking, SpawnBlockingWhereNoRuntimeRunsThrowsNoRuntimeError) {
    std::exception_ptr error;
    blocking_outside_a_runtime(error);
    ASSERT_TRUE(error);
    EXPECT_THROW(std::rethrow_exception(error), dally::NoRuntimeError);
}
