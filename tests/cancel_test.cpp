// Tests for dally/cancel.hpp and JoinHandle::cancel(): cancelling in-flight I/O, later
// operations of a cancelled task, CancelSource groups across runtimes.
#include <atomic>
#include <chrono>
#include <dally/cancel.hpp>
#include <dally/net.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <future>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::JoinHandle;
using dally::Runtime;
using dally::Task;
using dally_test::ms_since;
using dally_test::ready_within;
using dally_test::RuntimeThread;
using dally_test::slowdown;

struct RecvOutcome {
    std::error_code error;
    std::size_t bytes = 0;
    // The next operation after the cancelled one.
    std::error_code next_error;
    long long next_ms = 0;
};

// Receives into a buffer in its own frame from a peer that never sends, then tries a long
// sleep; reports both outcomes.
Task<RecvOutcome> recv_then_sleep(dally::UnixStream& s, std::atomic<bool>& started) {
    std::vector<char> buf(4096);  // heap buffer owned by this frame until the recv completes
    started.store(true);
    auto r = co_await s.recv(buf);
    RecvOutcome out;
    out.error = r.error();
    out.bytes = r ? *r : 0;
    auto t0 = dally::Clock::now();
    auto next = co_await dally::sleep_for(1h);
    out.next_error = next.error();
    out.next_ms = ms_since(t0);
    co_return out;
}

Task<std::error_code> sleep_an_hour(std::atomic<int>* started = nullptr) {
    if (started != nullptr) started->fetch_add(1);
    auto r = co_await dally::sleep_for(1h);
    co_return r.error();
}

// ---------------------------------------------------------------- JoinHandle::cancel

TEST(Cancel, ACancelledRecvReturnsPromptlyAndLeaksNothing) {
    Runtime rt;
    auto [left, right] = dally::UnixStream::pair().value();
    auto [out, cancel_ms] =
        rt.block_on([](dally::UnixStream& s) -> Task<std::pair<RecvOutcome, long long>> {
            std::atomic<bool> started{false};
            JoinHandle<RecvOutcome> h = dally::spawn(recv_then_sleep(s, started));
            (void)co_await dally::sleep_for(20ms);  // the recv is in flight
            EXPECT_TRUE(started.load());
            auto t0 = dally::Clock::now();
            h.cancel();
            RecvOutcome out = co_await h;
            co_return std::pair{out, ms_since(t0)};
        }(left));
    EXPECT_EQ(out.error, std::errc::operation_canceled) << out.error.message();
    EXPECT_EQ(out.bytes, 0U);
    EXPECT_LT(cancel_ms, 1000 * slowdown);
    // Data sent after the cancel is not swallowed by a recv that is still armed.
    char buf[16];
    ASSERT_EQ(::send(right.fd(), "z", 1, MSG_NOSIGNAL), 1);
    std::string got = rt.block_on([](dally::UnixStream& s, char(&buf)[16]) -> Task<std::string> {
        auto r = co_await dally::timeout(5s, s.recv(buf));
        co_return r ? std::string(buf, *r) : r.error().message();
    }(left, buf));
    EXPECT_EQ(got, "z");
}

TEST(Cancel, ACancelledTasksNextOperationFailsAtOnceWithOperationCanceled) {
    Runtime rt;
    auto [left, right] = dally::UnixStream::pair().value();
    RecvOutcome out = rt.block_on([](dally::UnixStream& s) -> Task<RecvOutcome> {
        std::atomic<bool> started{false};
        auto h = dally::spawn(recv_then_sleep(s, started));
        (void)co_await dally::sleep_for(10ms);
        h.cancel();
        co_return co_await h;
    }(left));
    EXPECT_EQ(out.error, std::errc::operation_canceled);
    EXPECT_EQ(out.next_error, std::errc::operation_canceled) << "sleep_for(1h) after cancel";
    EXPECT_LT(out.next_ms, 500 * slowdown);
}

