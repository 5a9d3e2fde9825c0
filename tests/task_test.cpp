// Tests for dally/task.hpp: Task<T> laziness, results, exceptions, ownership, and the
// symmetric transfer that keeps deep await chains in constant stack.
#include <dally/task.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace {

using dally::Task;

// Counts its destruction once, however often it is moved (moved-from copies do not count).
struct Tracker {
    int* destroyed;
    explicit Tracker(int* d) noexcept : destroyed(d) {}
    Tracker(Tracker&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
    Tracker& operator=(Tracker&&) = delete;
    ~Tracker() {
        if (destroyed != nullptr) ++*destroyed;
    }
};

Task<int> answer() { co_return 42; }

Task<void> set_flag(bool& ran) {
    ran = true;
    co_return;
}

Task<int> add_one(Task<int> inner) { co_return 1 + co_await std::move(inner); }

Task<int> throws_runtime_error() {
    throw std::runtime_error("boom from the inner task");
    co_return 0;
}

Task<std::string> catch_at_await() {
    try {
        (void)co_await throws_runtime_error();
        co_return "no exception";
    } catch (const std::runtime_error& e) {
        co_return std::string("caught: ") + e.what();
    }
}

Task<int> chain(int n) {
    if (n == 0) co_return 0;
    co_return 1 + co_await chain(n - 1);
}

Task<void> keeps(Tracker t, bool& ran) {
    ran = true;
    (void)t;
    co_return;
}

TEST(Task, DoesNotRunUntilAwaited) {
    bool ran = false;
    Task<void> t = set_flag(ran);
    EXPECT_TRUE(t.valid());
    EXPECT_FALSE(ran);
    dally::Runtime rt;
    rt.block_on([](Task<void> t, bool& ran) -> Task<void> {
        EXPECT_FALSE(ran);  // still not started inside the runtime
        co_await std::move(t);
        EXPECT_TRUE(ran);
    }(std::move(t), ran));
    EXPECT_TRUE(ran);
}

TEST(Task, DoesNotRunUntilSpawned) {
    bool ran = false;
    dally::Runtime rt;
    rt.block_on([](bool& ran) -> Task<void> {
        Task<void> t = set_flag(ran);
        co_await dally::yield();
        EXPECT_FALSE(ran);
        auto h = dally::spawn(std::move(t));
        co_await h;
        EXPECT_TRUE(ran);
    }(ran));
    EXPECT_TRUE(ran);
}

TEST(Task, CoAwaitYieldsTheReturnedValue) {
    dally::Runtime rt;
    EXPECT_EQ(rt.block_on(add_one(answer())), 43);
}

TEST(Task, AwaitingAnLvalueTaskYieldsItsValue) {
    dally::Runtime rt;
    int v = rt.block_on([]() -> Task<int> {
        Task<int> t = answer();
        co_return co_await t;
    }());
    EXPECT_EQ(v, 42);
}

TEST(Task, ExceptionIsRethrownAtTheAwait) {
    dally::Runtime rt;
    EXPECT_EQ(rt.block_on(catch_at_await()), "caught: boom from the inner task");
}

TEST(Task, ExceptionPropagatesThroughBlockOn) {
    dally::Runtime rt;
    try {
        (void)rt.block_on(add_one(throws_runtime_error()));
        FAIL() << "block_on did not rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom from the inner task");
    }
}

TEST(Task, IsMoveOnly) {
    static_assert(!std::is_copy_constructible_v<Task<int>>);
    static_assert(!std::is_copy_assignable_v<Task<int>>);
    static_assert(std::is_nothrow_move_constructible_v<Task<int>>);
    static_assert(std::is_nothrow_move_assignable_v<Task<int>>);

    Task<int> a = answer();
    Task<int> b = std::move(a);
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(b.valid());
    Task<int> c;
    EXPECT_FALSE(c.valid());
    c = std::move(b);
    EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
    EXPECT_TRUE(c.valid());
    dally::Runtime rt;
    EXPECT_EQ(rt.block_on(std::move(c)), 42);
}

TEST(Task, MoveAssignmentDestroysTheTaskItReplaces) {
    int destroyed = 0;
    bool ran = false;
    Task<void> t = keeps(Tracker(&destroyed), ran);
    EXPECT_EQ(destroyed, 0);
    bool other_ran = false;
    t = set_flag(other_ran);
    EXPECT_EQ(destroyed, 1);
    EXPECT_FALSE(ran);
    EXPECT_FALSE(other_ran);
}

TEST(Task, AwaitsAChainOfOneMillionTasksWithoutOverflowingTheStack) {
    // Each level awaits the next; without symmetric transfer this nests 1,000,000 resume()
    // calls on the thread's stack (8 MiB) and crashes.
    constexpr int depth = 1'000'000;
    dally::Runtime rt;
    EXPECT_EQ(rt.block_on(chain(depth)), depth);
}

TEST(Task, VoidTaskRunsToCompletion) {
    int steps = 0;
    dally::Runtime rt;
    rt.block_on([](int& steps) -> Task<void> {
        ++steps;
        co_await [](int& steps) -> Task<void> {
            ++steps;
            co_return;
        }(steps);
        ++steps;
    }(steps));
    EXPECT_EQ(steps, 3);
}

TEST(Task, ReturnsAMoveOnlyValue) {
    dally::Runtime rt;
    std::unique_ptr<int> p = rt.block_on([]() -> Task<std::unique_ptr<int>> {
        auto inner = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(5); };
        std::unique_ptr<int> v = co_await inner();
        *v += 1;
        co_return v;
    }());
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 6);
}

TEST(Task, DroppingAnUnstartedTaskDestroysItsFrameWithoutRunningIt) {
    int destroyed = 0;
    bool ran = false;
    {
        Task<void> t = keeps(Tracker(&destroyed), ran);
        EXPECT_EQ(destroyed, 0);  // the parameter lives in the suspended frame
    }
    EXPECT_EQ(destroyed, 1);
    EXPECT_FALSE(ran);
}

TEST(Task, FinishedTaskFrameIsDestroyed) {
    int destroyed = 0;
    bool ran = false;
    dally::Runtime rt;
    rt.block_on(keeps(Tracker(&destroyed), ran));
    EXPECT_TRUE(ran);
    EXPECT_EQ(destroyed, 1);
}

TEST(Task, ManySequentialAwaitsInOneTaskRunInOrder) {
    dally::Runtime rt;
    std::vector<int> order = rt.block_on([]() -> Task<std::vector<int>> {
        std::vector<int> out;
        for (int i = 0; i < 10'000; ++i) {
            out.push_back(co_await [](int v) -> Task<int> { co_return v; }(i));
        }
        co_return out;
    }());
    ASSERT_EQ(order.size(), 10'000U);
    for (int i = 0; i < 10'000; ++i) ASSERT_EQ(order[static_cast<std::size_t>(i)], i);
}

}  // namespace
