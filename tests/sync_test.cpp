// Tests for dally/sync.hpp: Event, Mutex, Semaphore and Channel, within one runtime,
// across runtimes and with plain threads; cancelling waits on them (and on Scope::join),
// cancels racing wake-ups, and runtime shutdown with tasks parked on them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <dally/cancel.hpp>
#include <dally/runtime.hpp>
#include <dally/scope.hpp>
#include <dally/sync.hpp>
#include <dally/time.hpp>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
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
    EXPECT_TRUE(co_await ev.wait());
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
            EXPECT_TRUE(co_await e.wait());
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
        EXPECT_TRUE(guard.ok());
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
            EXPECT_TRUE(g->owns_lock());
            EXPECT_FALSE(m.try_lock());
        }
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    }(m));
}

// ---------------------------------------------------------------- Semaphore

Task<void> hold_permit(dally::Semaphore& sem, std::atomic<int>& now, std::atomic<int>& peak) {
    EXPECT_TRUE(co_await sem.acquire());
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
    auto f = rt->submit([&]() -> Task<void> { EXPECT_TRUE(co_await sem.acquire()); });
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

// Move-only, and no default constructor.
struct Job {
    explicit Job(int i) : id(std::make_unique<int>(i)) {}
    std::unique_ptr<int> id;
};

TEST(Channel, CarriesATypeWithoutADefaultConstructor) {
    static_assert(!std::is_default_constructible_v<Job>);
    RuntimeThread rt;
    Channel<Job> ch(2);
    ASSERT_TRUE(ch.try_send(Job(1)).ok());
    EXPECT_EQ(*ch.try_recv().value().id, 1);
    EXPECT_EQ(ch.try_recv().error(), std::errc::resource_unavailable_try_again);
    auto consumer = rt->submit([&]() -> Task<int> {
        int sum = 0;
        while (auto r = co_await ch.recv()) sum += *r->id;
        co_return sum;
    });
    for (int i = 1; i <= 100; ++i) ASSERT_TRUE(ch.send_blocking(Job(i)).ok());
    ch.close();
    ASSERT_TRUE(ready_within(consumer, 5000ms));
    EXPECT_EQ(consumer.get(), 5050);
    EXPECT_EQ(ch.recv_blocking().error(), std::errc::broken_pipe);
}

TEST(Channel, ZeroCapacityIsRejected) { EXPECT_THROW(Channel<int>(0), std::invalid_argument); }

// ---------------------------------------------------------------- cancelling a wait

using dally::CancelSource;
using dally::JoinHandle;

// Spins (bounded, scaled) until `pred` holds; false on timeout.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    const auto t0 = dally::Clock::now();
    while (!pred()) {
        if (dally_test::ms_since(t0) > limit.count() * slowdown) return false;
        std::this_thread::yield();
    }
    return true;
}

// A primitive in a state where a wait on it parks, and the checks that a cancelled wait
// took nothing from it (and left no dangling waiter behind).
struct Blocked {
    virtual ~Blocked() = default;
    // One wait; the error it ended with (none: it succeeded).
    virtual Task<std::error_code> wait() = 0;
    // After every wait has returned cancelled: the primitive is intact and still works.
    virtual void expect_untouched() = 0;
};

struct BlockedEvent final : Blocked {
    dally::Event ev;
    Task<std::error_code> wait() override { co_return (co_await ev.wait()).error(); }
    void expect_untouched() override {
        EXPECT_FALSE(ev.is_set());
        ev.set();  // a waiter left linked would be woken here, after its frame has gone
    }
};

struct BlockedMutex final : Blocked {
    dally::Mutex m;
    BlockedMutex() { EXPECT_TRUE(m.try_lock()); }
    Task<std::error_code> wait() override {
        auto g = co_await m.lock();
        EXPECT_FALSE(g.ok() && g->owns_lock()) << "a cancelled lock() returned the lock";
        co_return g.error();
    }
    void expect_untouched() override {
        m.unlock();  // would hand the lock to a cancelled waiter left in the queue
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    }
};