TEST(Cancel, CancelFromAForeignThreadCancelsARecvPromptly) {
    auto [left, right] = dally::UnixStream::pair().value();
    RuntimeThread rt;
    std::atomic<bool> started{false};
    JoinHandle<RecvOutcome> h = rt->spawn(recv_then_sleep(left, started));
    auto deadline = dally::Clock::now() + 10s * slowdown;
    while (!started.load() && dally::Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(started.load());
    std::this_thread::sleep_for(10ms);  // let the recv reach the kernel

    auto t0 = dally::Clock::now();
    std::thread canceller([&h] { h.cancel(); });
    canceller.join();
    // Collect the result on the runtime (a JoinHandle is awaited from a task).
    auto f = rt->submit([hp = &h] {
        return [](JoinHandle<RecvOutcome>& h) -> Task<RecvOutcome> { co_return co_await h; }(*hp);
    });
    ASSERT_TRUE(ready_within(f, 5s)) << "the cancelled recv did not return";
    RecvOutcome out = f.get();
    EXPECT_LT(ms_since(t0), 1000 * slowdown);
    EXPECT_EQ(out.error, std::errc::operation_canceled) << out.error.message();
    EXPECT_EQ(out.next_error, std::errc::operation_canceled);
}

TEST(Cancel, CancelBeforeTheTaskStartedFailsItsFirstOperation) {
    Runtime rt;
    // Spawned from outside the loop: not started yet when cancelled.
    JoinHandle<std::error_code> h = rt.spawn(sleep_an_hour());
    h.cancel();
    auto [ec, elapsed] = rt.block_on(
        [](JoinHandle<std::error_code>& h) -> Task<std::pair<std::error_code, long long>> {
            auto t0 = dally::Clock::now();
            std::error_code ec = co_await h;
            co_return std::pair{ec, ms_since(t0)};
        }(h));
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_LT(elapsed, 500 * slowdown);
}

TEST(Cancel, CancelOfATaskSpawnedButNotYetRunFromInsideTheRuntime) {
    Runtime rt;
    std::error_code ec = rt.block_on([]() -> Task<std::error_code> {
        auto h = dally::spawn(sleep_an_hour());
        h.cancel();  // still queued behind this task
        co_return co_await h;
    }());
    EXPECT_EQ(ec, std::errc::operation_canceled);
}

TEST(Cancel, CancelIsIdempotentAndHarmlessOnAFinishedTask) {
    Runtime rt;
    int v = rt.block_on([]() -> Task<int> {
        auto h = dally::spawn([]() -> Task<int> { co_return 5; }());
        (void)co_await dally::sleep_for(2ms);
        EXPECT_TRUE(h.done());
        h.cancel();
        h.cancel();
        co_return co_await h;
    }());
    EXPECT_EQ(v, 5);
}

TEST(Cancel, CancellingOneTaskLeavesOthersRunning) {
    Runtime rt;
    auto [a, b] = rt.block_on([]() -> Task<std::pair<std::error_code, std::error_code>> {
        auto victim = dally::spawn(sleep_an_hour());
        auto bystander = dally::spawn([]() -> Task<std::error_code> {
            auto r = co_await dally::sleep_for(30ms);
            co_return r.error();
        }());
        (void)co_await dally::sleep_for(5ms);
        victim.cancel();
        std::error_code a = co_await victim;
        std::error_code b = co_await bystander;
        co_return std::pair{a, b};
    }());
    EXPECT_EQ(a, std::errc::operation_canceled);
    EXPECT_FALSE(b) << b.message();
}

TEST(Cancel, CancellingATaskBlockedInAcceptResumesItWithOperationCanceled) {
    Runtime rt;
    auto [ec, elapsed, later] =
        rt.block_on([]() -> Task<std::tuple<std::error_code, long long, bool>> {
            auto listener = dally::TcpListener::bind(dally::Address::loopback_v4(0)).value();
            auto h = dally::spawn([](dally::TcpListener& l) -> Task<std::error_code> {
                auto c = co_await l.accept();
                co_return c.error();
            }(listener));
            (void)co_await dally::sleep_for(20ms);
            auto t0 = dally::Clock::now();
            h.cancel();
            std::error_code ec = co_await h;
            long long elapsed = ms_since(t0);
            // The listener still accepts afterwards.
            auto client = co_await dally::timeout(
                5s, dally::TcpStream::connect(dally::Address::loopback_v4(listener.port())));
            auto conn = co_await dally::timeout(5s, listener.accept());
            co_return std::tuple{ec, elapsed, client.ok() && conn.ok()};
        }());
    EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
    EXPECT_LT(elapsed, 1000 * slowdown);
    EXPECT_TRUE(later) << "the listener no longer accepts after a cancelled accept";
}

// ---------------------------------------------------------------- CancelSource

TEST(CancelSource, StartsUncancelledAndCancelIsVisibleThroughItsTokens) {
    dally::CancelSource src;
    dally::CancelToken token = src.token();
    EXPECT_TRUE(token.valid());
    EXPECT_FALSE(token.cancelled());
    EXPECT_FALSE(src.cancelled());
    src.cancel();
    src.cancel();  // idempotent
    EXPECT_TRUE(src.cancelled());
    EXPECT_TRUE(token.cancelled());
    EXPECT_FALSE(dally::CancelToken().valid());
    EXPECT_FALSE(dally::CancelToken().cancelled());
}

TEST(CancelSource, CancelsEveryTaskSpawnedWithItsTokenOnDifferentRuntimes) {
    constexpr int per_runtime = 3;
    RuntimeThread a;
    RuntimeThread b;
    dally::CancelSource src;
    dally::CancelSource other;
    std::atomic<int> started{0};
    std::vector<std::future<std::error_code>> results;
    std::vector<std::future<std::error_code>> others;
    for (RuntimeThread* rt : {&a, &b}) {
        for (int i = 0; i < per_runtime; ++i) {
            Runtime* r = rt->get();
            results.push_back(r->submit([r, &src, &started] {
                auto h = r->spawn(sleep_an_hour(&started), src.token());
                return [](JoinHandle<std::error_code> h) -> Task<std::error_code> {
                    co_return co_await h;
                }(std::move(h));
            }));
        }
        Runtime* r = rt->get();
        others.push_back(r->submit([r, &other, &started] {
            auto h = r->spawn(sleep_an_hour(&started), other.token());
            return [](JoinHandle<std::error_code> h) -> Task<std::error_code> {
                co_return co_await h;
            }(std::move(h));
        }));
    }
    auto deadline = dally::Clock::now() + 10s * slowdown;
    while (started.load() < 2 * per_runtime + 2 && dally::Clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(started.load(), 2 * per_runtime + 2);

    auto t0 = dally::Clock::now();
    src.cancel();
    for (auto& f : results) {
        ASSERT_TRUE(ready_within(f, 5s)) << "a task of the cancelled source is still running";
        EXPECT_EQ(f.get(), std::errc::operation_canceled);
    }
    EXPECT_LT(ms_since(t0), 2000 * slowdown);
    // Tasks of another source are untouched.
    for (auto& f : others) {
        EXPECT_EQ(f.wait_for(50ms), std::future_status::timeout);
    }
    other.cancel();
    for (auto& f : others) {
        ASSERT_TRUE(ready_within(f, 5s));
        EXPECT_EQ(f.get(), std::errc::operation_canceled);
    }
}

TEST(CancelSource, SpawningWithAnAlreadyCancelledTokenFailsTheFirstOperation) {
    dally::CancelSource src;
    src.cancel();
    Runtime rt;
    auto [ec, elapsed] =
        rt.block_on([](dally::CancelToken token) -> Task<std::pair<std::error_code, long long>> {
            auto t0 = dally::Clock::now();
            auto h = dally::Runtime::current()->spawn(sleep_an_hour(), token);
            std::error_code ec = co_await h;
            co_return std::pair{ec, ms_since(t0)};
        }(src.token()));
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_LT(elapsed, 500 * slowdown);
}

TEST(CancelSource, FinishedTasksLeaveTheSourceAndALaterCancelIsHarmless) {
    dally::CancelSource src;
    Runtime rt;
    int sum = rt.block_on([](dally::CancelToken token) -> Task<int> {
        int sum = 0;
        for (int i = 0; i < 100; ++i) {
            auto h =
                dally::Runtime::current()->spawn([](int v) -> Task<int> { co_return v; }(i), token);
            sum += co_await h;
        }
        co_return sum;
    }(src.token()));
    EXPECT_EQ(sum, 4950);
    src.cancel();  // no task is registered any more: must not touch freed frames
    EXPECT_TRUE(src.cancelled());
}

TEST(CancelSource, CancelWhileTasksFinishConcurrentlyIsSafe) {
    // Races the source's cancel against tasks finishing (and leaving the source) on another
    // runtime; TSan and ASan check the bookkeeping.
    constexpr int rounds = dally_test::tsan ? 20 : 100;
    RuntimeThread rt;
    for (int round = 0; round < rounds; ++round) {
        dally::CancelSource src;
        Runtime* r = rt.get();
        auto f = r->submit([r, token = src.token()]() -> int {
            for (int i = 0; i < 20; ++i) {
                (void)r->spawn(
                    [](int i) -> Task<void> {
                        (void)co_await dally::sleep_for(std::chrono::microseconds(50 * i));
                    }(i),
                    token);
            }
            return 0;
        });
        ASSERT_TRUE(ready_within(f, 5s));
        std::this_thread::sleep_for(std::chrono::microseconds(200 + 10 * round));
        src.cancel();
    }
    auto last = rt->submit([] { return 1; });
    ASSERT_TRUE(ready_within(last, 5s));
}

}  // namespace
