// Tests for dally/when.hpp: when_all and when_any, variadic and vector forms.
#include <atomic>
#include <chrono>
#include <dally/runtime.hpp>
#include <dally/sync.hpp>
#include <dally/time.hpp>
#include <dally/when.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Runtime;
using dally::Task;
using dally_test::ms_since;

template <class T>
Task<T> value_after(std::chrono::milliseconds d, T v) {
    (void)co_await dally::sleep_for(d);
    co_return v;
}

Task<void> nothing_after(std::chrono::milliseconds d, std::atomic<int>& done) {
    (void)co_await dally::sleep_for(d);
    done.fetch_add(1);
}

// Sleeps an hour; reports whether that was cut short by cancellation.
Task<bool> sleep_an_hour(std::atomic<int>& cancelled) {
    auto r = co_await dally::sleep_for(1h);
    if (r.cancelled()) cancelled.fetch_add(1);
    co_return r.cancelled();
}

Task<int> throw_after(std::chrono::milliseconds d) {
    (void)co_await dally::sleep_for(d);
    throw std::runtime_error("child failed");
}

// The first child can only finish once the second has run: they run concurrently.
Task<int> wait_then(dally::Event& ev, int v) {
    EXPECT_TRUE(co_await ev.wait());
    co_return v;
}
Task<std::string> set_then(dally::Event& ev, std::string v) {
    (void)co_await dally::sleep_for(1ms);
    ev.set();
    co_return v;
}

TEST(WhenAll, YieldsEveryValueInArgumentOrderRunningChildrenConcurrently) {
    Runtime rt;
    dally::Event ev;
    std::atomic<int> done{0};
    auto [a, b, c] = rt.block_on(
        dally::when_all(wait_then(ev, 1), set_then(ev, "two"), nothing_after(1ms, done)));
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, "two");
    EXPECT_EQ(c, std::monostate{});
    EXPECT_EQ(done.load(), 1);
}

TEST(WhenAll, VectorFormKeepsVectorOrder) {
    Runtime rt;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 10; ++i) tasks.push_back(value_after(std::chrono::milliseconds(10 - i), i));
    auto v = rt.block_on(dally::when_all(std::move(tasks)));
    ASSERT_EQ(v.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(v[i], i);
}

TEST(WhenAll, AFailingChildCancelsTheOthersAndItsExceptionIsRethrown) {
    Runtime rt;
    std::atomic<int> cancelled{0};
    const auto t0 = dally::Clock::now();
    EXPECT_THROW((void)rt.block_on(dally::when_all(throw_after(5ms), sleep_an_hour(cancelled))),
                 std::runtime_error);
    EXPECT_EQ(cancelled.load(), 1);
    EXPECT_LT(ms_since(t0), 2000);
}

TEST(WhenAny, YieldsTheFirstToFinishAndCancelsAndAwaitsTheLosers) {
    Runtime rt;
    std::atomic<int> cancelled{0};
    const auto t0 = dally::Clock::now();
    auto r = rt.block_on(
        dally::when_any(sleep_an_hour(cancelled), value_after(5ms, 42), sleep_an_hour(cancelled)));
    EXPECT_EQ(r.index, 1u);
    EXPECT_EQ(std::get<1>(r.value), 42);
    EXPECT_EQ(cancelled.load(), 2);  // both losers finished before when_any returned
    EXPECT_LT(ms_since(t0), 2000);
}

TEST(WhenAny, VectorFormYieldsIndexAndValue) {
    Runtime rt;
    std::atomic<int> done{0};
    std::vector<Task<std::string>> tasks;
    tasks.push_back(value_after(200ms, std::string("slow")));
    tasks.push_back(value_after(1ms, std::string("fast")));
    auto r = rt.block_on(dally::when_any(std::move(tasks)));
    EXPECT_EQ(r.index, 1u);
    EXPECT_EQ(r.value, "fast");
    (void)done;
}

TEST(WhenAny, RethrowsWhenTheFirstToFinishThrew) {
    Runtime rt;
    std::atomic<int> cancelled{0};
    EXPECT_THROW((void)rt.block_on(dally::when_any(throw_after(1ms), sleep_an_hour(cancelled))),
                 std::runtime_error);
    EXPECT_EQ(cancelled.load(), 1);
}

TEST(WhenAny, EmptyVectorIsRejected) {
    Runtime rt;
    EXPECT_THROW((void)rt.block_on(dally::when_any(std::vector<Task<int>>{})),
                 std::invalid_argument);
}

}  // namespace