struct BlockedSemaphore final : Blocked {
    dally::Semaphore sem{0};
    Task<std::error_code> wait() override { co_return (co_await sem.acquire()).error(); }
    void expect_untouched() override {
        sem.release();  // would go to a cancelled waiter left in the queue
        EXPECT_EQ(sem.available(), 1u);
    }
};

struct BlockedSend final : Blocked {
    Channel<int> ch{1};
    BlockedSend() { EXPECT_TRUE(ch.try_send(1).ok()); }
    Task<std::error_code> wait() override { co_return (co_await ch.send(2)).error(); }
    void expect_untouched() override {
        EXPECT_EQ(ch.try_recv().value(), 1);
        EXPECT_EQ(ch.try_recv().error(), std::errc::resource_unavailable_try_again)
            << "a cancelled send delivered its value";
        EXPECT_TRUE(ch.try_send(3).ok());
        EXPECT_EQ(ch.try_recv().value(), 3);
    }
};

struct BlockedRecv final : Blocked {
    Channel<int> ch{1};
    Task<std::error_code> wait() override { co_return (co_await ch.recv()).error(); }
    void expect_untouched() override {
        EXPECT_TRUE(ch.try_send(7).ok());  // would be handed to a cancelled receiver
        EXPECT_EQ(ch.try_recv().value(), 7);
    }
};

// Joining a scope whose one child (on its own runtime) waits for `gate`.
struct BlockedJoin final : Blocked {
    RuntimeThread child_rt;
    dally::Event gate;
    dally::Scope scope;
    BlockedJoin() {
        scope.spawn(*child_rt, [](dally::Event& g) -> Task<void> {
            EXPECT_TRUE(co_await g.wait());  // the scope itself is not cancelled
        }(gate));
    }
    Task<std::error_code> wait() override { co_return (co_await scope.join()).error(); }
    void expect_untouched() override {
        EXPECT_EQ(scope.active(), 1u) << "cancelling the joiner reached the child";
        gate.set();
        EXPECT_TRUE(eventually([&] { return scope.active() == 0; }));
    }
};

enum class Primitive { event, mutex, semaphore, send, recv, join };

std::unique_ptr<Blocked> make_blocked(Primitive p) {
    switch (p) {
        case Primitive::event:
            return std::make_unique<BlockedEvent>();
        case Primitive::mutex:
            return std::make_unique<BlockedMutex>();
        case Primitive::semaphore:
            return std::make_unique<BlockedSemaphore>();
        case Primitive::send:
            return std::make_unique<BlockedSend>();
        case Primitive::recv:
            return std::make_unique<BlockedRecv>();
        case Primitive::join:
            return std::make_unique<BlockedJoin>();
    }
    return nullptr;
}

// Who cancels the waiting task.
enum class Via { handle_in_task, handle_from_thread, source_from_thread, source_from_runtime };

struct CancelCase {
    Primitive primitive;
    Via via;
};

std::string primitive_name(Primitive p) {
    static const char* const names[] = {"EventWait",   "MutexLock",   "SemaphoreAcquire",
                                        "ChannelSend", "ChannelRecv", "ScopeJoin"};
    return names[static_cast<int>(p)];
}

std::string case_name(const testing::TestParamInfo<CancelCase>& info) {
    static const char* const vias[] = {
        "ByJoinHandleFromATaskOnTheSameRuntime", "ByJoinHandleFromAPlainThread",
        "ByCancelSourceFromAPlainThread", "ByCancelSourceFromAnotherRuntime"};
    return primitive_name(info.param.primitive) + vias[static_cast<int>(info.param.via)];
}

Task<void> wait_and_report(Blocked& b, std::atomic<bool>& started,
                           std::promise<std::error_code>& out) {
    started.store(true);
    out.set_value(co_await b.wait());
}

