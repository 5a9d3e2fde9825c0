// Tests for dally/sync.hpp: Event, Mutex, Semaphore and Channel, within one runtime,
// across runtimes and with plain threads.
#include <atomic>
#include <chrono>
#include <dally/runtime.hpp>
#include <dally/sync.hpp>
#include <dally/time.hpp>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Channel;
using dally::Runtime;
using dally::Task;
using dally_test::ready_within;
using dally_test::RuntimeThread;
using dally_test::slowdown;

// ---------------------------------------------------------------- Event

Task<std::thread::id> wait_event(dally::Event& ev, std::atomic<int>& waiting) {
    waiting.fetch_add(1);
    co_await ev.wait();
    co_return std::this_thread::get_id();
}

TEST(Event, WaitReturnsAtOnceWhenAlreadySet) {
    Runtime rt;
    dally::Event ev(true);
    std::atomic<int> waiting{0};
    EXPECT_EQ(rt.block_on(wait_event(ev, waiting)), std::this_thread::get_id());
}

TEST(Event, SetFromAPlainThreadResumesEveryWaiterOnItsOwnRuntime) {
    RuntimeThread a;
    RuntimeThread b;
    dally::Event ev;
    std::atomic<int> waiting{0};
    auto ida = a->submit([] { return std::this_thread::get_id(); }).get();
    auto idb = b->submit([] { return std::this_thread::get_id(); }).get();
    auto fa = a->submit([&] { return wait_event(ev, waiting); });
    auto fb = b->submit([&] { return wait_event(ev, waiting); });
    auto fa2 = a->submit([&] { return wait_event(ev, waiting); });
    while (waiting.load() < 3) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(ready_within(fa, 0ms));
    ev.set();
    ASSERT_TRUE(ready_within(fa, 5000ms));
    ASSERT_TRUE(ready_within(fb, 5000ms));
    ASSERT_TRUE(ready_within(fa2, 5000ms));
    EXPECT_EQ(fa.get(), ida);
    EXPECT_EQ(fb.get(), idb);
    EXPECT_EQ(fa2.get(), ida);
}

TEST(Event, ResetMakesLaterWaitsSuspendAgain) {
    Runtime rt;
    dally::Event ev(true);
    ev.reset();
    EXPECT_FALSE(ev.is_set());
    bool resumed = false;
    rt.block_on([](dally::Event& e, bool& r) -> Task<void> {
        auto waiter = [](dally::Event& e, bool& r) -> Task<void> {
            co_await e.wait();
            r = true;
        };
        auto h = dally::spawn(waiter(e, r));
        co_await dally::yield();
        co_await dally::yield();
        EXPECT_FALSE(r);
        e.set();
        co_await h;
    }(ev, resumed));
    EXPECT_TRUE(resumed);
}

// ---------------------------------------------------------------- Mutex

struct Shared {
    dally::Mutex mutex;
    int inside = 0;       // guarded by mutex
    long long total = 0;  // guarded by mutex
    int overlaps = 0;     // guarded by mutex
};

Task<void> increment_under_lock(Shared& s, int times) {
    for (int i = 0; i < times; ++i) {
        auto guard = co_await s.mutex.lock();
        if (++s.inside != 1) ++s.overlaps;
        co_await dally::yield();  // hold it across a suspension
        ++s.total;
        --s.inside;
    }
}

TEST(Mutex, SerialisesTasksOnTwoRuntimesEvenAcrossSuspensions) {
    RuntimeThread a;
    RuntimeThread b;
    Shared s;
    constexpr int per_task = 500;
    std::vector<std::future<void>> fs;
    for (int i = 0; i < 4; ++i) {
        RuntimeThread& rt = i % 2 == 0 ? a : b;
        fs.push_back(rt->submit([&] { return increment_under_lock(s, per_task); }));
    }
    for (auto& f : fs) ASSERT_TRUE(ready_within(f, 20000ms));
    for (auto& f : fs) f.get();
    EXPECT_EQ(s.total, 4 * per_task);
    EXPECT_EQ(s.overlaps, 0);
    EXPECT_TRUE(s.mutex.try_lock());
    s.mutex.unlock();
}

TEST(Mutex, TryLockFailsWhileHeldAndGuardUnlocks) {
    Runtime rt;
    dally::Mutex m;
    rt.block_on([](dally::Mutex& m) -> Task<void> {
        {
            auto g = co_await m.lock();
            EXPECT_TRUE(g.owns_lock());
            EXPECT_FALSE(m.try_lock());
        }
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    }(m));
}

