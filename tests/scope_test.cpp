// Tests for dally/scope.hpp: spawning children into a Scope, joining, cancelling, child
// exceptions, destruction without join, and children destroyed by their runtime's
// shutdown. (Cancelling a task's join() is tested with the other waits in sync_test.)
#include <atomic>
#include <chrono>
#include <dally/runtime.hpp>
#include <dally/scope.hpp>
#include <dally/sync.hpp>
#include <dally/time.hpp>
#include <future>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Runtime;
using dally::Scope;
using dally::Task;
using dally_test::ms_since;
using dally_test::ready_within;
using dally_test::RuntimeThread;

Task<int> sleep_then_count(std::chrono::milliseconds d, std::atomic<int>& done) {
    (void)co_await dally::sleep_for(d);
    done.fetch_add(1);
    co_return 1;
}

// Sleeps for an hour unless cancelled; counts how it ended.
Task<void> sleep_until_cancelled(std::atomic<int>& cancelled) {
    auto r = co_await dally::sleep_for(1h);
    if (r.cancelled()) cancelled.fetch_add(1);
}

TEST(Scope, JoinWaitsForEveryChildOnSeveralRuntimes) {
    RuntimeThread other;
    Runtime rt;
    Scope scope;
    std::atomic<int> done{0};
    rt.block_on([](Scope& scope, Runtime& other, std::atomic<int>& done) -> Task<void> {
        for (int i = 0; i < 5; ++i)
            scope.spawn(sleep_then_count(std::chrono::milliseconds(i * 3), done));
        for (int i = 0; i < 5; ++i)
            scope.spawn(other, sleep_then_count(std::chrono::milliseconds(i * 3), done));
        EXPECT_GE(scope.active(), 5u);  // the local five cannot have run yet
        EXPECT_TRUE(co_await scope.join());
        EXPECT_EQ(done.load(), 10);
        EXPECT_EQ(scope.active(), 0u);
    }(scope, *other, done));
}

TEST(Scope, JoinWithNoChildrenReturnsAtOnce) {
    Runtime rt;
    Scope scope;
    rt.block_on([](Scope& s) -> Task<void> { EXPECT_TRUE(co_await s.join()); }(scope));
}

TEST(Scope, CancelFromAPlainThreadEndsEveryChildsSleepPromptly) {
    RuntimeThread a;
    RuntimeThread b;
    Scope scope;
    std::atomic<int> cancelled{0};
    auto joined = a->submit([&]() -> Task<void> {
        for (int i = 0; i < 3; ++i) scope.spawn(sleep_until_cancelled(cancelled));
        for (int i = 0; i < 3; ++i) scope.spawn(*b, sleep_until_cancelled(cancelled));
        EXPECT_TRUE(co_await scope.join());
    });
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(ready_within(joined, 0ms));
    const auto t0 = dally::Clock::now();
    scope.cancel();
    EXPECT_TRUE(scope.cancelled());
    ASSERT_TRUE(ready_within(joined, 5000ms));
    joined.get();
    EXPECT_EQ(cancelled.load(), 6);
    EXPECT_LT(ms_since(t0), 2000);
}

TEST(Scope, ChildSpawnedAfterCancelStartsCancelled) {
    Runtime rt;
    Scope scope;
    std::atomic<int> cancelled{0};
    scope.cancel();
    rt.block_on([](Scope& s, std::atomic<int>& c) -> Task<void> {
        s.spawn(sleep_until_cancelled(c));
        EXPECT_TRUE(co_await s.join());
    }(scope, cancelled));
    EXPECT_EQ(cancelled.load(), 1);
}

Task<void> fail_after(std::chrono::milliseconds d) {
    (void)co_await dally::sleep_for(d);
    throw std::runtime_error("child failed");
}

TEST(Scope, JoinRethrowsAChildsExceptionAfterEveryChildFinished) {
    Runtime rt;
    Scope scope;
    std::atomic<int> done{0};
    rt.block_on([](Scope& s, std::atomic<int>& done) -> Task<void> {
        s.spawn(fail_after(1ms));
        s.spawn(sleep_then_count(20ms, done));
        EXPECT_THROW((void)co_await s.join(), std::runtime_error);
        EXPECT_EQ(done.load(), 1);
        EXPECT_TRUE(co_await s.join());  // the exception was handed over once
    }(scope, done));
}

TEST(Scope, DestroyedWithoutJoinCancelsAndDetachesItsChildren) {
    RuntimeThread rt;
    std::atomic<int> cancelled{0};
    {
        Scope scope;
        scope.spawn(*rt, sleep_until_cancelled(cancelled));
        std::this_thread::sleep_for(10ms);
        testing::internal::CaptureStderr();
    }  // reports on stderr, cancels
    const auto t0 = dally::Clock::now();
    while (cancelled.load() == 0 && ms_since(t0) < 5000 * dally_test::slowdown) {
        std::this_thread::sleep_for(1ms);
    }
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(cancelled.load(), 1);
    EXPECT_NE(err.find("Scope destroyed"), std::string::npos) << err;
}

// Never returns on its own; counts its destruction.
Task<void> park_forever(dally::Event& never, std::atomic<int>& started,
                        std::atomic<int>& destroyed) {
    struct Counted {
        std::atomic<int>* n;
        ~Counted() { n->fetch_add(1); }
    } counted{&destroyed};
    started.fetch_add(1);
    (void)co_await never.wait();
    ADD_FAILURE() << "resumed";
}

TEST(Scope, JoinOnAnotherRuntimeReturnsWhenTheChildrensRuntimeShutsDown) {
    RuntimeThread joiner;
    auto children = std::make_unique<RuntimeThread>();
    Scope scope;
    dally::Event never;
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    std::atomic<int> cancelled{0};
    scope.spawn(**children, park_forever(never, started, destroyed));
    scope.spawn(**children, sleep_until_cancelled(cancelled));  // in-flight I/O at shutdown
    auto joined = joiner->submit([&]() -> Task<bool> { co_return (co_await scope.join()).ok(); });
    const auto t0 = dally::Clock::now();
    while (started.load() == 0 && ms_since(t0) < 5000 * dally_test::slowdown) {
        std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(ready_within(joined, 0ms));
    EXPECT_EQ(scope.active(), 2u);
    children.reset();  // shutdown: both frames are destroyed without returning
    ASSERT_TRUE(ready_within(joined, 5000ms)) << "join() still waits for destroyed children";
    EXPECT_TRUE(joined.get());
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_EQ(scope.active(), 0u);
}

TEST(Scope, ChildWhoseRuntimeIsDestroyedBeforeItStartsCountsAsFinished) {
    Scope scope;
    dally::Event never;
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    {
        Runtime never_run;  // spawning from here posts the child; it never runs
        scope.spawn(never_run, park_forever(never, started, destroyed));
        EXPECT_EQ(scope.active(), 1u);
    }
    EXPECT_EQ(started.load(), 0);
    EXPECT_EQ(scope.active(), 0u);
    Runtime rt;
    rt.block_on([](Scope& s) -> Task<void> { EXPECT_TRUE(co_await s.join()); }(scope));
}

TEST(Scope, SpawnOutsideARuntimeThrowsNoRuntimeError) {
    Scope scope;
    std::atomic<int> cancelled{0};
    EXPECT_THROW(scope.spawn(sleep_until_cancelled(cancelled)), dally::NoRuntimeError);
    EXPECT_EQ(scope.active(), 0u);
}

}  // namespace