class CancelWait : public testing::TestWithParam<CancelCase> {};

TEST_P(CancelWait, ParkedWaitEndsWithOperationCanceledAndTakesNothing) {
    const CancelCase c = GetParam();
    auto blocked = make_blocked(c.primitive);
    RuntimeThread rt;
    RuntimeThread other;
    std::atomic<bool> started{false};
    std::promise<std::error_code> out;
    auto result = out.get_future();
    const auto t0 = dally::Clock::now();
    if (c.via == Via::handle_in_task) {
        auto f = rt->submit([&]() -> Task<void> {
            auto h = dally::spawn(wait_and_report(*blocked, started, out));
            while (!started.load()) co_await dally::yield();
            (void)co_await dally::sleep_for(5ms);  // parked by now
            EXPECT_FALSE(h.done());
            h.cancel();
            co_await h;
        });
        ASSERT_TRUE(ready_within(f, 5000ms));
    } else {
        CancelSource src;
        JoinHandle<void> h = c.via == Via::handle_from_thread
                                 ? rt->spawn(wait_and_report(*blocked, started, out))
                                 : rt->spawn(wait_and_report(*blocked, started, out), src.token());
        ASSERT_TRUE(eventually([&] { return started.load(); }));
        std::this_thread::sleep_for(10ms);  // parked by now
        EXPECT_FALSE(ready_within(result, 0ms));
        if (c.via == Via::handle_from_thread) {
            h.cancel();
        } else if (c.via == Via::source_from_thread) {
            src.cancel();
        } else {
            other->submit([&] { src.cancel(); }).get();
        }
    }
    ASSERT_TRUE(ready_within(result, 5000ms)) << "the cancelled wait did not return";
    EXPECT_EQ(result.get(), std::errc::operation_canceled);
    EXPECT_LT(dally_test::ms_since(t0), 2000 * slowdown);
    blocked->expect_untouched();
}

