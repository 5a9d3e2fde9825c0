// cross_thread: a plain thread (not a runtime) hands work to runtimes and waits for it.
//
// Shows: Runtime::post (fire and forget) and Runtime::submit (std::future) from a foreign
// thread, submit of a coroutine, and co_await resume_on(rt) to hop between runtimes.
//
//     cross_thread
#include <dally/dally.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

int main() {
    dally::Executor ex({.threading = dally::Threading::multi(2)});
    // start() runs the runtimes until stop(); the entry tasks here just return.
    ex.start([](dally::Runtime&) -> dally::Task<void> { co_return; });
    dally::Runtime& a = ex.runtime(0);
    dally::Runtime& b = ex.runtime(1);

    std::thread game_loop([&] {
        // Fire and forget: 1000 posts, in order, on runtime a.
        std::atomic<int> seen{0};
        for (int i = 0; i < 1000; ++i) a.post([&seen] { seen.fetch_add(1); });

        // Wait for a plain function's result.
        int sum = a.submit([] { return 20 + 22; }).get();

        // Wait for a coroutine's result: it sleeps on a, hops to b, and reports where it ran.
        auto where = b.submit([&a, &b]() -> dally::Task<int> {
            co_await dally::resume_on(a);
            co_await dally::sleep_for(10ms);
            bool on_a = dally::Runtime::current() == &a;
            co_await dally::resume_on(b);
            co_return (on_a ? 1 : 0) + (dally::Runtime::current() == &b ? 2 : 0);
        }).get();

        // The posts ran before the submit that followed them on the same runtime.
        std::printf("posts seen: %d\nsubmit result: %d\nhops ok: %s\n", seen.load(), sum,
                    where == 3 ? "yes" : "no");
    });
    game_loop.join();
    ex.stop();
    ex.join();
    return 0;
}
