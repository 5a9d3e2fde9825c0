#include <dally/runtime.hpp>
#include <dally/signal.hpp>
#include <dally/time.hpp>
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "test_support.hpp"

using namespace std::chrono_literals;
using dally::Task;

TEST(Signal, WaitSignalReturnsASignalSentToTheProcess) {
    dally::Runtime rt;
    int sig = rt.block_on([]() -> Task<int> {
        auto waiter = dally::spawn(dally::wait_signal({SIGUSR1, SIGUSR2}));
        (void)co_await dally::sleep_for(10ms);  // the waiter is armed now
        kill(getpid(), SIGUSR2);
        auto r = co_await waiter;
        co_return r.value();
    }());
    EXPECT_EQ(sig, SIGUSR2);
}

TEST(Signal, ASignalDeliveredToAThreadThatDoesNotBlockItIsForwardedToTheWaiter) {
    // A plain thread with the default mask: a thread-directed signal runs the forwarding
    // handler there, which must neither kill the process nor lose the signal.
    std::atomic<bool> quit{false};
    std::thread bystander([&] {
        while (!quit.load()) std::this_thread::sleep_for(1ms);
    });
    dally::Runtime rt;
    int sig = rt.block_on([&]() -> Task<int> {
        auto waiter = dally::spawn(dally::wait_signal({SIGUSR1}));
        (void)co_await dally::sleep_for(10ms);
        pthread_kill(bystander.native_handle(), SIGUSR1);
        auto r = co_await waiter;
        co_return r.value();
    }());
    quit = true;
    bystander.join();
    EXPECT_EQ(sig, SIGUSR1);
}

TEST(Signal, EachDeliveryCompletesOneWait) {
    dally::Runtime rt;
    int count = rt.block_on([]() -> Task<int> {
        int got = 0;
        for (int i = 0; i < 3; ++i) {
            auto waiter = dally::spawn(dally::wait_signal({SIGUSR1}));
            (void)co_await dally::sleep_for(5ms);
            kill(getpid(), SIGUSR1);
            if ((co_await waiter).value() == SIGUSR1) ++got;
        }
        co_return got;
    }());
    EXPECT_EQ(count, 3);
}

TEST(Signal, CancellingAWaitReturnsOperationCanceled) {
    dally::Runtime rt;
    auto r = rt.block_on([]() -> Task<dally::Result<int>> {
        auto waiter = dally::spawn(dally::wait_signal({SIGUSR2}));
        (void)co_await dally::sleep_for(10ms);
        waiter.cancel();
        co_return co_await waiter;
    }());
    EXPECT_TRUE(r.cancelled()) << r.error().message();
}

TEST(Signal, WaitingForSigkillIsAnInvalidArgument) {
    dally::Runtime rt;
    auto r = rt.block_on(dally::wait_signal({SIGKILL}));
    EXPECT_EQ(r.error(), std::errc::invalid_argument);
}

TEST(Signal, ABracedListOfSignalsCanBeAwaitedDirectly) {
    // co_await wait_signal({...}) inside a coroutine: the braced list must survive the
    // suspension (GCC 12 cannot do that with std::initializer_list; SignalSet can).
    dally::Runtime rt;
    int sig = rt.block_on([]() -> Task<int> {
        auto sender = dally::spawn([]() -> Task<void> {
            (void)co_await dally::sleep_for(10ms);
            kill(getpid(), SIGUSR1);
        }());
        auto r = co_await dally::wait_signal({SIGUSR1, SIGUSR2});
        co_await sender;
        co_return r.value();
    }());
    EXPECT_EQ(sig, SIGUSR1);
}

TEST(Signal, AnEmptyOrOutOfRangeSetIsAnInvalidArgument) {
    dally::Runtime rt;
    EXPECT_EQ(rt.block_on(dally::wait_signal({})).error(), std::errc::invalid_argument);
    EXPECT_EQ(rt.block_on(dally::wait_signal({0})).error(), std::errc::invalid_argument);
    EXPECT_EQ(rt.block_on(dally::wait_signal({65})).error(), std::errc::invalid_argument);
}
