// Tests for dally/runtime.hpp: Runtime, spawn/JoinHandle, post/submit, yield, resume_on,
// the NoRuntimeError guard, and shutdown with suspended tasks.
#include <atomic>
#include <chrono>
#include <coroutine>
#include <dally/net.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <exception>
#include <future>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
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

// Counts its destruction once, however often it is moved.
struct Tracker {
    std::atomic<int>* destroyed;
    explicit Tracker(std::atomic<int>* d) noexcept : destroyed(d) {}
    Tracker(Tracker&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
    Tracker& operator=(Tracker&&) = delete;
    ~Tracker() {
        if (destroyed != nullptr) destroyed->fetch_add(1);
    }
};

// A foreign, eager coroutine type (not a dally::Task): it starts at once on the calling
// thread and stores an escaping exception for the test to inspect.
struct Eager {
    struct State {
        std::exception_ptr error;
        std::atomic<bool> done{false};
    };
    std::shared_ptr<State> state;

    struct promise_type {
        std::shared_ptr<State> state = std::make_shared<State>();
        Eager get_return_object() { return Eager{state}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept { state->done.store(true); }
        void unhandled_exception() noexcept {
            state->error = std::current_exception();
            state->done.store(true);
        }
    };
};

Task<int> value_after(std::chrono::milliseconds d, int v) {
    if (d > 0ms) (void)co_await dally::sleep_for(d);
    co_return v;
}

Task<int> throw_after_yield() {
    co_await dally::yield();
    throw std::runtime_error("spawned task failed");
    co_return 0;
}

Task<void> append_with_yields(std::string& out, char c, int times) {
    for (int i = 0; i < times; ++i) {
        out.push_back(c);
        co_await dally::yield();
    }
}

Task<void> push(std::vector<int>& order, int v) {
    order.push_back(v);
    co_return;
}

// ---------------------------------------------------------------- current()

TEST(Runtime, CurrentIsNullOutsideAndTheRuntimeInsideATask) {
    EXPECT_EQ(Runtime::current(), nullptr);
    Runtime rt;
    EXPECT_EQ(Runtime::current(), nullptr);  // constructing does not bind the thread
    auto seen = rt.block_on([]() -> Task<std::pair<Runtime*, Runtime*>> {
        Runtime* before = Runtime::current();
        (void)co_await dally::sleep_for(1ms);
        co_return std::pair{before, Runtime::current()};
    }());
    EXPECT_EQ(seen.first, &rt);
    EXPECT_EQ(seen.second, &rt);  // still set after resuming from I/O
    EXPECT_EQ(Runtime::current(), nullptr);
}

// ---------------------------------------------------------------- spawn / JoinHandle

TEST(Runtime, JoinHandleYieldsTheSpawnedTaskValue) {
    Runtime rt;
    int v = rt.block_on([](Runtime& rt) -> Task<int> {
        JoinHandle<int> a = rt.spawn(value_after(5ms, 40));
        JoinHandle<int> b = dally::spawn(value_after(0ms, 2));
        int x = co_await a;
        int y = co_await b;
        co_return x + y;
    }(rt));
    EXPECT_EQ(v, 42);
}

TEST(Runtime, JoinHandleOfAFinishedTaskIsDoneAndYieldsItsValue) {
    Runtime rt;
    auto [done_before, v] = rt.block_on([]() -> Task<std::pair<bool, int>> {
        JoinHandle<int> h = dally::spawn(value_after(0ms, 9));
        EXPECT_FALSE(h.done());  // spawned, not run yet
        (void)co_await dally::sleep_for(5ms);
        bool done = h.done();
        co_return std::pair{done, co_await h};
    }());
    EXPECT_TRUE(done_before);
    EXPECT_EQ(v, 9);
}

TEST(Runtime, JoinHandleRethrowsTheSpawnedTaskException) {
    Runtime rt;
    std::string what = rt.block_on([]() -> Task<std::string> {
        JoinHandle<int> h = dally::spawn(throw_after_yield());
        try {
            (void)co_await h;
            co_return "no exception";
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
    }());
    EXPECT_EQ(what, "spawned task failed");
}

TEST(Runtime, DetachedSpawnedTaskRuns) {
    Runtime rt;
    bool ran = false;
    (void)rt.spawn([](bool& ran) -> Task<void> {
        (void)co_await dally::sleep_for(2ms);
        ran = true;
    }(ran));
    bool seen = rt.block_on([](bool& ran) -> Task<bool> {
        for (int i = 0; i < 1000 && !ran; ++i) (void)co_await dally::sleep_for(1ms);
        co_return ran;
    }(ran));
    EXPECT_TRUE(seen);
}

TEST(Runtime, ExceptionInADetachedTaskIsReportedAndTheRuntimeGoesOn) {
    Runtime rt;
    testing::internal::CaptureStderr();
    (void)rt.spawn(throw_after_yield());
    int v = rt.block_on(value_after(5ms, 3));
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(v, 3);
    EXPECT_NE(err.find("spawned task failed"), std::string::npos) << "stderr: " << err;
}

// Awaits a task spawned on `other` from a task on this runtime; `delay` lets the spawned task
// finish after (delay 20 ms) or before (sleep on this side) the await starts.
Task<std::tuple<int, Runtime*, Runtime*>> await_on_other(Runtime& other, bool finish_first) {
    std::atomic<Runtime*> ran_on{nullptr};
    JoinHandle<int> h = other.spawn([](std::atomic<Runtime*>& where, bool quick) -> Task<int> {
        if (!quick) (void)co_await dally::sleep_for(20ms);
        where.store(Runtime::current());
        co_return 99;
    }(ran_on, finish_first));
    if (finish_first) {
        for (int i = 0; i < 2000 && !h.done(); ++i) (void)co_await dally::sleep_for(1ms);
    }
    int v = co_await h;
    co_return std::tuple{v, ran_on.load(), Runtime::current()};
}

TEST(Runtime, JoinHandleCanBeAwaitedFromATaskOnAnotherRuntime) {
    RuntimeThread other;
    Runtime rt;
    auto [v, ran_on, resumed_on] = rt.block_on(await_on_other(*other, false));
    EXPECT_EQ(v, 99);
    EXPECT_EQ(ran_on, other.get());
    EXPECT_EQ(resumed_on, &rt);
}

TEST(Runtime, JoinHandleOfATaskAlreadyFinishedOnAnotherRuntimeYieldsItsValue) {
    RuntimeThread other;
    Runtime rt;
    auto [v, ran_on, resumed_on] = rt.block_on(await_on_other(*other, true));
    EXPECT_EQ(v, 99);
    EXPECT_EQ(ran_on, other.get());
    EXPECT_EQ(resumed_on, &rt);
}

// ---------------------------------------------------------------- ordering

TEST(Runtime, TasksSpawnedFromATaskStartInFifoOrder) {
    Runtime rt;
    std::vector<int> order;
    rt.block_on([](std::vector<int>& order) -> Task<void> {
        std::vector<JoinHandle<void>> hs;
        for (int i = 0; i < 8; ++i) hs.push_back(dally::spawn(push(order, i)));
        for (auto& h : hs) co_await h;
    }(order));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Runtime, TasksSpawnedFromOutsideStartInFifoOrder) {
    Runtime rt;
    std::vector<int> order;
    for (int i = 0; i < 8; ++i) (void)rt.spawn(push(order, i));
    rt.block_on(value_after(1ms, 0));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Runtime, YieldInterleavesReadyTasks) {
    Runtime rt;
    std::string out;
    rt.block_on([](std::string& out) -> Task<void> {
        auto a = dally::spawn(append_with_yields(out, 'a', 3));
        auto b = dally::spawn(append_with_yields(out, 'b', 3));
        co_await a;
        co_await b;
    }(out));
    EXPECT_EQ(out, "ababab");
}

TEST(Runtime, YieldLetsATaskSpawnedEarlierRunFirst) {
    Runtime rt;
    std::vector<int> order;
    rt.block_on([](std::vector<int>& order) -> Task<void> {
        auto h = dally::spawn(push(order, 1));
        order.push_back(0);
        co_await dally::yield();
        order.push_back(2);
        co_await h;
    }(order));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

// ---------------------------------------------------------------- post / submit

TEST(Runtime, PostsFrom8ForeignThreadsX100000ItemsAllArriveExactlyOnceInPerThreadOrder) {
    constexpr int producers = 8;
    constexpr int items = 100'000;
    // Touched only on the runtime's thread (posts run there).
    std::vector<int> count(producers, 0);
    std::vector<int> next(producers, 0);
    int out_of_order = 0;
    int off_thread = 0;

    RuntimeThread rt;
    Runtime* target = rt.get();
    std::vector<std::thread> threads;
    for (int t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < items; ++i) {
                target->post([&, t, i] {
                    if (Runtime::current() != target) ++off_thread;
                    if (next[static_cast<std::size_t>(t)] != i) ++out_of_order;
                    next[static_cast<std::size_t>(t)] = i + 1;
                    ++count[static_cast<std::size_t>(t)];
                });
            }
        });
    }
    for (auto& th : threads) th.join();
    // Posted after every producer's last post, so it runs after all of them.
    auto last = rt->submit([] { return true; });
    ASSERT_TRUE(ready_within(last, 60s));
    EXPECT_TRUE(last.get());
    rt.stop();
    for (int t = 0; t < producers; ++t) {
        EXPECT_EQ(count[static_cast<std::size_t>(t)], items) << "producer " << t;
    }
    EXPECT_EQ(out_of_order, 0);
    EXPECT_EQ(off_thread, 0);
}

TEST(Runtime, PostRunsTheFunctionOnTheRuntimeThread) {
    RuntimeThread rt;
    std::promise<std::pair<Runtime*, std::thread::id>> p;
    auto f = p.get_future();
    rt->post([&p] { p.set_value({Runtime::current(), std::this_thread::get_id()}); });
    ASSERT_TRUE(ready_within(f, 10s));
    auto [where, thread] = f.get();
    EXPECT_EQ(where, rt.get());
    EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(Runtime, SpawnFromAForeignThreadWakesAParkedRuntime) {
    RuntimeThread rt;
    std::this_thread::sleep_for(20ms);  // let it park
    std::promise<int> p;
    auto f = p.get_future();
    (void)rt->spawn([](std::promise<int>& p) -> Task<void> {
        p.set_value(5);
        co_return;
    }(p));
    ASSERT_TRUE(ready_within(f, 10s));
    EXPECT_EQ(f.get(), 5);
}

TEST(Runtime, ABurstOfPostsToABusyRuntimeCostsNoWakeup) {
    RuntimeThread rt;
    std::this_thread::sleep_for(20ms);  // let it park
    // The first post finds it parked and wakes it; that post then keeps it busy.
    std::promise<void> release;
    auto released = release.get_future().share();
    std::promise<void> busy;
    auto is_busy = busy.get_future();
    rt->post([&busy, released] {
        busy.set_value();
        released.wait();
    });
    ASSERT_TRUE(ready_within(is_busy, 10s));
    const auto before = rt->wakeups();
    EXPECT_GE(before, 1u);
    // A burst while it is busy: the runtime is not parked, so nobody has to wake it.
    std::atomic<int> ran{0};
    for (int i = 0; i < 10000; ++i) rt->post([&ran] { ran.fetch_add(1); });
    EXPECT_EQ(rt->wakeups(), before);
    release.set_value();
    auto done = rt->submit([&ran] { return ran.load(); });
    ASSERT_TRUE(ready_within(done, 10s));
    EXPECT_EQ(done.get(), 10000);
}

TEST(Runtime, SubmitReturnsAFutureOfAPlainFunctionResultComputedOnTheRuntime) {
    RuntimeThread rt;
    Runtime* target = rt.get();
    auto f = rt->submit([target] { return Runtime::current() == target ? 7 : -1; });
    ASSERT_TRUE(ready_within(f, 10s));
    EXPECT_EQ(f.get(), 7);

    bool ran = false;
    std::future<void> v = rt->submit([&ran] { ran = true; });
    ASSERT_TRUE(ready_within(v, 10s));
    v.get();
    EXPECT_TRUE(ran);
}

TEST(Runtime, SubmitOfAFunctionReturningATaskYieldsTheTaskResult) {
    RuntimeThread rt;
    std::future<int> f = rt->submit([] { return value_after(5ms, 42); });
    ASSERT_TRUE(ready_within(f, 10s));
    EXPECT_EQ(f.get(), 42);

    std::future<int> g = rt->submit([]() -> Task<int> {
        (void)co_await dally::sleep_for(1ms);
        co_return 43;
    });
    ASSERT_TRUE(ready_within(g, 10s));
    EXPECT_EQ(g.get(), 43);
}

TEST(Runtime, SubmitKeepsACapturingCoroutineLambdaAliveUntilItsTaskFinishes) {
    // A lambda coroutine reads its captures through the closure; submit must keep the closure
    // alive while the task it returned runs (ASan reports a use-after-free otherwise).
    RuntimeThread rt;
    auto words = std::make_shared<std::string>("kept alive");
    std::future<std::string> f = rt->submit([words]() -> Task<std::string> {
        (void)co_await dally::sleep_for(2ms);
        co_return *words;
    });
    words.reset();
    ASSERT_TRUE(ready_within(f, 10s));
    EXPECT_EQ(f.get(), "kept alive");
}

// The message of the exception a future rethrows, or a note saying what went wrong.
std::string future_error(std::shared_future<int>& f) {
    if (!ready_within(f, 10s)) return "(future not ready)";
    try {
        (void)f.get();
        return "(no exception)";
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

TEST(Runtime, SubmitPropagatesExceptionsIntoTheFuture) {
    RuntimeThread rt;
    // Shared futures keep the exception alive on this thread until the runtime's thread has
    // ended: the exception's reference count lives in libstdc++, which TSan cannot see, so a
    // last release on the runtime's thread would be reported as a race.
    std::shared_future<int> plain =
        rt->submit([]() -> int { throw std::runtime_error("plain failed"); }).share();
    std::shared_future<int> task = rt->submit([] { return throw_after_yield(); }).share();
    EXPECT_EQ(future_error(plain), "plain failed");
    EXPECT_EQ(future_error(task), "spawned task failed");
    rt.stop();
}

// ---------------------------------------------------------------- resume_on

Task<std::vector<Runtime*>> hop(Runtime& a, Runtime& b) {
    std::vector<Runtime*> seen{Runtime::current()};
    const auto thread_a = std::this_thread::get_id();
    co_await dally::resume_on(b);
    seen.push_back(Runtime::current());
    EXPECT_NE(std::this_thread::get_id(), thread_a);
    auto slept = co_await dally::sleep_for(1ms);  // I/O works after the hop
    seen.push_back(slept ? Runtime::current() : nullptr);
    co_await dally::resume_on(a);
    seen.push_back(Runtime::current());
    EXPECT_EQ(std::this_thread::get_id(), thread_a);
    co_await dally::resume_on(a);  // already there: a no-op
    seen.push_back(Runtime::current());
    co_return seen;
}

TEST(Runtime, ResumeOnHopsToAnotherRuntimeAndBack) {
    RuntimeThread a;
    RuntimeThread b;
    Runtime* ra = a.get();
    Runtime* rb = b.get();
    auto f = a->submit([ra, rb] { return hop(*ra, *rb); });
    ASSERT_TRUE(ready_within(f, 10s));
    EXPECT_EQ(f.get(), (std::vector<Runtime*>{ra, rb, rb, ra, ra}));
}

TEST(Runtime, ResumeOnHopsBetweenABlockOnRuntimeAndARuntimeThread) {
    Runtime rt;
    RuntimeThread other;
    auto seen = rt.block_on(hop(rt, *other));
    EXPECT_EQ(seen, (std::vector<Runtime*>{&rt, other.get(), other.get(), &rt, &rt}));
}

Eager hop_from_plain_thread(Runtime& rt, std::promise<Runtime*>& p) {
    co_await dally::resume_on(rt);
    auto r = co_await dally::sleep_for(1ms);
    p.set_value(r ? Runtime::current() : nullptr);
}

TEST(Runtime, ResumeOnMovesAForeignCoroutineFromAPlainThreadOntoARuntime) {
    RuntimeThread rt;
    std::promise<Runtime*> p;
    auto f = p.get_future();
    Eager e = hop_from_plain_thread(*rt, p);
    ASSERT_TRUE(ready_within(f, 10s));
    EXPECT_EQ(f.get(), rt.get());
    rt.stop();
    EXPECT_TRUE(e.state->done.load());
    EXPECT_FALSE(e.state->error);
}

// ---------------------------------------------------------------- misuse

Eager sleep_without_runtime() { (void)co_await dally::sleep_for(1ms); }
Eager yield_without_runtime() { co_await dally::yield(); }
Eager join_without_runtime(JoinHandle<int>& h) { (void)co_await h; }

std::string no_runtime_message(const Eager& e) {
    if (!e.state->error) return "(no exception)";
    try {
        std::rethrow_exception(e.state->error);
    } catch (const dally::NoRuntimeError& err) {
        return err.what();
    } catch (const std::exception& err) {
        return std::string("(wrong exception type) ") + err.what();
    }
    return "(unreachable)";
}

TEST(Runtime, AwaitingIoWhereNoRuntimeRunsFailsWithAClearErrorNamingTheFix) {
    Eager e = sleep_without_runtime();
    ASSERT_TRUE(e.state->done.load());
    ASSERT_TRUE(e.state->error) << "co_await sleep_for without a runtime did not fail";
    std::string what = no_runtime_message(e);
    EXPECT_NE(what.find("resume_on"), std::string::npos) << what;
    EXPECT_NE(what.find("Runtime"), std::string::npos) << what;
    EXPECT_NE(what.find("sleep_for"), std::string::npos) << "names the operation: " << what;
}

TEST(Runtime, YieldWhereNoRuntimeRunsThrowsNoRuntimeError) {
    Eager e = yield_without_runtime();
    ASSERT_TRUE(e.state->done.load());
    std::string what = no_runtime_message(e);
    EXPECT_NE(what.find("yield"), std::string::npos) << what;
    EXPECT_NE(what.find("resume_on"), std::string::npos) << what;
}

TEST(Runtime, AwaitingAJoinHandleWhereNoRuntimeRunsThrowsNoRuntimeError) {
    RuntimeThread rt;
    JoinHandle<int> h = rt->spawn(value_after(10s, 1));
    Eager e = join_without_runtime(h);
    ASSERT_TRUE(e.state->done.load());
    std::string what = no_runtime_message(e);
    EXPECT_NE(what.find("JoinHandle"), std::string::npos) << what;
    h.cancel();
    rt.stop();
}

TEST(Runtime, SpawnOutsideARuntimeThrowsNoRuntimeError) {
    try {
        (void)dally::spawn(value_after(0ms, 1));
        FAIL() << "dally::spawn outside a runtime did not throw";
    } catch (const dally::NoRuntimeError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("spawn"), std::string::npos) << what;
        EXPECT_NE(what.find("Runtime"), std::string::npos) << what;
    }
}

TEST(Runtime, BlockOnCalledFromATaskOfTheSameRuntimeThrowsLogicError) {
    Runtime rt;
    auto [what, after] = rt.block_on([](Runtime& rt) -> Task<std::pair<std::string, bool>> {
        std::string what = "no exception";
        try {
            (void)rt.block_on(value_after(0ms, 1));
        } catch (const dally::NoRuntimeError&) {
            what = "NoRuntimeError";
        } catch (const std::logic_error& e) {
            what = e.what();
        }
        auto slept = co_await dally::sleep_for(1ms);  // the outer loop still works
        co_return std::pair{what, slept.ok()};
    }(rt));
    EXPECT_NE(what.find("block_on"), std::string::npos) << what;
    EXPECT_TRUE(after);
}

TEST(Runtime, BlockOnOfASecondRuntimeInsideATaskThrowsLogicError) {
    Runtime rt;
    Runtime other;
    bool threw = rt.block_on([](Runtime& other) -> Task<bool> {
        try {
            (void)other.block_on(value_after(0ms, 1));
        } catch (const std::logic_error&) {
            co_return true;
        }
        co_return false;
    }(other));
    EXPECT_TRUE(threw);
}

// ---------------------------------------------------------------- stop / shutdown

TEST(Runtime, StopFromAnotherThreadMakesRunReturn) {
    Runtime rt;
    std::thread stopper([&rt] {
        std::this_thread::sleep_for(20ms);
        rt.stop();
    });
    auto t0 = dally::Clock::now();
    rt.run();
    stopper.join();
    EXPECT_GE(ms_since(t0), 15);
}

TEST(Runtime, StopFromAnotherThreadRacingWithTheRuntimesOwnShutdownIsSafe) {
    // The documented pattern: the runtime lives on its own thread and is destroyed there as
    // soon as run() returns, while another thread calls stop(). stop() must be done with the
    // runtime (its flags, its wake-up eventfd) before run() can see the stop and return;
    // TSan (and ASan, with luck) reports it otherwise.
    for (int round = 0; round < 20; ++round) {
        std::promise<Runtime*> started;
        auto f = started.get_future();
        std::thread owner([&started] {
            Runtime rt;
            started.set_value(&rt);
            rt.run();
        });
        Runtime* rt = f.get();
        std::this_thread::sleep_for(1ms);  // let it park, so stop() has to wake it
        rt->stop();
        owner.join();
    }
}

Task<void> sleep_an_hour(Tracker t, std::atomic<bool>& resumed) {
    (void)co_await dally::sleep_for(1h);
    resumed.store(true);
    (void)t;
}

Task<void> recv_forever(Tracker t, dally::UnixStream s, std::atomic<bool>& resumed) {
    char buf[64];
    (void)co_await s.recv(buf);
    resumed.store(true);
    (void)t;
}

Task<void> join_forever(Tracker t, JoinHandle<void> h) {
    co_await h;
    (void)t;
}

TEST(Runtime, DestroyingARuntimeDestroysTheFramesOfSuspendedTasks) {
    std::atomic<int> destroyed{0};
    std::atomic<bool> resumed{false};
    auto [left, right] = dally::UnixStream::pair().value();
    {
        Runtime rt;
        (void)rt.spawn(sleep_an_hour(Tracker(&destroyed), resumed));
        (void)rt.spawn(recv_forever(Tracker(&destroyed), std::move(left), resumed));
        JoinHandle<void> sleeper = rt.spawn(sleep_an_hour(Tracker(&destroyed), resumed));
        (void)rt.spawn(join_forever(Tracker(&destroyed), std::move(sleeper)));
        rt.block_on(value_after(10ms, 0));
        EXPECT_EQ(destroyed.load(), 0);
    }
    EXPECT_EQ(destroyed.load(), 4);
    EXPECT_FALSE(resumed.load());
}

TEST(Runtime, JoinHandleOutlivingItsRuntimeFreesTheFrameWhenDropped) {
    std::atomic<int> destroyed{0};
    std::atomic<bool> resumed{false};
    JoinHandle<void> h;
    {
        Runtime rt;
        h = rt.spawn(sleep_an_hour(Tracker(&destroyed), resumed));
        rt.block_on(value_after(5ms, 0));
    }
    EXPECT_FALSE(h.done());
    h.reset();
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_FALSE(resumed.load());
}

TEST(Runtime, RuntimeDestroyedAfterItsThreadFinishedCleansUpQuietly) {
    // The header allows destroying a runtime on another thread once its own thread is done.
    std::atomic<int> destroyed{0};
    std::atomic<bool> resumed{false};
    auto rt = std::make_unique<Runtime>();
    std::thread owner([&] {
        (void)rt->spawn(sleep_an_hour(Tracker(&destroyed), resumed));
        rt->block_on(value_after(5ms, 0));
    });
    owner.join();
    testing::internal::CaptureStderr();
    rt.reset();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_FALSE(resumed.load());
    EXPECT_EQ(err, "") << "shutdown reported a problem";
}

TEST(Runtime, TenThousandConcurrentSleepingTasksAllFinish) {
    constexpr int tasks = 10'000;
    Runtime rt;
    int finished = 0;
    auto t0 = dally::Clock::now();
    rt.block_on([](int& finished) -> Task<void> {
        std::vector<JoinHandle<void>> hs;
        hs.reserve(tasks);
        for (int i = 0; i < tasks; ++i) {
            hs.push_back(dally::spawn([](int& finished) -> Task<void> {
                auto r = co_await dally::sleep_for(50ms);
                if (r) ++finished;
            }(finished)));
        }
        for (auto& h : hs) co_await h;
    }(finished));
    const auto elapsed = ms_since(t0);
    EXPECT_EQ(finished, tasks);
    EXPECT_GE(elapsed, 50);
    // One after another they would take 500 s: a few seconds proves they slept concurrently.
    EXPECT_LT(elapsed, 5000 * dally_test::slowdown);
}

}  // namespace