// ---------------------------------------------------------------- Semaphore

Task<void> hold_permit(dally::Semaphore& sem, std::atomic<int>& now, std::atomic<int>& peak) {
    co_await sem.acquire();
    int n = now.fetch_add(1) + 1;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    (void)co_await dally::sleep_for(10ms);
    now.fetch_sub(1);
    sem.release();
}

TEST(Semaphore, BoundsConcurrencyToItsPermitsAcrossRuntimes) {
    RuntimeThread a;
    RuntimeThread b;
    dally::Semaphore sem(2);
    std::atomic<int> now{0};
    std::atomic<int> peak{0};
    std::vector<std::future<void>> fs;
    for (int i = 0; i < 8; ++i) {
        RuntimeThread& rt = i % 2 == 0 ? a : b;
        fs.push_back(rt->submit([&] { return hold_permit(sem, now, peak); }));
    }
    for (auto& f : fs) ASSERT_TRUE(ready_within(f, 10000ms));
    EXPECT_LE(peak.load(), 2);
    EXPECT_GE(peak.load(), 1);
    EXPECT_EQ(sem.available(), 2u);
}

TEST(Semaphore, ReleaseFromAPlainThreadWakesAWaitingTask) {
    RuntimeThread rt;
    dally::Semaphore sem(0);
    EXPECT_FALSE(sem.try_acquire());
    auto f = rt->submit([&]() -> Task<void> { co_await sem.acquire(); });
    std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(ready_within(f, 0ms));
    sem.release();
    ASSERT_TRUE(ready_within(f, 5000ms));
    EXPECT_EQ(sem.available(), 0u);
}

// ---------------------------------------------------------------- Channel

Task<void> produce(Channel<int>& ch, int first, int count) {
    for (int i = 0; i < count; ++i) {
        auto r = co_await ch.send(first + i);
        EXPECT_TRUE(r.ok()) << r.error().message();
    }
}

Task<std::vector<int>> consume(Channel<int>& ch) {
    std::vector<int> got;
    for (;;) {
        auto r = co_await ch.recv();
        if (!r) {
            EXPECT_EQ(r.error(), std::errc::broken_pipe);
            break;
        }
        got.push_back(*r);
    }
    co_return got;
}

TEST(Channel, FourProducersOnTwoRuntimesAndTwoConsumersDeliverEveryItemOnce) {
    RuntimeThread a;
    RuntimeThread b;
    Channel<int> ch(16);
    const int per_producer = 20000 / slowdown;
    std::vector<std::future<void>> producers;
    for (int p = 0; p < 4; ++p) {
        RuntimeThread& rt = p % 2 == 0 ? a : b;
        producers.push_back(rt->submit(
            [&ch, p, per_producer] { return produce(ch, p * per_producer, per_producer); }));
    }
    auto c1 = a->submit([&] { return consume(ch); });
    auto c2 = b->submit([&] { return consume(ch); });
    for (auto& f : producers) ASSERT_TRUE(ready_within(f, 60000ms));
    ch.close();
    ASSERT_TRUE(ready_within(c1, 10000ms));
    ASSERT_TRUE(ready_within(c2, 10000ms));
    std::vector<int> seen(4 * per_producer, 0);
    auto g1 = c1.get();
    auto g2 = c2.get();
    for (const auto* got : {&g1, &g2}) {
        int last[4] = {-1, -1, -1, -1};  // each producer's items arrive in order
        for (int v : *got) {
            ASSERT_GE(v, 0);
            ASSERT_LT(v, 4 * per_producer);
            ++seen[v];
            EXPECT_GT(v, last[v / per_producer]);
            last[v / per_producer] = v;
        }
    }
    EXPECT_EQ(g1.size() + g2.size(), seen.size());
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "item " << i;
}

