// dally/executor.hpp: N runtimes on N threads, with Tardy's threading modes.
//
// The executor runs an entry coroutine on every runtime (the accept-loop-per-runtime
// pattern: each runtime binds its own SO_REUSEPORT listener).
//
//     dally::Executor ex({.threading = dally::Threading::multi(4)});
//     ex.run([](dally::Runtime& rt) -> dally::Task<void> { co_await serve(rt); });
//
// run() blocks, hosting runtime 0 on the calling thread, and returns when every task has
// finished or stop() is called. start() runs all runtimes on new threads until stop().
// stop() is safe from any thread and from tasks; join() then waits for the threads, cancels
// what is still in flight and destroys the remaining tasks (their destructors run).
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "dally/runtime.hpp"
#include "dally/task.hpp"

namespace dally {

// How many runtimes (threads) an Executor starts.
class Threading {
public:
    // One runtime.
    static Threading single() noexcept { return Threading(1); }
    // Exactly n runtimes (n >= 1).
    static Threading multi(unsigned n) noexcept { return Threading(n == 0 ? 1 : n); }
    // Half the cores (at least one), leaving the rest to the kernel's network work and to
    // blocking pools; the right default for servers on small machines.
    static Threading automatic() noexcept;
    // One runtime per core.
    static Threading all() noexcept;
    // The command-line form every dally program takes: "single", "auto", "all", or a count
    // from 1 to 1024. Nothing for anything else.
    static std::optional<Threading> parse(std::string_view text) noexcept;
    unsigned count() const noexcept { return m_count; }

private:
    explicit Threading(unsigned n) noexcept : m_count(n) {}
    unsigned m_count;
};

struct ExecutorOptions {
    // Number of runtimes.
    Threading threading = Threading::single();
    // Options for every runtime's ring.
    RuntimeOptions runtime{};
};

class Executor {
public:
    // Called once per runtime, on that runtime's thread, to make its entry task.
    using Entry = std::function<Task<void>(Runtime&)>;

    explicit Executor(ExecutorOptions options = {});
    // Stops and joins.
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    // Blocks; returns when all tasks (entries and what they spawned) finished, or stop().
    // Rethrows a setup failure (e.g. no io_uring). The executor can be run again after.
    void run(Entry entry);
    // Starts every runtime on its own thread and returns once they all run.
    void start(Entry entry);
    // Any thread, any time; idempotent.
    void stop() noexcept;
    // Waits for the threads after stop(); cancels in-flight I/O and destroys leftover tasks.
    void join();

    std::size_t size() const noexcept { return m_options.threading.count(); }
    // The i-th runtime; valid between start()/run() and join().
    Runtime& runtime(std::size_t i) { return *m_runtimes.at(i); }

private:
    struct Shared;
    void launch(Entry entry, bool blocking);
    static void on_idle(void* self) noexcept;

    ExecutorOptions m_options;
    std::vector<std::unique_ptr<Runtime>> m_runtimes;
    std::vector<std::thread> m_threads;
    std::shared_ptr<Shared> m_shared;
    std::mutex m_mutex;
    std::atomic<std::size_t> m_live{0};
    bool m_started = false;
};

}  // namespace dally