std::vector<CancelCase> all_cases() {
    std::vector<CancelCase> out;
    for (Primitive p : {Primitive::event, Primitive::mutex, Primitive::semaphore, Primitive::send,
                        Primitive::recv, Primitive::join}) {
        for (Via v : {Via::handle_in_task, Via::handle_from_thread, Via::source_from_thread,
                      Via::source_from_runtime}) {
            out.push_back({p, v});
        }
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(EveryPrimitive, CancelWait, testing::ValuesIn(all_cases()), case_name);

class CancelBeforeWait : public testing::TestWithParam<Primitive> {};

TEST_P(CancelBeforeWait, TaskCancelledBeforeItWaitsFailsAtOnceWithoutParking) {
    RuntimeThread rt;
    {
        // Cancelled through its JoinHandle while still queued behind the task that spawned it.
        auto blocked = make_blocked(GetParam());
        std::atomic<bool> started{false};
        std::promise<std::error_code> out;
        auto result = out.get_future();
        rt->submit([&] {
              auto h = dally::spawn(wait_and_report(*blocked, started, out));
              h.cancel();
          }).get();
        ASSERT_TRUE(ready_within(result, 5000ms)) << "the cancelled task parked";
        EXPECT_EQ(result.get(), std::errc::operation_canceled);
        blocked->expect_untouched();
    }
    {
        // Spawned with the token of a cancelled source: no cancel request is in flight that
        // could wake it, so if it parked it would stay parked.
        auto blocked = make_blocked(GetParam());
        std::atomic<bool> started{false};
        std::promise<std::error_code> out;
        auto result = out.get_future();
        CancelSource src;
        src.cancel();
        (void)rt->spawn(wait_and_report(*blocked, started, out), src.token());
        ASSERT_TRUE(ready_within(result, 5000ms)) << "the cancelled task parked";
        EXPECT_EQ(result.get(), std::errc::operation_canceled);
        blocked->expect_untouched();
    }
}

INSTANTIATE_TEST_SUITE_P(EveryPrimitive, CancelBeforeWait,
                         testing::Values(Primitive::event, Primitive::mutex, Primitive::semaphore,
                                         Primitive::send, Primitive::recv, Primitive::join),
                         [](const testing::TestParamInfo<Primitive>& info) {
                             return primitive_name(info.param);
                         });

TEST(CancelWait, ACancelledTaskStillGetsWhatIsAvailableWithoutWaiting) {
    Runtime rt;
    dally::Event ev(true);
    dally::Mutex m;
    dally::Semaphore sem(1);
    Channel<int> ch(1);
    ASSERT_TRUE(ch.try_send(4).ok());
    CancelSource src;
    src.cancel();
    auto h = rt.spawn(
        [](dally::Event& ev, dally::Mutex& m, dally::Semaphore& sem,
           Channel<int>& ch) -> Task<void> {
            EXPECT_TRUE(co_await ev.wait());
            {
                auto g = co_await m.lock();  // cleanup code can take a free lock
                EXPECT_TRUE(g.ok() && g->owns_lock());
            }
            EXPECT_TRUE(co_await sem.acquire());
            EXPECT_EQ(*co_await ch.recv(), 4);
            EXPECT_TRUE(co_await ch.send(5));
            // Now each would have to wait: each fails instead.
            ev.reset();
            EXPECT_TRUE((co_await ev.wait()).cancelled());
            EXPECT_TRUE((co_await sem.acquire()).cancelled());
            EXPECT_TRUE((co_await ch.send(6)).cancelled());
            auto g = co_await m.lock();
            EXPECT_TRUE(g.ok());
            EXPECT_TRUE((co_await m.lock()).cancelled());
        }(ev, m, sem, ch),
        src.token());
    rt.block_on([](JoinHandle<void>& h) -> Task<void> { co_await h; }(h));
    EXPECT_EQ(ch.try_recv().value(), 5);
    EXPECT_TRUE(m.try_lock());
}

// ---------------------------------------------------------------- cancel racing a wake-up

// Runs `a` and `b` on two threads released at the same instant.
void race(const std::function<void()>& a, const std::function<void()>& b) {
    std::atomic<int> ready{0};
    auto start = [&ready] {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
    };
    std::thread ta([&] {
        start();
        a();
    });
    std::thread tb([&] {
        start();
        b();
    });
    ta.join();
    tb.join();
}

const int race_rounds = 400 / slowdown;
constexpr int racers = 4;  // waiting tasks per round, two on each runtime

struct RaceCounts {
    std::atomic<int> started{0};
    std::atomic<int> done{0};
    std::atomic<int> got{0};
    std::atomic<int> cancelled{0};
    std::atomic<int> other{0};  // neither: a bug
    void count(const std::error_code& ec) {
        if (!ec) {
            got.fetch_add(1);
        } else if (ec == std::errc::operation_canceled) {
            cancelled.fetch_add(1);
        } else {
            other.fetch_add(1);
        }
        done.fetch_add(1);
    }
};

// Spawns `racers` tasks make(i) over two runtimes; returns their handles once all have
// started (most have parked by then). `make` returns a coroutine that takes what it uses as
// parameters: a coroutine lambda's captures would die with `make`.
template <class Make>
std::vector<JoinHandle<void>> spawn_racers(RuntimeThread& a, RuntimeThread& b, RaceCounts& n,
                                           Make make) {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < racers; ++i) hs.push_back((i % 2 == 0 ? a : b)->spawn(make(i)));
    EXPECT_TRUE(eventually([&] { return n.started.load() == racers; }));
    return hs;
}

void cancel_all(std::vector<JoinHandle<void>>& hs) {
    for (auto& h : hs) h.cancel();
}

Task<void> acquire_once(dally::Semaphore& sem, RaceCounts& n) {
    n.started.fetch_add(1);
    n.count((co_await sem.acquire()).error());
}

Task<void> lock_once(dally::Mutex& m, RaceCounts& n, std::atomic<int>& inside,
                     std::atomic<int>& overlaps) {
    n.started.fetch_add(1);
    auto g = co_await m.lock();
    if (g) {
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        co_await dally::yield();  // hold it across a suspension
        inside.fetch_sub(1);
    }
    n.count(g.error());
}

Task<void> recv_once(Channel<int>& ch, RaceCounts& n, std::mutex& mu, std::vector<int>& out) {
    n.started.fetch_add(1);
    auto r = co_await ch.recv();
    if (r) {
        std::lock_guard lock(mu);
        out.push_back(*r);
    }
    n.count(r.error());
}

Task<void> send_once(Channel<int>& ch, int v, RaceCounts& n, std::mutex& mu,
                     std::vector<int>& sent) {
    n.started.fetch_add(1);
    auto r = co_await ch.send(v);
    if (r) {
        std::lock_guard lock(mu);
        sent.push_back(v);
    }
    n.count(r.error());
}

Task<void> wait_once(dally::Event& ev, RaceCounts& n) {
    n.started.fetch_add(1);
    n.count((co_await ev.wait()).error());
}

TEST(CancelRace, SemaphorePermitsReleasedWhileWaitersAreCancelledAreNeverLost) {
    RuntimeThread a;
    RuntimeThread b;
    for (int round = 0; round < race_rounds; ++round) {
        dally::Semaphore sem(0);
        RaceCounts n;
        auto hs = spawn_racers(a, b, n, [&](int) { return acquire_once(sem, n); });
        race([&] { sem.release(2); }, [&] { cancel_all(hs); });
        ASSERT_TRUE(eventually([&] { return n.done.load() == racers; })) << "round " << round;
        // Every permit is either held by a waiter that got it or still in the semaphore.
        ASSERT_EQ(n.got.load() + static_cast<int>(sem.available()), 2) << "round " << round;
        ASSERT_EQ(n.got.load() + n.cancelled.load(), racers);
    }
}

TEST(CancelRace, MutexUnlockedWhileWaitersAreCancelledEndsFreeAndNeverDoublyHeld) {
    RuntimeThread a;
    RuntimeThread b;
    for (int round = 0; round < race_rounds; ++round) {
        dally::Mutex m;
        ASSERT_TRUE(m.try_lock());
        RaceCounts n;
        std::atomic<int> inside{0};
        std::atomic<int> overlaps{0};
        auto hs = spawn_racers(a, b, n, [&](int) { return lock_once(m, n, inside, overlaps); });
        race([&] { m.unlock(); }, [&] { cancel_all(hs); });
        ASSERT_TRUE(eventually([&] { return n.done.load() == racers; })) << "round " << round;
        ASSERT_TRUE(eventually([&] { return m.try_lock(); }))
            << "the lock was lost, round " << round;
        m.unlock();
        ASSERT_EQ(overlaps.load(), 0);
        ASSERT_EQ(n.got.load() + n.cancelled.load(), racers);
    }
}

TEST(CancelRace, ChannelItemsSentWhileReceiversAreCancelledArriveExactlyOnce) {
    RuntimeThread a;
    RuntimeThread b;
    for (int round = 0; round < race_rounds; ++round) {
        Channel<int> ch(2);
        RaceCounts n;
        std::mutex mu;
        std::vector<int> received;
        std::vector<int> accepted;
        auto hs = spawn_racers(a, b, n, [&](int) { return recv_once(ch, n, mu, received); });
        race(
            [&] {
                for (int v = 0; v < 6; ++v) {
                    if (ch.try_send(v)) accepted.push_back(v);
                }
            },
            [&] { cancel_all(hs); });
        ASSERT_TRUE(eventually([&] { return n.done.load() == racers; })) << "round " << round;
        while (auto r = ch.try_recv()) received.push_back(*r);
        std::sort(received.begin(), received.end());
        ASSERT_EQ(received, accepted) << "round " << round;
        ASSERT_EQ(n.got.load() + n.cancelled.load(), racers);
    }
}

TEST(CancelRace, ChannelSendersCancelledWhileTheReceiverDrainsDeliverExactlyTheSuccessfulSends) {
    RuntimeThread a;
    RuntimeThread b;
    for (int round = 0; round < race_rounds; ++round) {
        Channel<int> ch(1);
        ASSERT_TRUE(ch.try_send(-1).ok());
        RaceCounts n;
        std::mutex mu;
        std::vector<int> sent{-1};
        std::vector<int> received;
        auto hs = spawn_racers(a, b, n, [&](int i) { return send_once(ch, i, n, mu, sent); });
        race(
            [&] {
                for (int k = 0; k < 3; ++k) {
                    if (auto r = ch.try_recv()) received.push_back(*r);
                }
            },
            [&] { cancel_all(hs); });
        ASSERT_TRUE(eventually([&] { return n.done.load() == racers; })) << "round " << round;
        while (auto r = ch.try_recv()) received.push_back(*r);
        std::sort(received.begin(), received.end());
        std::sort(sent.begin(), sent.end());
        ASSERT_EQ(received, sent) << "round " << round;
        ASSERT_EQ(n.got.load() + n.cancelled.load(), racers);
    }
}

TEST(CancelRace, EventSetWhileWaitersAreCancelledEndsEveryWaitOneWayOrTheOther) {
    RuntimeThread a;
    RuntimeThread b;
    for (int round = 0; round < race_rounds; ++round) {
        dally::Event ev;
        RaceCounts n;
        auto hs = spawn_racers(a, b, n, [&](int) { return wait_once(ev, n); });
        race([&] { ev.set(); }, [&] { cancel_all(hs); });
        ASSERT_TRUE(eventually([&] { return n.done.load() == racers; })) << "round " << round;
        ASSERT_EQ(n.got.load() + n.cancelled.load(), racers);
    }
}

// ---------------------------------------------------------------- runtime shutdown

struct Counted {
    std::atomic<int>* destroyed;
    ~Counted() { destroyed->fetch_add(1); }
};

// Tasks that park on one primitive each and must never resume.
struct Parked {
    dally::Event& ev;
    dally::Mutex& m;
    dally::Semaphore& sem;
    Channel<std::string>& full;
    Channel<std::string>& empty;
    dally::Scope& scope;
    std::atomic<int>& started;
    std::atomic<int>& destroyed;

    Task<void> wait(int which) {
        Counted c{&destroyed};
        std::vector<char> heap(64);  // ASan reports it if the frame is not destroyed
        started.fetch_add(1);
        switch (which) {
            case 0:
                (void)co_await ev.wait();
                break;
            case 1:
                (void)co_await m.lock();
                break;
            case 2:
                (void)co_await sem.acquire();
                break;
            case 3:
                (void)co_await full.send(std::string(100, 'x'));
                break;
            case 4:
                (void)co_await empty.recv();
                break;
            default:
                (void)co_await scope.join();
                break;
        }
        ADD_FAILURE() << "a parked task resumed during shutdown";
    }
};

TEST(SyncShutdown, TasksParkedOnEveryPrimitiveAreDestroyedAndThePrimitivesStillWork) {
    dally::Event ev;
    dally::Mutex m;
    ASSERT_TRUE(m.try_lock());
    dally::Semaphore sem(0);
    Channel<std::string> full(1);
    ASSERT_TRUE(full.try_send(std::string("queued")).ok());
    Channel<std::string> empty(1);
    RuntimeThread child_rt;
    dally::Event gate;
    dally::Scope scope;
    scope.spawn(*child_rt, [](dally::Event& g) -> Task<void> { (void)co_await g.wait(); }(gate));

    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    Parked p{ev, m, sem, full, empty, scope, started, destroyed};
    {
        RuntimeThread rt;
        for (int i = 0; i < 6; ++i) (void)rt->spawn(p.wait(i));
        ASSERT_TRUE(eventually([&] { return started.load() == 6; }));
        std::this_thread::sleep_for(10ms);
    }  // shutdown: destroys the six frames
    EXPECT_EQ(destroyed.load(), 6);
    // No waiter is left linked: each of these would otherwise touch a freed frame.
    ev.set();
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    sem.release();
    EXPECT_EQ(sem.available(), 1u);
    EXPECT_EQ(full.try_recv().value(), "queued");
    EXPECT_TRUE(full.try_send(std::string("again")).ok());
    EXPECT_TRUE(empty.try_send(std::string("item")).ok());
    EXPECT_EQ(empty.try_recv().value(), "item");
    gate.set();
    EXPECT_TRUE(eventually([&] { return scope.active() == 0; }));
}

TEST(SyncShutdown, ALockOrPermitHandedToATaskThatNeverResumesIsGivenBack) {
    dally::Mutex m;
    dally::Semaphore sem(0);
    dally::Event never;
    std::atomic<int> parked{0};
    {
        RuntimeThread rt;
        // Shutdown destroys the most recently started task first: the holder (the third), whose
        // Guard and release-on-destroy then hand the lock and a permit to the two waiters, which
        // are destroyed next without ever resuming.
        rt->submit([&] {
              (void)dally::spawn([](dally::Mutex& m, std::atomic<int>& parked) -> Task<void> {
                  co_await dally::yield();  // after the holder has the lock
                  parked.fetch_add(1);
                  (void)co_await m.lock();
                  ADD_FAILURE() << "resumed during shutdown";
              }(m, parked));
              (void)dally::spawn([](dally::Semaphore& sem, std::atomic<int>& parked) -> Task<void> {
                  parked.fetch_add(1);
                  (void)co_await sem.acquire();
                  ADD_FAILURE() << "resumed during shutdown";
              }(sem, parked));
              (void)dally::spawn([](dally::Mutex& m, dally::Semaphore& sem, dally::Event& never,
                                    std::atomic<int>& parked) -> Task<void> {
                  struct ReleaseOnDestroy {
                      dally::Semaphore* sem;
                      ~ReleaseOnDestroy() { sem->release(); }
                  } permit{&sem};
                  auto guard = co_await m.lock();
                  EXPECT_TRUE(guard.ok());
                  parked.fetch_add(1);
                  (void)co_await never.wait();
              }(m, sem, never, parked));
          }).get();
        ASSERT_TRUE(eventually([&] { return parked.load() == 3; }));
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(m.try_lock()) << "the lock handed to a destroyed waiter was lost";
    EXPECT_EQ(sem.available(), 1u) << "the permit handed to a destroyed waiter was lost";
}

TEST(SyncShutdown, ReleasesFromAnotherThreadRacingShutdownLoseNoPermit) {
    const int rounds = 100 / slowdown;
    for (int round = 0; round < rounds; ++round) {
        dally::Semaphore sem(0);
        std::atomic<int> started{0};
        std::atomic<int> got{0};
        auto rt = std::make_unique<RuntimeThread>();
        for (int i = 0; i < racers; ++i) {
            (void)(*rt)->spawn([](dally::Semaphore& sem, std::atomic<int>& started,
                                  std::atomic<int>& got) -> Task<void> {
                started.fetch_add(1);
                if (co_await sem.acquire()) got.fetch_add(1);  // kept: never released
            }(sem, started, got));
        }
        ASSERT_TRUE(eventually([&] { return started.load() == racers; }));
        race([&] { sem.release(2); }, [&] { rt.reset(); });
        // A permit went to a task that resumed, or came back to the semaphore.
        ASSERT_EQ(got.load() + static_cast<int>(sem.available()), 2) << "round " << round;
    }
}

}  // namespace