TEST(Channel, ReceiversDrainQueuedItemsAfterCloseThenGetBrokenPipe) {
    Runtime rt;
    Channel<std::string> ch(4);
    ASSERT_TRUE(ch.try_send(std::string("a")).ok());
    ASSERT_TRUE(ch.try_send(std::string("b")).ok());
    ch.close();
    EXPECT_TRUE(ch.closed());
    EXPECT_EQ(ch.try_send(std::string("c")).error(), std::errc::broken_pipe);
    rt.block_on([](Channel<std::string>& ch) -> Task<void> {
        EXPECT_EQ((co_await ch.send("d")).error(), std::errc::broken_pipe);
        EXPECT_EQ(*co_await ch.recv(), "a");
        EXPECT_EQ(*co_await ch.recv(), "b");
        EXPECT_EQ((co_await ch.recv()).error(), std::errc::broken_pipe);
    }(ch));
    EXPECT_EQ(ch.try_recv().error(), std::errc::broken_pipe);
}

TEST(Channel, CloseFailsSuspendedSendersAndWakesSuspendedReceivers) {
    RuntimeThread a;
    RuntimeThread b;
    Channel<int> full(1);
    ASSERT_TRUE(full.try_send(1).ok());
    Channel<int> empty(1);
    auto send =
        a->submit([&]() -> Task<std::error_code> { co_return (co_await full.send(2)).error(); });
    auto recv =
        b->submit([&]() -> Task<std::error_code> { co_return (co_await empty.recv()).error(); });
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(ready_within(send, 0ms));
    EXPECT_FALSE(ready_within(recv, 0ms));
    full.close();
    empty.close();
    ASSERT_TRUE(ready_within(send, 5000ms));
    ASSERT_TRUE(ready_within(recv, 5000ms));
    EXPECT_EQ(send.get(), std::errc::broken_pipe);
    EXPECT_EQ(recv.get(), std::errc::broken_pipe);
    EXPECT_EQ(full.try_recv().value(), 1);  // queued before close: still delivered
}

TEST(Channel, SendSuspendsWhileFullAndResumesWhenAnItemIsTaken) {
    Runtime rt;
    Channel<int> ch(2);
    rt.block_on([](Channel<int>& ch) -> Task<void> {
        auto h = dally::spawn(produce(ch, 0, 5));
        co_await dally::yield();
        EXPECT_EQ(ch.size(), 2u);
        EXPECT_FALSE(h.done());
        for (int i = 0; i < 5; ++i) EXPECT_EQ(*co_await ch.recv(), i);
        co_await h;
    }(ch));
}

TEST(Channel, TrySendOnAFullChannelFailsAndLeavesTheValue) {
    Channel<std::unique_ptr<int>> ch(1);
    EXPECT_EQ(ch.try_recv().error(), std::errc::resource_unavailable_try_again);
    ASSERT_TRUE(ch.try_send(std::make_unique<int>(1)).ok());
    auto v = std::make_unique<int>(2);
    EXPECT_EQ(ch.try_send(std::move(v)).error(), std::errc::resource_unavailable_try_again);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, 2);
    EXPECT_EQ(*ch.try_recv().value(), 1);
}

TEST(Channel, BlockingCallsFromPlainThreadsExchangeItemsWithTasks) {
    RuntimeThread rt;
    Channel<int> to_task(2);
    Channel<int> from_task(2);
    constexpr int n = 2000;
    // The task echoes every item back, doubled.
    auto echo = rt->submit([&]() -> Task<void> {
        while (auto r = co_await to_task.recv()) {
            if (!(co_await from_task.send(*r * 2))) break;
        }
        from_task.close();
    });
    std::thread sender([&] {
        for (int i = 0; i < n; ++i) ASSERT_TRUE(to_task.send_blocking(i).ok());
        to_task.close();
    });
    long long sum = 0;
    int count = 0;
    while (auto r = from_task.recv_blocking()) {
        sum += *r;
        ++count;
    }
    sender.join();
    ASSERT_TRUE(ready_within(echo, 5000ms));
    EXPECT_EQ(count, n);
    EXPECT_EQ(sum, 2LL * n * (n - 1) / 2);
}

TEST(Channel, BlockingCallsOnARuntimeThreadThrowLogicError) {
    Runtime rt;
    Channel<int> ch(1);
    rt.block_on([](Channel<int>& ch) -> Task<void> {
        EXPECT_THROW((void)ch.send_blocking(1), std::logic_error);
        EXPECT_THROW((void)ch.recv_blocking(), std::logic_error);
        co_return;
    }(ch));
}

TEST(Channel, ZeroCapacityIsRejected) { EXPECT_THROW(Channel<int>(0), std::invalid_argument); }

}  // namespace
